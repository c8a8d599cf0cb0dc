"""An ``x-request-id`` header on every response, as OpenAI's API sends.

OpenAI answers every HTTP request with an ``x-request-id`` header
(``req_`` and 32 hex digits), errors included, and the SDKs expose it: the
Python SDK's ``response._request_id`` and ``APIStatusError.request_id``, the
Node SDK's ``request_id`` (OpenAI API reference, "Debugging requests"). LiveKit's
OpenAI plugin warns when it is missing.

:class:`RequestId` is a pure ASGI middleware (not Starlette's
``BaseHTTPMiddleware``, which would buffer the streamed SSE bodies): it adds the
header to the first message of every HTTP response and to a WebSocket's
``101`` (``websocket.accept``) or its refusal (``websocket.http.response.start``).
It also puts the id in the ASGI scope under :data:`SCOPE_KEY`, so the handler of
an unexpected exception, which Starlette runs *outside* every middleware, can
send the same id with its 500.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HEADER", "SCOPE_KEY", "RequestId", "new_request_id", "request_id_of"]

HEADER = "x-request-id"
SCOPE_KEY = "voicekit.request_id"
"""Where :class:`RequestId` leaves the request's id in the ASGI scope."""

_STARTS = ("http.response.start", "websocket.accept", "websocket.http.response.start")
"""The ASGI messages that carry a response's headers."""


def new_request_id() -> str:
    """A new id in OpenAI's shape: ``"req_"`` and 32 lowercase hex digits."""
    return f"req_{uuid.uuid4().hex}"


def request_id_of(scope: Scope) -> str | None:
    """The id :class:`RequestId` gave this request (None outside it)."""
    value = scope.get(SCOPE_KEY)
    return value if isinstance(value, str) else None


class RequestId:
    """ASGI middleware: an ``x-request-id`` header on every HTTP response and WebSocket handshake."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = new_request_id()
        scope[SCOPE_KEY] = rid
        header = (HEADER.encode("latin-1"), rid.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in _STARTS:
                headers: list[Any] = list(message.get("headers") or [])
                if not any(bytes(k).lower() == header[0] for k, _ in headers):
                    headers.append(header)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)
