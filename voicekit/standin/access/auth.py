"""Bearer-token authentication for the stand-in, as an ASGI middleware.

Every HTTP request and every WebSocket handshake must carry
``Authorization: Bearer <token>`` (what the ``openai`` SDK sends from
``OPENAI_API_KEY``, on the Realtime WebSocket handshake too), or on a
WebSocket the ``openai-insecure-api-key.<token>`` subprotocol a browser sends.
Ephemeral ``ek_`` keys are checked by :mod:`.ephemeral` before this. A request
without it, or with a token the check refuses, gets OpenAI's own 401 answer
(source: OpenAI's API error codes, "401 - Invalid Authentication" /
"Incorrect API key provided"; the bodies below are the ones api.openai.com
returns)::

    {"error": {"message": "Incorrect API key provided: sk-ab***wxyz. ...",
               "type": "invalid_request_error", "param": null, "code": "invalid_api_key"}}

A WebSocket handshake is refused with the same 401 JSON through the ASGI
``websocket.http.response`` denial extension (uvicorn supports it), so the SDK
sees a 401, not a bare 403.

The token is never logged: uvicorn's access log holds the path, not headers,
and the token is never read from the query string.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Collection

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from ..errors import OpenAIError, error_response

__all__ = ["SUBPROTOCOL_KEY_PREFIX", "TokenAuth", "TokenCheck", "incorrect_key", "missing_key", "presented_key", "static_token",
           "subprotocols"]

TokenCheck = Callable[[str], Awaitable[bool]]
"""Given the presented Bearer token, True if it may use the stand-in."""


def static_token(token: str) -> TokenCheck:
    """A :data:`TokenCheck` accepting exactly ``token``, compared in constant time.

    Raises
    ------
    ValueError
        If ``token`` is empty.
    """
    if not token:
        raise ValueError("static_token needs a non-empty token")
    expected = token.encode()

    async def check(presented: str) -> bool:
        return hmac.compare_digest(presented.encode(), expected)

    return check


def _mask(key: str) -> str:
    """The key as OpenAI echoes it: first 3 and last 4 characters, stars between."""
    if len(key) < 12:
        return "*" * len(key)
    return f"{key[:3]}{'*' * (len(key) - 7)}{key[-4:]}"


def incorrect_key(presented: str) -> OpenAIError:
    """OpenAI's 401 for a key it does not know (``code="invalid_api_key"``)."""
    return OpenAIError(
        401,
        f"Incorrect API key provided: {_mask(presented)}. "
        "You can find your API key at https://platform.openai.com/account/api-keys.",
        code="invalid_api_key",
    )


def missing_key() -> OpenAIError:
    """OpenAI's 401 for a request without ``Authorization: Bearer`` (its ``code`` is null)."""
    return OpenAIError(
        401,
        "You didn't provide an API key. You need to provide your API key in an Authorization "
        "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password "
        "field (with blank username) if you're accessing the API from your browser and are "
        "prompted for a username and password. You can obtain an API key from "
        "https://platform.openai.com/account/api-keys.",
    )


SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
"""A browser cannot set headers on a WebSocket, so it sends its key as a subprotocol:
``Sec-WebSocket-Protocol: realtime, openai-insecure-api-key.<key>`` (OpenAI's Realtime
WebSocket guide; the Agents SDK for JavaScript and the AI SDK do so)."""


def _bearer(headers: Headers) -> str | None:
    value = headers.get("authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def subprotocols(scope: Scope) -> list[str]:
    """The ``Sec-WebSocket-Protocol`` values a WebSocket handshake offers, in order."""
    raw = Headers(scope=scope).get("sec-websocket-protocol", "")
    return [p.strip() for p in raw.split(",") if p.strip()]


def presented_key(scope: Scope) -> str | None:
    """The key a request presents: ``Authorization: Bearer``, or on a WebSocket the
    ``openai-insecure-api-key.`` subprotocol; None if neither."""
    token = _bearer(Headers(scope=scope))
    if token is None and scope["type"] == "websocket":
        for proto in subprotocols(scope):
            if proto.startswith(SUBPROTOCOL_KEY_PREFIX) and len(proto) > len(SUBPROTOCOL_KEY_PREFIX):
                return proto[len(SUBPROTOCOL_KEY_PREFIX):]
    return token


class TokenAuth:
    """ASGI middleware: refuse HTTP requests and WebSocket handshakes without a good token.

    Parameters
    ----------
    app : ASGI app
        The wrapped application (lifespan messages pass through untouched).
    token_check : TokenCheck
        Awaited with the presented Bearer token.
    exempt : collection of str
        Paths answered without a token (the identity probe, whose answer
        proves knowledge of the token without revealing it).
    """

    def __init__(self, app: ASGIApp, token_check: TokenCheck, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.token_check = token_check
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] not in ("http", "websocket") or scope.get("path") in self.exempt
                or "voicekit.ephemeral" in scope):  # an ephemeral key checked by access.ephemeral
            await self.app(scope, receive, send)
            return
        token = presented_key(scope)
        if token is None:
            err = missing_key()
        elif await self.token_check(token):
            await self.app(scope, receive, send)
            return
        else:
            err = incorrect_key(token)
        response = error_response(err)
        if scope["type"] == "websocket":
            await WebSocket(scope, receive, send).send_denial_response(response)
        else:
            await response(scope, receive, send)
