"""WebRTC call control over HTTP: client secrets, Realtime calls, GPT-Live WebRTC sessions.

API reference ``realtime.client_secrets``, ``realtime.calls``, ``live.create``
and ``live.sessions``; guides "WebRTC" (``voice-webrtc``) and "Server
controls" (``voice-server-controls``):

- ``POST /v1/realtime/client_secrets``: an ephemeral key (:mod:`..access.ephemeral`)
  with its effective session (``ClientSecretCreateResponse``).
- ``POST /v1/realtime/translations/client_secrets`` (``realtime.translations.client_secrets``):
  an ephemeral key for the translation WebSocket only, with its effective translation
  session (``RealtimeTranslationClientSecretCreateResponse``).
- ``POST /v1/realtime/calls``: the SDP offer, as a raw ``application/sdp`` body
  (a browser, with an ephemeral key) or ``multipart/form-data`` with ``sdp``
  and ``session`` (the SDK's ``calls.create``, the "unified interface");
  ``201`` with the SDP answer and ``Location: /v1/realtime/calls/{call_id}``.
- ``POST /v1/realtime/calls/{call_id}/hangup``; SIP's ``accept``, ``reject``
  and ``refer`` are refused by name.
- ``POST /v1/live/sessions`` with ``{session, transport: {type: "webrtc", sdp}}``;
  ``POST /v1/live/sessions/{session_id}/hangup``.

An SDP body is at most :data:`MAX_SDP_BYTES`.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic
from openai.types.live import LiveCreateResponse
from openai.types.realtime import (
    ClientSecretCreateResponse,
    RealtimeTranslationClientSecretCreateResponse,
    RealtimeTranslationSessionCreateRequestParam,
)
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..access.ephemeral import DEFAULT_TTL_S, MAX_TTL_S, MIN_TTL_S, EphemeralKeys, Grant
from ..errors import OpenAIError
from ..live.call import LiveCall, resolve_webrtc_session
from ..live.errors import LiveError
from ..realtime.call import RealtimeCall, configured_session
from ..realtime.events import RealtimeProtocolError
from ..realtime.session import session_identity
from ..realtime.translation import (
    TRANSLATION_MODELS,
    default_translation_session,
    merge_translation_session,
)
from ..transport.calls import CallRegistry
from ..transport.webrtc import OfferError

__all__ = ["MAX_SDP_BYTES", "routes"]

MAX_SDP_BYTES = 64 * 1024
"""The largest SDP offer accepted (a browser's is 2 to 6 KB)."""

_TRANSLATION_REQUEST = pydantic.TypeAdapter(RealtimeTranslationSessionCreateRequestParam)


def _registry(request: Request) -> CallRegistry:
    state = request.app.state
    if getattr(state, "calls", None) is None:
        state.calls = CallRegistry()
    registry: CallRegistry = state.calls
    return registry


def _keys(request: Request) -> EphemeralKeys:
    keys: EphemeralKeys = request.app.state.ephemeral_keys
    return keys


def _bad(message: str, param: str | None = None, code: str = "invalid_value") -> OpenAIError:
    return OpenAIError(400, message, param=param, code=code)


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError as exc:
        raise _bad(f"expected a JSON body: {exc.msg} at character {exc.pos}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise _bad(f"expected a JSON object, got {type(body).__name__}", code="invalid_json")
    return body


def _realtime_session(config: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    if config is not None and not isinstance(config, dict):
        raise _bad(f"expected 'session' to be an object, got {type(config).__name__}", "session", "invalid_type")
    try:
        if base is None:
            return configured_session(config)
        merged = {k: v for k, v in base.items() if k not in ("id", "object", "expires_at")}
        return configured_session({**merged, **(config or {})})
    except RealtimeProtocolError as err:
        raise OpenAIError(400, err.message, param=err.param or "session", code=err.code) from None


# -- ephemeral keys -----------------------------------------------------------------------------

def _ttl(body: dict[str, Any]) -> int:
    """``expires_after.seconds`` of a client secret request (``ClientSecretCreateParams.ExpiresAfter``)."""
    unknown = set(body) - {"session", "expires_after"}
    if unknown:
        name = min(unknown)
        raise _bad(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    expires = body.get("expires_after") or {}
    if not isinstance(expires, dict):
        raise _bad("expected 'expires_after' to be an object", "expires_after", "invalid_type")
    if expires.get("anchor", "created_at") != "created_at":
        raise _bad(f"Invalid value: {expires['anchor']!r}. Supported values are: 'created_at'.",
                   "expires_after.anchor")
    seconds = expires.get("seconds", DEFAULT_TTL_S)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not MIN_TTL_S <= seconds <= MAX_TTL_S:
        raise _bad(f"expires_after.seconds must be an integer between {MIN_TTL_S} and {MAX_TTL_S}, got {seconds!r}",
                   "expires_after.seconds")
    return int(seconds)


async def client_secrets(request: Request) -> JSONResponse:
    """``POST /v1/realtime/client_secrets``."""
    body = await _json(request)
    seconds = _ttl(body)
    session = _realtime_session(body.get("session"))
    value, grant = _keys(request).mint(session, seconds)
    out = {"value": value, "expires_at": grant.expires_at, "session": session}
    ClientSecretCreateResponse.model_validate(out)  # what we send is what the SDK parses
    return JSONResponse(out)


async def translation_client_secrets(request: Request) -> JSONResponse:
    """``POST /v1/realtime/translations/client_secrets``: ``session`` (required, a
    ``RealtimeTranslationSessionCreateRequest``: ``model`` and ``audio``) and ``expires_after``."""
    body = await _json(request)
    seconds = _ttl(body)
    config = body.get("session")
    if not isinstance(config, dict):
        raise _bad("Missing required parameter: 'session' (an object with the translation 'model')." if config is None
                   else f"expected 'session' to be an object, got {type(config).__name__}", "session",
                   "missing_required_parameter" if config is None else "invalid_type")
    model = config.get("model")
    if model not in TRANSLATION_MODELS:
        raise _bad(f"Invalid value: {model!r}. The stand-in's Realtime translation answers to "
                   f"{', '.join(TRANSLATION_MODELS)} only.", "session.model")
    unknown = set(config) - {"model", "audio"}
    if unknown:
        name = min(unknown)
        raise _bad(f"Unknown parameter: 'session.{name}'.", f"session.{name}", "unknown_parameter")
    try:
        _TRANSLATION_REQUEST.validate_python(config, strict=True)
        session = merge_translation_session(default_translation_session(str(model)), {"audio": config.get("audio")})
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _bad(f"Invalid 'session.{where}': {first['msg']}.", f"session.{where}") from None
    except RealtimeProtocolError as err:
        raise OpenAIError(400, err.message, param=err.param or "session", code=err.code) from None
    value, grant = _keys(request).mint(session, seconds)
    out = {"value": value, "expires_at": grant.expires_at, "session": session}
    RealtimeTranslationClientSecretCreateResponse.model_validate(out)  # what we send is what the SDK parses
    return JSONResponse(out)


# -- Realtime calls -----------------------------------------------------------------------------

async def _capped_body(request: Request) -> bytes:
    """The body, refused with 413 once it passes :data:`MAX_SDP_BYTES`: at once from its
    ``Content-Length``, else while it streams (never read whole first)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_SDP_BYTES:
        raise OpenAIError(413, f"The SDP offer is {length} bytes; the limit is {MAX_SDP_BYTES}.",
                          code="request_too_large")
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_SDP_BYTES:
            raise OpenAIError(413, f"The SDP offer is over the limit of {MAX_SDP_BYTES} bytes.",
                              code="request_too_large")
    return bytes(raw)


async def _offer_and_session(request: Request, grant: Grant | None) -> tuple[str, dict[str, Any]]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    base = dict(grant.session) if grant is not None else None
    if kind == "application/sdp":
        raw = await _capped_body(request)
        session = _realtime_session(None, base) if base is not None else configured_session(None)
        return raw.decode("utf-8", "replace"), session
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_part_size=MAX_SDP_BYTES)
        except HTTPException as exc:  # Starlette's answer to a form it cannot parse: plain text, not OpenAI's shape
            if "maximum size" in str(exc.detail):
                raise OpenAIError(413, f"The SDP offer (or the session) is over the limit of {MAX_SDP_BYTES} bytes.",
                                  code="request_too_large") from None
            raise _bad(f"expected a multipart/form-data body with 'sdp' and 'session': {exc.detail}",
                       code="invalid_multipart") from None
        sdp = form.get("sdp")
        if sdp is None:
            raise _bad("Missing required parameter: 'sdp'.", "sdp", "missing_required_parameter")
        sdp_text = sdp if isinstance(sdp, str) else (await sdp.read()).decode("utf-8", "replace")
        if len(sdp_text) > MAX_SDP_BYTES:
            raise OpenAIError(413, f"The SDP offer is {len(sdp_text)} bytes; the limit is {MAX_SDP_BYTES}.",
                              code="request_too_large")
        raw_session = form.get("session")
        config = None
        if raw_session is not None:
            text = raw_session if isinstance(raw_session, str) else (await raw_session.read()).decode()
            try:
                config = json.loads(text)
            except json.JSONDecodeError as exc:
                raise _bad(f"expected 'session' to hold JSON: {exc.msg}", "session", "invalid_json") from None
        return sdp_text, _realtime_session(config, base)
    raise _bad(f"expected Content-Type application/sdp (the SDP offer) or multipart/form-data (sdp and session), "
               f"got {kind or 'none'!r}", "Content-Type", "invalid_content_type")


async def create_call(request: Request) -> Response:
    """``POST /v1/realtime/calls``: answer the offer, start the session; ``201`` with the answer."""
    grant: Grant | None = request.scope.get("voicekit.ephemeral")
    offer, session = await _offer_and_session(request, grant)
    if grant is not None:
        session = {**session, **session_identity(session["type"])}
    registry = _registry(request)
    registry.admit()
    call = RealtimeCall(request.app.state.engines, session, on_end=registry.remove)
    registry.add(call)
    try:
        answer = await call.start(offer)
    except OfferError as err:
        await call.end("the offer was refused")
        raise _bad(str(err), "sdp", "invalid_sdp") from None
    except BaseException:
        await call.end("the answer failed")
        raise
    return Response(answer, status_code=201, media_type="application/sdp",
                    headers={"Location": f"/v1/realtime/calls/{call.id}"})


async def hangup_call(request: Request) -> Response:
    """``POST /v1/realtime/calls/{call_id}/hangup``."""
    call_id = request.path_params["call_id"]
    call = _registry(request).get(call_id, "realtime")
    if call is None:
        raise OpenAIError(404, f"No call found with id '{call_id}' (it may have ended).", param="call_id",
                          code="call_not_found")
    await call.end("hangup")
    return Response(status_code=200)


async def sip_part(request: Request) -> Response:
    """SIP's ``accept``, ``reject`` and ``refer``: refused by name."""
    part = request.path_params["part"]
    if part not in ("accept", "reject", "refer"):
        raise OpenAIError(404, f"Invalid URL (POST {request.url.path})", code="unknown_url")
    raise OpenAIError(400, f"SIP calls ({part}) are not supported by the offline stand-in: it answers WebRTC "
                           "calls only (POST /v1/realtime/calls).", code="unsupported")


# -- GPT-Live WebRTC sessions ------------------------------------------------------------------

async def create_live(request: Request) -> JSONResponse:
    """``POST /v1/live/sessions``: a WebRTC Live session (``client.live.create``)."""
    body = await _json(request)
    transport = body.get("transport")
    if not isinstance(transport, dict) or transport.get("type") != "webrtc" or not isinstance(
            transport.get("sdp"), str):
        raise _bad("expected 'transport' to be {\"type\": \"webrtc\", \"sdp\": <the SDP offer>}; for a WebSocket "
                   "session connect with client.live.connect() instead", "transport")
    if len(transport["sdp"]) > MAX_SDP_BYTES:
        raise OpenAIError(413, f"The SDP offer is {len(transport['sdp'])} bytes; the limit is {MAX_SDP_BYTES}.",
                          code="request_too_large")
    config = body.get("session")
    if not isinstance(config, dict):
        raise _bad("Missing required parameter: 'session' (with session.model).", "session",
                   "missing_required_parameter")
    try:
        resolved, channel = resolve_webrtc_session(config)
    except LiveError as err:
        raise OpenAIError(400, err.message, param=err.param, code=err.code) from None
    registry = _registry(request)
    registry.admit()
    call = LiveCall(request.app.state.engines, request.app.state, resolved, channel,
                    delegation_given=config.get("delegation") is not None, on_end=registry.remove)
    registry.add(call)
    try:
        answer = await call.start(transport["sdp"])
    except OfferError as err:
        await call.end("connection_lost")
        raise _bad(str(err), "transport.sdp", "invalid_sdp") from None
    except BaseException:
        await call.end("connection_lost")
        raise
    out = {"session": {"id": call.id}, "transport": {"type": "webrtc", "sdp": answer}}
    LiveCreateResponse.model_validate(out)
    return JSONResponse(out)


async def hangup_live(request: Request) -> Response:
    """``POST /v1/live/sessions/{session_id}/hangup``: ``session.closed`` (``remote_hangup``), then close."""
    session_id = request.path_params["session_id"]
    call = _registry(request).get(session_id, "live")
    if call is None:
        raise OpenAIError(404, f"No WebRTC session found with id '{session_id}' (it may have ended; a WebSocket "
                               "session ends when its socket closes).", param="session_id", code="session_not_found")
    await call.end("remote_hangup")
    return Response(status_code=200)


routes = [
    Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
    Route("/v1/realtime/translations/client_secrets", translation_client_secrets, methods=["POST"]),
    Route("/v1/realtime/calls", create_call, methods=["POST"]),
    Route("/v1/realtime/calls/{call_id}/hangup", hangup_call, methods=["POST"]),
    Route("/v1/realtime/calls/{call_id}/{part:str}", sip_part, methods=["POST"]),
    Route("/v1/live/sessions", create_live, methods=["POST"]),
    Route("/v1/live/sessions/{session_id}/hangup", hangup_live, methods=["POST"]),
]
