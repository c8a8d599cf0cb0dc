"""The WebRTC calls a stand-in is serving, by id, and the cap on how many.

Each call holds a peer (UDP sockets, an Opus encoder and decoder, a thread of
aiortc's codec work) and a session with its engines' share, so a stand-in
serves at most :data:`MAX_CALLS` at once (``VOICEKIT_WEBRTC_MAX_CALLS``); the
next one is refused with a 429 in OpenAI's shape (``rate_limit_exceeded``),
before any peer is built.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

from ..errors import OpenAIError

__all__ = ["MAX_CALLS", "Call", "CallRegistry"]

MAX_CALLS = int(os.environ.get("VOICEKIT_WEBRTC_MAX_CALLS", "16"))


class Call(Protocol):
    """What the registry needs of a Realtime or Live call."""

    id: str
    kind: str

    async def end(self, reason: str = ...) -> None: ...


class CallRegistry:
    """The live calls of one server, by id."""

    def __init__(self, max_calls: int = MAX_CALLS) -> None:
        self.max_calls = max_calls
        self._calls: dict[str, Any] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def admit(self) -> None:
        """Check there is room for one more call.

        Raises
        ------
        OpenAIError
            429 ``rate_limit_exceeded`` at :attr:`max_calls` calls.
        """
        if len(self._calls) >= self.max_calls:
            raise OpenAIError(
                429, f"Too many WebRTC calls at once: this stand-in serves at most {self.max_calls} "
                     "(VOICEKIT_WEBRTC_MAX_CALLS). Hang up a call (or close its browser tab) and try again.",
                type="requests", code="rate_limit_exceeded")

    def add(self, call: Any) -> None:
        self._calls[call.id] = call

    def remove(self, call: Any) -> None:
        call_id = call.id
        if self._calls.get(call_id) is call:
            self._calls.pop(call_id)

    def get(self, call_id: str, kind: str) -> Any:
        """The call ``call_id`` of ``kind`` (``realtime`` or ``live``), or None."""
        call = self._calls.get(call_id)
        return call if call is not None and call.kind == kind else None

    async def end_all(self) -> None:
        for call in list(self._calls.values()):
            await call.end("server shutdown")
