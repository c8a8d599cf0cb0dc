"""Request guards: who may talk to the stand-in, and how much it reads.

:class:`Guards` is one pure-ASGI middleware in front of every route (HTTP and
WebSocket). It answers in OpenAI's error shape (:mod:`.errors`) before a route
runs:

- **Host allow-list** (DNS rebinding). A page on ``evil.example`` that rebinds
  its name to 127.0.0.1 still sends ``Host: evil.example``. Allowed: the
  loopback names ``127.0.0.1``, ``localhost`` and ``[::1]`` on any port, the
  bound host, and each ``allowed_hosts`` entry (``--allowed-host`` /
  ``VOICEKIT_ALLOWED_HOSTS``; a hostname, or ``*`` for any). Anything else: 400
  ``invalid_host``. A request with no ``Host`` header (HTTP/1.0; never a
  browser) passes.
- **Origin check** (cross-site WebSocket hijacking and cross-site POSTs). A
  browser page sends ``Origin`` with every WebSocket handshake and every
  cross-site POST, even a "simple" one that needs no CORS preflight. Allowed:
  no ``Origin`` (the SDK, ``websockets``, curl), a loopback ``http``/``https``
  origin on any port (Jupyter on 8888, 8889 or a random port; a page served
  from this machine is written by someone who can reach the stand-in directly
  anyway), the request's own origin (``Origin`` host equals the allowed
  ``Host``: the JupyterHub case, where notebook and stand-in share the hub's
  address), and each ``allowed_origins`` entry (``--allowed-origin`` /
  ``VOICEKIT_ALLOWED_ORIGINS``, e.g. ``https://hub.example.org``; ``*`` for
  any). Anything else, ``null`` included: 403 ``invalid_origin``. The stand-in
  sends no CORS headers at all, so a browser never lets a foreign page read an
  answer either. A refused WebSocket handshake gets its 403 through the ASGI
  ``websocket.http.response`` extension, as :func:`.app._unknown_websocket` does.
- **Body size** (memory). A JSON body above ``max_body_bytes`` (default
  :data:`MAX_JSON_BODY_BYTES`) and a multipart body above
  :data:`MAX_MULTIPART_BODY_BYTES` get 413 ``request_too_large``: at once when
  ``Content-Length`` says so, else as soon as the streamed (chunked) body
  passes the cap, without reading the rest.

Environment lists are comma-separated.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...formats import MAX_UPLOAD_BYTES
from ..errors import OpenAIError, error_response

__all__ = [
    "ALLOWED_HOSTS_ENV",
    "ALLOWED_ORIGINS_ENV",
    "MAX_JSON_BODY_BYTES",
    "MAX_MULTIPART_BODY_BYTES",
    "MAX_WS_EVENT_BYTES",
    "WS_MAX_FRAME_BYTES",
    "Guards",
    "env_list",
]

ALLOWED_HOSTS_ENV = "VOICEKIT_ALLOWED_HOSTS"
ALLOWED_ORIGINS_ENV = "VOICEKIT_ALLOWED_ORIGINS"

MAX_JSON_BODY_BYTES = 50 * 1024 * 1024
"""Cap on a JSON request body: 50 MiB.

OpenAI's "Images and vision" guide allows "up to 50 MB image bytes per request";
chat with audio carries base64 audio the same way, and a 25 MB file (the
transcription limit, :data:`voicekit.formats.MAX_UPLOAD_BYTES`) is 33 MB in
base64, so every input OpenAI accepts fits.
"""

MAX_MULTIPART_BODY_BYTES = MAX_UPLOAD_BYTES + 64 * 1024
"""Cap on a multipart upload: OpenAI's 25 MB audio file plus 64 KiB for the other form fields
(the same cap :mod:`._upload` checks on ``Content-Length``)."""

MAX_WS_EVENT_BYTES = 15 * 1024 * 1024
"""Cap on one WebSocket client event (Realtime, Live): 15 MiB, the most audio OpenAI takes in one
``input_audio_buffer.append`` (``openai.types.realtime.InputAudioBufferAppendEvent``). A bigger event
gets an ``error`` event and the session goes on."""

WS_MAX_FRAME_BYTES = 32 * 1024 * 1024
"""uvicorn's ``ws_max_size``: frames up to this size reach the app (which answers one above
:data:`MAX_WS_EVENT_BYTES` with an ``error`` event); a bigger one closes the socket with 1009."""

_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def env_list(name: str) -> list[str]:
    """The comma-separated entries of environment variable ``name`` (empty entries dropped)."""
    return [p.strip() for p in os.environ.get(name, "").split(",") if p.strip()]


def _hostname(host: str) -> str:
    """``Host`` header value without its port, lower-case; IPv6 without brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_loopback(hostname: str) -> bool:
    if hostname in _LOOPBACK_NAMES or hostname.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


class Guards:
    """ASGI middleware applying the Host, Origin and body-size rules of this module.

    Parameters
    ----------
    app : ASGI app
        The stand-in's routes.
    allowed_hosts : iterable of str
        More ``Host`` names to accept (ports ignored); ``"*"`` accepts any. The entries of
        ``VOICEKIT_ALLOWED_HOSTS`` are added.
    allowed_origins : iterable of str
        More origins to accept, as browsers send them (``https://hub.example.org``,
        ``http://10.0.0.5:8888``); ``"*"`` accepts any. The entries of
        ``VOICEKIT_ALLOWED_ORIGINS`` are added.
    max_body_bytes : int
        Cap on a JSON (non-multipart) body, bytes.
    bound_host : str, optional
        The address the server binds; accepted as a ``Host`` name too.
    """

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
        max_body_bytes: int = MAX_JSON_BODY_BYTES, bound_host: str | None = None,
    ) -> None:
        self.app = app
        self.hosts = {_hostname(h) for h in [*allowed_hosts, *env_list(ALLOWED_HOSTS_ENV)]}
        if bound_host and bound_host not in ("0.0.0.0", "::"):
            self.hosts.add(_hostname(bound_host))
        self.origins = {o.strip().rstrip("/").lower() for o in [*allowed_origins, *env_list(ALLOWED_ORIGINS_ENV)]}
        self.max_body_bytes = max_body_bytes

    # -- the rules --------------------------------------------------------------

    def host_allowed(self, host: str | None) -> bool:
        if host is None or "*" in self.hosts:
            return True
        name = _hostname(host)
        return _is_loopback(name) or name in self.hosts

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        if origin is None or "*" in self.origins:
            return True
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            return False  # "null" (sandboxed frames, file: pages) and anything odd
        if _is_loopback(parts.hostname):
            return True
        return host is not None and parts.netloc == host.strip().lower()  # same origin as the (allowed) Host

    def _cap(self, headers: dict[bytes, bytes]) -> int:
        ctype = headers.get(b"content-type", b"").decode("latin-1").lower()
        return MAX_MULTIPART_BODY_BYTES if ctype.startswith("multipart/") else self.max_body_bytes

    # -- ASGI -------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1") or None
        origin = headers.get(b"origin", b"").decode("latin-1") or None
        if not self.host_allowed(host):
            await _refuse(scope, receive, send, OpenAIError(
                400, f"Invalid Host header {host!r}: the stand-in answers only for loopback names and "
                     f"--allowed-host / {ALLOWED_HOSTS_ENV}.", code="invalid_host"))
            return
        if not self.origin_allowed(origin, host):
            await _refuse(scope, receive, send, OpenAIError(
                403, f"Cross-origin request from {origin!r} refused: allow it with --allowed-origin / "
                     f"{ALLOWED_ORIGINS_ENV}.", code="invalid_origin"))
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        cap = self._cap(headers)
        length = headers.get(b"content-length", b"").decode("latin-1")
        if length.isdigit() and int(length) > cap:
            await _refuse(scope, receive, send, _too_large(cap, int(length)))
            return
        await self.app(scope, _counting(receive, cap), send)


def _too_large(cap: int, n: int) -> OpenAIError:
    return OpenAIError(413, f"Request body too large: the limit is {cap} bytes, got {n} or more.", code="request_too_large")


def _counting(receive: Receive, cap: int) -> Receive:
    """``receive`` that raises a 413 :class:`OpenAIError` once the body passes ``cap`` bytes.

    The route is still reading its body then, so Starlette's handler for
    :class:`OpenAIError` answers it; the rest of the body is never read.
    """
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _too_large(cap, seen)
        return message

    return wrapped


async def _refuse(scope: Scope, receive: Receive, send: Send, err: OpenAIError) -> None:
    response = error_response(err)
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await response(scope, receive, send)  # Starlette sends it as websocket.http.response.*
    else:
        await send({"type": "websocket.close", "code": 1008})
