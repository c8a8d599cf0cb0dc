"""Errors and ids of the Live protocol.

An ``error`` server event has the shape of the SDK's
``openai.types.live.ErrorEvent``: ``{"type": "error", "event_id",
"client_event_id", "error": {"type", "code", "message", "param",
"client_event_id"}}``, where ``client_event_id`` is the ``event_id`` the
client gave the command that failed (``openai.types.live.Error``). The socket
stays open after an error: a bad command never ends the session.
"""

from __future__ import annotations

import typing
from typing import Any

from openai.types.live import ServerEvent

from ..realtime.events import new_id

__all__ = ["WITHOUT_EVENT_ID", "LiveError", "error_event", "new_id", "unsupported"]


def _without_event_id() -> frozenset[str]:
    union = typing.get_args(ServerEvent)[0]
    out: set[str] = set()
    for model in typing.get_args(union):
        if "event_id" not in model.model_fields:
            out.update(typing.get_args(model.model_fields["type"].annotation))
    return frozenset(out)


WITHOUT_EVENT_ID = _without_event_id()
"""Server event types whose SDK model has no ``event_id`` (``session.output_audio.delta``; read from
``openai.types.live.ServerEvent``): they are sent without one."""


class LiveError(Exception):
    """A client command the stand-in refuses, answered with an ``error`` event.

    Parameters
    ----------
    message : str
        What was expected and what came.
    code : str
        Machine-readable code (``openai.types.live.Error.code``), for example
        ``unknown_parameter``, ``immutable_parameter`` or ``unsupported``.
    param : str, optional
        The offending field as a dotted path, such as ``session.audio.output.voice``.
    type : str
        The category; ``invalid_request_error`` unless given.
    """

    def __init__(self, message: str, *, code: str = "invalid_value", param: str | None = None,
                 type: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param
        self.type = type


def unsupported(part: str, detail: str, *, param: str | None = "type") -> LiveError:
    """The error for a part of GPT-Live the offline stand-in does not emulate (named in the message)."""
    return LiveError(f"{part} is not supported by the offline stand-in: {detail}", code="unsupported", param=param)


def error_event(err: LiveError, client_event_id: str | None) -> dict[str, Any]:
    """The ``error`` server event for ``err`` (its ``event_id`` is added when it is sent)."""
    inner: dict[str, Any] = {"type": err.type, "code": err.code, "message": err.message}
    if err.param is not None:
        inner["param"] = err.param
    event: dict[str, Any] = {"type": "error", "error": inner}
    if client_event_id is not None:
        inner["client_event_id"] = client_event_id
        event["client_event_id"] = client_event_id
    return event
