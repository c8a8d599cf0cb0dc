"""The stand-in's ASGI application: OpenAI's HTTP API on local engines.

Routes (one module each): ``models`` (``GET /v1/models``), ``transcriptions``
(``POST /v1/audio/transcriptions`` and ``/translations``), ``speech``
(``POST /v1/audio/speech``), ``chat`` (``POST /v1/chat/completions``),
``responses`` (``/v1/responses`` over HTTP and as a WebSocket) and
``realtime`` (the ``GET /v1/realtime`` WebSocket, and a call's sideband), ``live`` (the
``/v1/live/sessions`` WebSocket and a WebRTC session's sideband) and ``calls``
(WebRTC calls, ephemeral keys: :mod:`.routes.calls`). Engines load once, in the lifespan, before the
server accepts connections, so ``GET /v1/models`` answering 200 means ready.
Every response carries an ``x-request-id`` header (:mod:`.request_id`), as OpenAI's do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from . import housekeeping, live, models, realtime
from .access.auth import TokenAuth, TokenCheck
from .access.ephemeral import EphemeralGate, EphemeralKeys
from .access.guards import MAX_JSON_BODY_BYTES, Guards
from .access.identity import IDENTITY_PATH, Identity
from .access.identity import routes as identity_routes
from .engines import Engines
from .engines.scheduling import worker_pool
from .errors import OpenAIError, error_response, handle_openai_error
from .request_id import HEADER, RequestId, request_id_of
from .routes import calls, chat, responses, speech, transcriptions
from .timings import routes as timing_routes
from .transport.calls import CallRegistry

__all__ = ["create_app"]

log = logging.getLogger("voicekit.standin")


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return error_response(OpenAIError(404, f"Invalid URL ({request.method} {request.url.path})", code="unknown_url"))


async def _unknown_websocket(websocket: WebSocket) -> None:
    """Any other WebSocket path: refuse the handshake with OpenAI's 404 ``unknown_url`` body, not a 403.

    Uses the ASGI ``websocket.http.response`` extension (uvicorn's websockets implementations).
    """
    path = websocket.url.path
    await websocket.send_denial_response(error_response(OpenAIError(404, f"Invalid URL (GET {path})", code="unknown_url")))


async def _method_not_allowed(request: Request, exc: Exception) -> JSONResponse:
    return error_response(OpenAIError(405, f"Method {request.method} is not allowed on {request.url.path}", code="method_not_allowed"))


async def _server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("stand-in failed on %s %s", request.method, request.url.path)
    response = error_response(OpenAIError(500, f"The stand-in failed: {type(exc).__name__}: {exc}", type="server_error"))
    rid = request_id_of(request.scope)  # this handler runs outside the middleware: send the same id
    if rid is not None:
        response.headers[HEADER] = rid
    return response


def _warm_up(engines: Engines) -> None:
    warm = getattr(engines, "warm_up", None)  # test doubles may have none
    if warm is None:
        return
    try:
        warm()
    except Exception:  # warming is an optimisation: log it, and let a real request report the fault
        log.exception("warming the engines failed")


def create_app(
    load_engines: Callable[[], Engines] = Engines.load, *,
    token_check: TokenCheck | None = None, identity: Identity | None = None,
    allowed_hosts: Iterable[str] = (), allowed_origins: Iterable[str] = (),
    max_body_bytes: int = MAX_JSON_BODY_BYTES, bound_host: str | None = None,
) -> Starlette:
    """Build the stand-in application.

    Parameters
    ----------
    load_engines : callable
        Returns the :class:`Engines`; called once at startup. Tests may pass
        already-loaded engines (``lambda: engines``) to share them.
    token_check : TokenCheck, optional
        Awaited with each request's Bearer token (:mod:`.auth`); a refused or
        missing one gets OpenAI's 401. None (the default): no authentication.
    identity : Identity, optional
        What ``GET /v1/voicekit/identity`` and ``/status`` answer (:mod:`.identity`);
        default: a fresh instance id without a token.
    allowed_hosts, allowed_origins : iterable of str
        More ``Host`` names and browser origins to accept (:mod:`.guards`);
        loopback ones always pass.
    max_body_bytes : int
        Cap on a JSON request body (:data:`.guards.MAX_JSON_BODY_BYTES`); above it, 413.
    bound_host : str, optional
        The address the server binds, accepted as a ``Host`` name.

    Building it caps the process's glibc malloc arenas (:func:`.housekeeping.limit_arenas`,
    issue 26), before the engines start their threads.
    """
    housekeeping.limit_arenas()
    middleware = [Middleware(RequestId), Middleware(  # outermost: every answer gets an x-request-id
        Guards, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins,  # outermost: before authentication
        max_body_bytes=max_body_bytes, bound_host=bound_host,
    )]
    keys = EphemeralKeys()
    middleware.append(Middleware(EphemeralGate, keys=keys))  # ek_ keys, and CORS for /v1/realtime/calls
    if token_check is not None:
        middleware.append(Middleware(TokenAuth, token_check=token_check, exempt=[IDENTITY_PATH]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.engines = load_engines()
        app.state.loop = asyncio.get_running_loop()
        app.state.loop.set_default_executor(worker_pool())  # every session's engine work, at once (.scheduling)
        log.info("stand-in engines loaded")
        # Warm the engines before accepting requests (as LLM inference servers do): a
        # session started as soon as the server answered waited behind the warm-up's
        # Whisper, LLM and Piper runs, stage by stage (GPT-Live's first turn on a fresh
        # server; benchmarks/README.md, "The first turn of a fresh server").
        await asyncio.to_thread(_warm_up, app.state.engines)
        keeper = asyncio.create_task(housekeeping.run(app.state.engines))  # idle models go (issue 26)
        try:
            yield
        finally:
            keeper.cancel()
            await asyncio.gather(keeper, return_exceptions=True)
        await app.state.calls.end_all()

    app = Starlette(
        routes=[*identity_routes, *timing_routes, *models.routes, *transcriptions.routes, *speech.routes, *chat.routes, *responses.routes, *realtime.routes,
                *calls.routes, *live.routes, WebSocketRoute("/{path:path}", _unknown_websocket)],  # the catch-all stays last
        exception_handlers={
            OpenAIError: handle_openai_error,
            404: _not_found,
            405: _method_not_allowed,
            Exception: _server_error,
        },
        lifespan=lifespan,
        middleware=middleware,
    )
    app.state.identity = identity or Identity()
    app.state.ephemeral_keys = keys
    app.state.calls = CallRegistry()
    return app
