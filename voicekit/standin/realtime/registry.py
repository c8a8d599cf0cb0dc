"""The client event registry: event type -> (SDK model, handler), as speaches registers them.

Handler modules (:mod:`.handlers`) register with :func:`handles` and are
written against :class:`Connection`, a Protocol of what a handler may use on
a connection. :mod:`.connection` dispatches through the registry it is given
and imports no handler module, so the import arrows point one way:
``handlers -> registry <- connection``.

Every client event is checked against its SDK model from
``openai.types.realtime`` (for example ``SessionUpdateEvent``) before its
handler runs; see the OpenAI API reference, "Realtime client events".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..transport.wire import Registry
from .conversation import Conversation, Item
from .events import RealtimeProtocolError
from .response import ResponseRun

__all__ = ["HANDLERS", "Connection", "Handler", "handles", "validate"]


class Connection(Protocol):
    """What a handler may read and call on one Realtime connection.

    ``session`` is the session object (``type`` ``"realtime"`` or
    ``"transcription"``); audio is int16 ``(n,)`` PCM16 at 24 kHz.
    """

    session: dict[str, Any]
    conversation: Conversation
    active: ResponseRun | None
    voice_locked: bool
    webrtc: Any
    """The WebRTC call playing the audio (its ``clear()`` empties the output buffer), or None."""

    def emit(self, event: dict[str, Any]) -> None: ...

    def spawn(self, work: Awaitable[Any]) -> Any: ...

    def update_session(self, patch: dict[str, Any]) -> None: ...

    async def append_audio(self, pcm: npt.NDArray[np.int16]) -> None: ...

    def commit_all(self) -> Item: ...

    def clear_buffer(self) -> None: ...

    async def turn_judged(self) -> None: ...

    def transcribe_later(self, item: Item) -> None: ...

    def responding(self) -> bool: ...

    def start_response(self, overrides: dict[str, Any]) -> ResponseRun: ...


Handler = Callable[[Connection, dict[str, Any]], Awaitable[None]]

HANDLERS = Registry()
"""Client event type -> (SDK model, handler)."""

handles = HANDLERS.handles


def validate(model: type[Any], raw: dict[str, Any]) -> None:
    """Check a client event against its SDK model; the first problem becomes the error's ``param``.

    Raises
    ------
    RealtimeProtocolError
        ``invalid_value``, naming the first field that does not fit.
    """
    import pydantic

    try:
        model.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise RealtimeProtocolError(
            f"Invalid '{raw.get('type')}' event: {loc or 'event'}: {first['msg']}", code="invalid_value", param=loc or None
        ) from None
