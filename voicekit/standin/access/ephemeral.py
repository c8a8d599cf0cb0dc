"""Ephemeral keys (``ek_...``) for Realtime, and the one browser-facing request they open.

OpenAI's guide "WebRTC" (``voice-webrtc``, Realtime tab) and the API
reference for ``realtime.client_secrets``: a trusted server mints a
short-lived client secret with its project key (``POST
/v1/realtime/client_secrets``, optionally with a ``session`` and
``expires_after``: 10 s to 7,200 s, default 600 s, anchored at creation),
and hands only that to the browser, which posts its SDP offer to ``POST
/v1/realtime/calls`` with it. A key can open several sessions until it
expires; each takes the key's session configuration. GPT-Live has no
ephemeral keys (its guide: the server exchanges the SDP).

:class:`EphemeralGate` is the ASGI middleware (inside the Host/Origin guards,
outside :class:`~.auth.TokenAuth`) that

- lets an ``ek_`` key through only to ``POST /v1/realtime/calls`` and the
  Realtime WebSocket (``GET /v1/realtime`` without ``call_id``), or, for a key
  minted by ``POST /v1/realtime/translations/client_secrets`` (API reference
  ``realtime.translations.client_secrets``; its grant's session has ``type:
  "translation"``), only to the translation WebSocket (``GET
  /v1/realtime/translations``), marking the request with the key's :class:`Grant`
  (``scope["voicekit.ephemeral"]``); anywhere else, or once expired, it is
  refused with OpenAI's 401 shape;
- answers CORS for ``/v1/realtime/calls`` only (the preflight, and
  ``Access-Control-Allow-Origin`` plus ``Expose-Headers: Location`` on a
  call made with an ephemeral key), for the origins the guards let through:
  loopback and same-origin Jupyter pages, and ``--allowed-origin``.

A key is also read from the WebSocket subprotocol a browser sends, since a
browser cannot set headers on a WebSocket: ``Sec-WebSocket-Protocol:
realtime, openai-insecure-api-key.<key>``. Keys are never logged.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..errors import OpenAIError, error_response
from .auth import presented_key

__all__ = ["DEFAULT_TTL_S", "EPHEMERAL_PREFIX", "MAX_TTL_S", "MIN_TTL_S", "EphemeralGate", "EphemeralKeys", "Grant"]

EPHEMERAL_PREFIX = "ek_"
DEFAULT_TTL_S = 600
MIN_TTL_S = 10
MAX_TTL_S = 7200
"""``expires_after.seconds`` bounds and default (``ClientSecretCreateParams.ExpiresAfter``)."""

CALLS_PATH = "/v1/realtime/calls"
REALTIME_WS_PATH = "/v1/realtime"
TRANSLATIONS_WS_PATH = "/v1/realtime/translations"


@dataclass(frozen=True)
class Grant:
    """What an ephemeral key allows: Realtime sessions with ``session`` until ``expires_at`` (Unix s)."""

    expires_at: int
    session: dict[str, Any] = field(hash=False)


class EphemeralKeys:
    """The minted keys of one stand-in, in memory (they die with it, as they should)."""

    def __init__(self) -> None:
        self._keys: dict[str, Grant] = {}

    def mint(self, session: dict[str, Any], ttl_s: int) -> tuple[str, Grant]:
        """A new ``ek_`` key valid for ``ttl_s`` seconds, carrying ``session``."""
        self._prune()
        value = EPHEMERAL_PREFIX + secrets.token_urlsafe(24)
        grant = Grant(int(time.time()) + int(ttl_s), session)
        self._keys[value] = grant
        return value, grant

    def check(self, value: str) -> Grant:
        """The key's grant.

        Raises
        ------
        OpenAIError
            401 ``invalid_api_key`` if the key is unknown or has expired.
        """
        grant = self._keys.get(value)
        if grant is None:
            raise OpenAIError(401, "Incorrect ephemeral key provided: it was not issued by this server. Mint one "
                                   "with POST /v1/realtime/client_secrets.", code="invalid_api_key")
        if time.time() >= grant.expires_at:
            self._keys.pop(value, None)
            raise OpenAIError(401, "The ephemeral key has expired (expires_at "
                                   f"{grant.expires_at}). Mint a new one with POST /v1/realtime/client_secrets.",
                              code="invalid_api_key")
        return grant

    def _prune(self) -> None:
        now = time.time()
        for value in [k for k, g in self._keys.items() if now >= g.expires_at]:
            del self._keys[value]


def _cors_headers(origin: str | None) -> dict[str, str]:
    if not origin:
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin", "Access-Control-Expose-Headers": "Location"}


class EphemeralGate:
    """ASGI middleware for ephemeral keys and the calls endpoint's CORS (see the module docstring)."""

    def __init__(self, app: ASGIApp, keys: EphemeralKeys) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path = scope.get("path", "")
        if scope["type"] == "http" and scope["method"] == "OPTIONS" and path == CALLS_PATH:
            await self._preflight(headers)(scope, receive, send)
            return
        key = presented_key(scope)
        if key is None or not key.startswith(EPHEMERAL_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            grant = self.keys.check(key)
            if grant.session.get("type") == "translation" and not self._allowed_translation(scope):
                raise OpenAIError(
                    401, "This ephemeral key (ek_...) was minted for Realtime translation: it opens the translation "
                         "WebSocket only (GET /v1/realtime/translations?model=...). Use the project key on the server "
                         f"for {scope.get('method', 'GET')} {path}.", code="invalid_api_key")
            if grant.session.get("type") != "translation" and not self._allowed(scope):
                raise OpenAIError(
                    401, "Ephemeral keys (ek_...) open Realtime sessions only: POST /v1/realtime/calls and the "
                         "Realtime WebSocket (GET /v1/realtime?model=...). Use the project key on the server for "
                         f"{scope.get('method', 'GET')} {path}.", code="invalid_api_key")
        except OpenAIError as err:
            response = error_response(err)
            if scope["type"] == "websocket":
                await WebSocket(scope, receive, send).send_denial_response(response)
            else:
                response.headers.update(_cors_headers(headers.get("origin")) if path == CALLS_PATH else {})
                await response(scope, receive, send)
            return
        scope["voicekit.ephemeral"] = grant
        if scope["type"] == "http":
            await self.app(scope, receive, self._with_cors(send, headers.get("origin")))
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def _allowed(scope: Scope) -> bool:
        path = scope.get("path", "")
        if scope["type"] == "http":
            return bool(path == CALLS_PATH and scope["method"] == "POST")
        query = scope.get("query_string", b"").decode("latin-1")
        return path == REALTIME_WS_PATH and "call_id=" not in query

    @staticmethod
    def _allowed_translation(scope: Scope) -> bool:
        return bool(scope["type"] == "websocket" and scope.get("path", "") == TRANSLATIONS_WS_PATH)

    @staticmethod
    def _preflight(headers: Headers) -> Response:
        origin = headers.get("origin")
        allow = {
            **_cors_headers(origin),
            "Access-Control-Allow-Methods": "POST",
            # what the page asks for (the Agents SDK for JavaScript adds X-OpenAI-Agents-SDK)
            "Access-Control-Allow-Headers": headers.get("access-control-request-headers")
            or "authorization, content-type",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers=allow if origin else {})

    @staticmethod
    def _with_cors(send: Send, origin: str | None) -> Send:
        extra = [(k.lower().encode(), v.encode()) for k, v in _cors_headers(origin).items()]

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return send_with_cors
