"""What every session's client events share on the wire: the handler registry and base64 PCM16.

Both APIs register one handler per client event type, each checked against
its SDK model first (speaches registers its Realtime handlers the same way),
and both carry input audio as base64 PCM16 little-endian.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

__all__ = ["PcmError", "Registry", "decode_pcm16"]

H = TypeVar("H", bound=Callable[..., Any])


class Registry(dict[str, tuple[type[Any] | None, Any]]):
    """Client event type -> (SDK model it is checked against, or None; handler)."""

    def handles(self, event_type: str, model: type[Any] | None) -> Callable[[H], H]:
        """Register the decorated coroutine as the handler of ``event_type``, checked against ``model``."""

        def register(handler: H) -> H:
            self[event_type] = (model, handler)
            return handler

        return register


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
