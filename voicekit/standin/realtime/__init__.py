"""``GET /v1/realtime?model=...``: OpenAI's GA Realtime API over a WebSocket, offline.

``client.realtime.connect(model="gpt-realtime-mini")`` reaches it unchanged
when ``OPENAI_BASE_URL`` points at the stand-in, and so does a transcription
session, ``client.realtime.connect(extra_query={"intent": "transcription"})``
with no model (OpenAI guide "Realtime transcription"; :mod:`.transcription`)
or with a transcription model in the URL (what LiveKit's streaming STT sends).
The beta protocol (the ``OpenAI-Beta: realtime=v1`` header,
``transcription_session.update``) is refused with an ``error`` event, as
OpenAI has shut it off. Every event has the shape of
the SDK's ``openai.types.realtime`` models (GA names only:
``response.output_audio.delta``, never the beta ``response.audio.delta``).

Inside, one turn runs Silero VAD on the audio timeline, then Whisper on the
committed audio, then the LLM, whose reply Piper speaks sentence by sentence
(PCM16 at 24 kHz, resampled from Piper's 22,050 Hz), so the first audio goes
out before the reply is written.

Modules: :mod:`.session` (configuration and VAD settings),
:mod:`.transcription` (transcription sessions and transcript events),
:mod:`.conversation` and :mod:`.items` (items), :mod:`.config` and
:mod:`.response` (the reply pipeline), :mod:`.turns` (the input buffer and
its VAD turns), :mod:`.lookahead` and :mod:`.headstart` (work started before
a turn ends), :mod:`.connection` (one session's state, on any transport),
:mod:`.call` (a WebRTC call: output audio played by the server, its sideband), :mod:`.registry` (event
type -> handler) and :mod:`.handlers` (one handler per client event type).
Import arrows point one way: handlers and connection use the registry, never
each other.

How the stand-in differs from OpenAI
------------------------------------
- The model hears only Whisper's transcript: no tone, no emotion; English unless
  ``audio.input.transcription.language`` names another language, and it answers in English.
- ``/v1/realtime/translations`` (:mod:`.translation`): OpenAI's Realtime translation API, into English only.
- ``semantic_vad`` runs Silero VAD plus Pipecat's Smart Turn v3.2 end-of-turn model
  (:mod:`..engines.turn_model`), which judges from the audio at a 256 ms pause whether the
  turn is over; ``eagerness`` sets its threshold and the longest wait
  (:data:`.session.SEMANTIC_VAD_THRESHOLD`, :data:`.session.SEMANTIC_VAD_SILENCE_MS`).
- Input and output audio are ``audio/pcm`` at 24 kHz only (no G.711).
- A truncated assistant item keeps the transcript of the sentences heard
  (OpenAI deletes it); see :mod:`.conversation`.
- ``idle_timeout_ms`` counts wall-clock time after the reply's audio would
  have finished playing, as OpenAI documents.
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ..access.auth import subprotocols
from ..engines import Engines
from ..models import REALTIME_MODELS
from ..transport.links import WebSocketLink
from .connection import RealtimeConnection
from .events import RealtimeProtocolError, error_event, new_id
from .handlers import HANDLERS
from .session import default_session, session_identity
from .transcription import (
    DEFAULT_TRANSCRIPTION_MODEL,
    TRANSCRIPTION_SESSION_MODELS,
    default_transcription_session,
)
from .translation import translations

__all__ = ["routes"]


async def _refuse(websocket: WebSocket, err: RealtimeProtocolError) -> None:
    await websocket.send_json({"event_id": new_id("event"), **error_event(err, None)})
    await websocket.close(code=1008)


async def realtime(websocket: WebSocket) -> None:
    """Serve one Realtime connection until the client closes it.

    ``?model=`` opens a speech-to-speech session; ``?intent=transcription``
    opens a transcription session, with the default model when the URL names
    none and with the URL's model when it names a transcription model
    (``?intent=transcription&model=gpt-4o-mini-transcribe``, as LiveKit's
    streaming STT connects); ``?call_id=`` joins a WebRTC call as its
    sideband (:mod:`.call`). An unknown model or call, or the beta protocol
    (the ``OpenAI-Beta: realtime=v1`` header or the ``openai-beta.realtime-v1``
    subprotocol), gets an ``error`` event and close code 1008 (policy
    violation). A browser's ``realtime`` subprotocol is echoed in the
    handshake, as its WebSocket requires.
    """
    model = websocket.query_params.get("model") or ""
    intent = websocket.query_params.get("intent") or ""
    call_id = websocket.query_params.get("call_id") or ""
    offered = subprotocols(websocket.scope)
    await websocket.accept(subprotocol="realtime" if "realtime" in offered else None)
    if "realtime=v1" in websocket.headers.get("openai-beta", "").replace(" ", "") or any(
            p.startswith("openai-beta.realtime-v1") for p in offered):
        await _refuse(websocket, RealtimeProtocolError(
            "The beta Realtime API (header OpenAI-Beta: realtime=v1, or the openai-beta.realtime-v1 subprotocol) "
            "has been shut off; the stand-in speaks the GA protocol only. Drop it and use GA events "
            "(session.update with session.type).", code="beta_api_shutdown", param="OpenAI-Beta"))
        return
    engines: Engines = websocket.app.state.engines
    grant = websocket.scope.get("voicekit.ephemeral")
    if call_id:
        registry = getattr(websocket.app.state, "calls", None)
        call = registry.get(call_id, "realtime") if registry is not None else None
        if call is None:
            await _refuse(websocket, RealtimeProtocolError(
                f"No call found with id '{call_id}': a sideband joins a WebRTC call (POST /v1/realtime/calls) "
                "that is still running", code="call_not_found", param="call_id"))
            return
        await call.attach(WebSocketLink(websocket, "sideband"))
        return
    if grant is not None:  # an ephemeral key carries its session (access.ephemeral)
        session = {**grant.session, **session_identity(grant.session["type"])}
        await RealtimeConnection(engines, session).serve(WebSocketLink(websocket), HANDLERS)
        return
    if intent == "transcription" and (not model or model in TRANSCRIPTION_SESSION_MODELS):
        session = default_transcription_session(model=model or DEFAULT_TRANSCRIPTION_MODEL)
        await RealtimeConnection(engines, session).serve(WebSocketLink(websocket), HANDLERS)
        return
    if model not in REALTIME_MODELS:
        hint = (f" or, with ?intent=transcription, a transcription model ({', '.join(TRANSCRIPTION_SESSION_MODELS)})"
                if intent == "transcription" else
                " (for a transcription session, connect with ?intent=transcription and no model"
                " or a transcription model)")
        await _refuse(websocket, RealtimeProtocolError(
            f"The model `{model}` does not exist or you do not have access to it. "
            f"Expected a Realtime model such as gpt-realtime-mini{hint}.",
            code="model_not_found", param="model",
        ))
        return
    await RealtimeConnection(engines, default_session(model)).serve(WebSocketLink(websocket), HANDLERS)


routes = [WebSocketRoute("/v1/realtime", realtime), WebSocketRoute("/v1/realtime/translations", translations)]
