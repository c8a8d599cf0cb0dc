"""What every session's client events share on the wire: one JSON object per message, the
handler registry and base64 PCM16.

Every API (Realtime, Realtime translation, GPT-Live) sends one JSON object per WebSocket
message or data-channel message, and registers one handler per client event type, each
checked against its SDK model first (speaches registers its Realtime handlers the same
way); all carry input audio as base64 PCM16 little-endian. Each API raises the errors here
as its own error class, which it turns into its own ``error`` event.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["PcmError", "Registry", "client_event_object", "decode_pcm16", "event_id_of"]

H = TypeVar("H", bound=Callable[..., Any])


class Registry(dict[str, tuple[type[Any] | None, Any]]):
    """Client event type -> (SDK model it is checked against, or None; handler)."""

    def handles(self, event_type: str, model: type[Any] | None) -> Callable[[H], H]:
        """Register the decorated coroutine as the handler of ``event_type``, checked against ``model``."""

        def register(handler: H) -> H:
            self[event_type] = (model, handler)
            return handler

        return register

    def entry(self, kind: object, error: Callable[..., Exception]) -> tuple[type[Any] | None, Any]:
        """The (SDK model, handler) of client event type ``kind``.

        Raises
        ------
        Exception
            ``error(message, code="invalid_value", param="type")`` naming the supported
            types, for a type with no handler.
        """
        if not isinstance(kind, str) or kind not in self:
            raise error(f"Invalid value: {kind!r}. Supported values are: {', '.join(sorted(self))}.",
                        code="invalid_value", param="type")
        return self[kind]


def client_event_object(text: str, error: Callable[..., Exception]) -> dict[str, Any]:
    """The JSON object of one client event message.

    Raises
    ------
    Exception
        ``error(message, code="invalid_json")``, for text that is not JSON or not an object.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise error(f"expected one JSON object per message: {exc.msg} at character {exc.pos}",
                    code="invalid_json") from None
    if not isinstance(raw, dict):
        raise error(f"expected a JSON object, got {type(raw).__name__}", code="invalid_json")
    return raw


def event_id_of(raw: dict[str, Any]) -> str | None:
    """The client's ``event_id``, which the error event of a refused event names; None if absent."""
    event_id = raw.get("event_id")
    return event_id if isinstance(event_id, str) else None


class PcmError(ValueError):
    """Audio that is not base64 PCM16; the message names the field (each API wraps it in its error event)."""


def decode_pcm16(data: str, param: str) -> npt.NDArray[np.int16]:
    """Base64 PCM16 little-endian, mono, no header, as int16 ``(n,)`` (the rate is the session's).

    Raises
    ------
    PcmError
        If ``data`` is not valid base64 or holds an odd number of bytes.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PcmError(f"expected base64-encoded PCM16 audio in '{param}': {exc}") from None
    if len(raw) % 2:
        raise PcmError(f"expected PCM16 audio (2 bytes per sample) in '{param}', got {len(raw)} bytes")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)
