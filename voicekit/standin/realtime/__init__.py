"""``GET /v1/realtime?model=...``: OpenAI's GA Realtime API over a WebSocket, offline.

``client.realtime.connect(model="gpt-realtime-mini")`` reaches it unchanged
when ``OPENAI_BASE_URL`` points at the stand-in. Every event has the shape of
the SDK's ``openai.types.realtime`` models (GA names only:
``response.output_audio.delta``, never the beta ``response.audio.delta``).

Inside, one turn runs Silero VAD on the audio timeline, then Whisper on the
committed audio, then the LLM, whose reply Piper speaks sentence by sentence
(PCM16 at 24 kHz, resampled from Piper's 22,050 Hz), so the first audio goes
out before the reply is written.

Modules: :mod:`.session` (configuration and VAD settings), :mod:`.vad`
(Silero, streaming), :mod:`.conversation` (items), :mod:`.response` (the
reply pipeline), :mod:`.connection` (one socket's state) and
:mod:`.handlers` (one handler per client event type).

How the stand-in differs from OpenAI
------------------------------------
- The model hears only Whisper's transcript: no tone, no emotion, English only.
- ``semantic_vad`` runs as Silero VAD with a silence window set by ``eagerness``
  (:data:`.session.SEMANTIC_VAD_SILENCE_MS`).
- Input and output audio are ``audio/pcm`` at 24 kHz only (no G.711).
- A truncated assistant item keeps the transcript of the sentences heard
  (OpenAI deletes it); see :mod:`.conversation`.
- ``idle_timeout_ms`` counts wall-clock time after the reply's audio would
  have finished playing, as OpenAI documents.
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from ..engines import Engines
from ..models import REALTIME_MODELS
from .connection import RealtimeConnection
from .events import RealtimeProtocolError, error_event, new_id
from .handlers import HANDLERS

__all__ = ["routes"]


async def realtime(websocket: WebSocket) -> None:
    """Serve one Realtime connection until the client closes it."""
    model = websocket.query_params.get("model") or ""
    await websocket.accept()
    if model not in REALTIME_MODELS:
        err = RealtimeProtocolError(
            f"The model `{model}` does not exist or you do not have access to it. "
            f"Expected a Realtime model such as gpt-realtime-mini.",
            code="model_not_found", param="model",
        )
        await websocket.send_json({"event_id": new_id("event"), **error_event(err, None)})
        await websocket.close(code=1008)
        return
    engines: Engines = websocket.app.state.engines
    await RealtimeConnection(websocket, engines, model).serve(HANDLERS)


routes = [WebSocketRoute("/v1/realtime", realtime)]
