"""Ids and errors of the Realtime protocol.

Error events have the shape of the SDK's ``openai.types.realtime.RealtimeErrorEvent``:
``{"type": "error", "event_id", "error": {"type", "code", "message", "param",
"event_id"}}``, where ``error.event_id`` is the id of the client event that
failed (OpenAI API reference, "Realtime server events: error"). The socket
stays open after an error.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

__all__ = ["RealtimeProtocolError", "error_event", "new_id"]

_counter = itertools.count()


def new_id(prefix: str) -> str:
    """A unique id such as ``item_0003a1f9c2b84d7e``: a process-wide counter plus random bits.

    ``prefix`` is OpenAI's: ``event``, ``item``, ``resp``, ``call``.
    """
    return f"{prefix}_{next(_counter):04x}{secrets.token_hex(6)}"


class RealtimeProtocolError(Exception):
    """A client event the stand-in refuses, answered with an ``error`` event.

    ``type`` is ``invalid_request_error`` unless given; ``code`` and ``param``
    follow OpenAI's (for example ``input_audio_buffer_commit_empty``).
    """

    def __init__(
        self, message: str, *, code: str | None = None, param: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type


def error_event(err: RealtimeProtocolError, client_event_id: str | None) -> dict[str, Any]:
    """The ``error`` server event for ``err`` (without its own ``event_id``, added when sent)."""
    return {
        "type": "error",
        "error": {
            "type": err.type,
            "code": err.code,
            "message": err.message,
            "param": err.param,
            "event_id": client_event_id,
        },
    }
