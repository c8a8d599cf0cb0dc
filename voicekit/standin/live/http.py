"""The HTTP side of ``/v1/live/...``: every part the stand-in does not emulate, refused by name.

- ``POST /v1/live/sessions``: a WebRTC session (``client.live.create``);
- ``POST /v1/live/sessions/{id}/accept``, ``/reject``, ``/refer``, ``/hangup``: SIP calls;
- ``POST /v1/live/sessions/{id}/fork``: forks; ``GET .../content``: stored recordings;
- WebSockets at ``/v1/live/sessions/{id}/attach`` (sideband) and ``/fork``.

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
from .errors import error_event, new_id, unsupported

__all__ = ["routes"]

_PARTS = {
    "accept": "SIP calls (accept)", "reject": "SIP calls (reject)", "refer": "SIP calls (refer)",
    "hangup": "SIP calls (hangup)", "fork": "Forks", "content": "Stored session content (recordings)",
}


def _refusal(part: str, detail: str) -> JSONResponse:
    return error_response(OpenAIError(400, f"{part} is not supported by the offline stand-in: {detail}",
                                      code="unsupported"))


async def webrtc(request: Request) -> JSONResponse:
    """``POST /v1/live/sessions``: WebRTC is refused; the WebSocket at the same path works."""
    return _refusal("WebRTC (POST /v1/live/sessions)", "connect with the WebSocket instead: client.live.connect()")


async def session_part(request: Request) -> JSONResponse:
    """SIP, forks and recordings under ``/v1/live/sessions/{session_id}/...``."""
    part = request.path_params["part"]
    name = _PARTS.get(part)
    if name is None:
        raise OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})", code="unknown_url")
    return _refusal(name, "the stand-in serves only the primary Live WebSocket")


async def session_socket(websocket: WebSocket) -> None:
    """Sideband (``/attach``) and fork WebSockets: one ``error`` event, then close."""
    part = websocket.path_params["part"]
    name = {"attach": "Sideband connections (attach)", "fork": "Forks"}.get(part, f"/v1/live/sessions/.../{part}")
    await websocket.accept()
    err = unsupported(name, "the stand-in serves only the primary Live WebSocket, client.live.connect()", param=None)
    await websocket.send_text(json.dumps({"event_id": new_id("event"), **error_event(err, None)}))
    await websocket.close(code=1008)


routes = [
    Route("/v1/live/sessions", webrtc, methods=["POST"]),
    Route("/v1/live/sessions/{session_id}/{part}", session_part, methods=["GET", "POST"]),
    WebSocketRoute("/v1/live/sessions/{session_id}/{part}", session_socket),
]
