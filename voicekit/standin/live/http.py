"""The sideband of a Live WebRTC session, and every other ``/v1/live/...`` part, refused by name.

- WebSocket ``/v1/live/sessions/{id}/attach``: the sideband of a WebRTC session
  (``client.live.sideband.connect``; :mod:`.call`). ``POST /v1/live/sessions``
  and ``.../hangup`` are :mod:`voicekit.standin.routes.calls`'.
- Refused: ``POST /v1/live/sessions/{id}/accept``, ``/reject``, ``/refer`` (SIP
  calls), ``/fork`` (forks), ``GET .../content`` (stored recordings), and the
  ``/fork`` WebSocket.

HTTP answers are 400 errors in OpenAI's shape (``openai.BadRequestError`` in
the SDK) with code ``unsupported``; the WebSockets are accepted, answered with
one ``error`` event (``openai.types.live.ErrorEvent``) and closed with code 1008.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from ..errors import OpenAIError, error_response
from ..transport.links import WebSocketLink
from .errors import LiveError, error_event, new_id, unsupported

__all__ = ["routes"]

_PARTS = {
    "accept": "SIP calls (accept)", "reject": "SIP calls (reject)", "refer": "SIP calls (refer)",
    "fork": "Forks", "content": "Stored session content (recordings)",
}


def _refusal(part: str, detail: str) -> JSONResponse:
    return error_response(OpenAIError(400, f"{part} is not supported by the offline stand-in: {detail}",
                                      code="unsupported"))


async def session_part(request: Request) -> JSONResponse:
    """SIP, forks and recordings under ``/v1/live/sessions/{session_id}/...``."""
    part = request.path_params["part"]
    name = _PARTS.get(part)
    if name is None:
        raise OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})", code="unknown_url")
    return _refusal(name, "the stand-in serves only the primary Live WebSocket")


async def _refuse(websocket: WebSocket, err: LiveError) -> None:
    await websocket.accept()
    await websocket.send_text(json.dumps({"event_id": new_id("event"), **error_event(err, None)}))
    await websocket.close(code=1008)


async def sideband(websocket: WebSocket) -> None:
    """``/attach``: join a WebRTC session's events and commands until it, or the socket, ends."""
    session_id = websocket.path_params["session_id"]
    registry = getattr(websocket.app.state, "calls", None)
    call = registry.get(session_id, "live") if registry is not None else None
    if call is None:
        await _refuse(websocket, LiveError(
            f"No WebRTC session found with id '{session_id}': a sideband attaches to a session created with "
            "POST /v1/live/sessions (client.live.create) that is still running", code="session_not_found",
            param="session_id"))
        return
    if call.sideband is not None:
        await _refuse(websocket, LiveError("A sideband is already attached to this session; a session takes one "
                                           "at a time. Close it first.", code="sideband_already_attached"))
        return
    await websocket.accept()
    await call.attach(WebSocketLink(websocket, "sideband"))


async def session_socket(websocket: WebSocket) -> None:
    """The fork WebSocket (and any other part): one ``error`` event, then close."""
    part = websocket.path_params["part"]
    name = {"fork": "Forks"}.get(part, f"/v1/live/sessions/.../{part}")
    err = unsupported(name, "the stand-in serves the Live WebSocket, WebRTC sessions and their sideband",
                      param=None)
    await _refuse(websocket, err)


routes = [
    Route("/v1/live/sessions/{session_id}/{part}", session_part, methods=["GET", "POST"]),
    WebSocketRoute("/v1/live/sessions/{session_id}/attach", sideband),
    WebSocketRoute("/v1/live/sessions/{session_id}/{part}", session_socket),
]
