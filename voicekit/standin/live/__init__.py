"""``/v1/live/sessions``: OpenAI's GPT-Live over its primary WebSocket, offline.

``client.live.connect()`` reaches it unchanged when ``OPENAI_BASE_URL`` points
at the stand-in; the client sends ``session.start`` (with ``session.model``,
``gpt-live-1`` or ``gpt-live-1.1``) and waits for ``session.started``. Every
event has the shape of the SDK's ``openai.types.live`` models (the protocol
of the pinned ``openai`` package; OpenAI guides "WebSockets", "Prompting
GPT-Live" and "Delegation and tools in GPT-Live").

Modules: :mod:`.config` (strict configuration and defaults), :mod:`.state`
(one session's state and timeline), :mod:`.connection` (its socket),
:mod:`.listener` (VAD, Whisper, talk-over), :mod:`.speaker` (LLM and Piper,
paced output), :mod:`.replies` (when the model speaks), :mod:`.delegation`
(the delegation decision), :mod:`.backend` (Responses delegation),
:mod:`.call` (a WebRTC session and its sideband),
:mod:`.context` (what the model knows), :mod:`.handlers` (one module per event
family) and :mod:`.http` (the refused parts).

How the stand-in differs from OpenAI
------------------------------------
- Full duplex is emulated with turns: the model hears Whisper's transcript of
  each utterance (English only: the SDK's ``openai.types.live.SessionConfig`` has no
  language field to name another; no tone) and answers when Smart Turn (Pipecat's end-of-turn model) judges the
  user finished, at 256 ms of silence, or after :data:`.listener.END_OF_TURN_SILENCE_MS`. It keeps listening while it
  speaks and stops by itself after :data:`.listener.TALK_OVER_MS` of user speech;
  the output transcript then ends where the audio stopped. No backchannel.
- The input transcript arrives when an utterance ends, not while it is spoken.
- Delegation is considered only when ``session.delegation`` was given at start;
  SmolLM2-135M rarely picks the delegate tool, so a word rule backs the
  decision pass up (:mod:`.delegation`).
- Audio is ``audio/pcm`` at 24 or 16 kHz (no G.711); the voice is Piper's, in OpenAI's
  voice variants. Usage counts whole seconds of session; nothing is billed.
- Responses delegation runs the stand-in's own Responses engine
  (SmolLM2; function tools only).
- WebRTC sessions and their sideband are :mod:`.call`'s (``POST
  /v1/live/sessions`` is :mod:`voicekit.standin.routes.calls`'); SIP, forks,
  stored sessions, audio fixtures and Decisions are refused with an error
  naming the part.
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ..engines import Engines
from ..transport.links import WebSocketLink
from .config import LIVE_MODELS
from .connection import LiveConnection
from .errors import LiveError, error_event
from .handlers import HANDLERS
from .http import routes as http_routes

__all__ = ["LIVE_MODELS", "routes"]


async def live(websocket: WebSocket) -> None:
    """Serve one Live connection until the client leaves or the session closes."""
    await websocket.accept()
    engines: Engines = websocket.app.state.engines
    conn = LiveConnection(engines, websocket.app.state)
    if "model" in websocket.query_params:
        conn.emit(error_event(LiveError(
            "Do not pass the model as a URL query parameter: put it in session.start's session.model",
            code="invalid_request", param="model"), None))
    await conn.serve(WebSocketLink(websocket), HANDLERS)


routes = [WebSocketRoute("/v1/live/sessions", live), *http_routes]
