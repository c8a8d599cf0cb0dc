"""``POST /v1/audio/speech``: Piper speaks the input.

Request and formats follow the SDK's ``SpeechCreateParams`` and the OpenAI
text-to-speech guide: ``response_format`` is mp3, opus, aac, flac, wav or pcm
(raw 24 kHz mono PCM16 little-endian); ``speed`` is 0.25 to 4.0;
``stream_format="sse"`` sends ``speech.audio.delta`` events (``audio``: base64)
and a final ``speech.audio.done`` with ``usage``.

How the stand-in differs from OpenAI
------------------------------------
- **Voices.** There is one local voice, Piper ``en_US-joe-medium``. Every
  OpenAI voice name is accepted and mapped to a *variant* of it (see
  :data:`VOICE_VARIANTS`): a pitch factor, applied with Signalsmith Stretch
  (pitch moved, duration unchanged), plus Piper's ``noise_scale`` and
  ``noise_w_scale`` for livelier or flatter prosody.
- **speed** scales the duration by exactly ``1 / speed`` with Signalsmith
  Stretch (pitch unchanged). Above about 2.5 the local Whisper stops
  understanding the result.
  The voices differ audibly but share one speaker's timbre.
- **instructions** are accepted (up to 4,096 characters) and ignored: Piper has
  no way to follow style prompts. The notebooks say so.
- **Streaming.** ``pcm`` and ``wav`` stream sentence by sentence as Piper
  produces them (``wav`` with the 0xFFFFFFFF "unknown length" sizes that
  streaming WAV writers use); mp3, opus, aac and flac are encoded once the
  whole input is synthesised, then sent.
- **Usage** (``sse`` only): input tokens are Piper's phoneme ids; output tokens
  are 20 ms audio frames.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ...audio import Clip
from ...formats import SPEECH_PCM_SAMPLE_RATE
from ..engines import Engines, PiperEngine
from ..engines.scheduling import ClosingStreamingResponse
from ..engines.synthesis import OPENAI_VOICES, VOICE_VARIANTS, synthesize_pcm
from ..errors import OpenAIError, model_not_found
from ..models import SPEECH_MODELS
from ._upload import sse

__all__ = ["routes"]

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MAX_INPUT_CHARS = 4096


def _wav_stream_header(sample_rate: int) -> bytes:
    """A PCM16 mono WAV header whose sizes say "unknown" (0xFFFFFFFF), for streaming."""
    return (
        b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + b"WAVE"
        + b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + b"data" + struct.pack("<I", 0xFFFFFFFF)
    )


def _body(tts: PiperEngine, text: str, voice: str, speed: float, fmt: str, stats: dict[str, float]) -> Iterator[bytes]:
    rate = SPEECH_PCM_SAMPLE_RATE
    n = 0
    if fmt in ("pcm", "wav"):
        if fmt == "wav":
            yield _wav_stream_header(rate)
        for pcm in synthesize_pcm(tts, text, voice=voice, speed=speed, opening=True):
            n += pcm.size
            yield pcm.astype("<i2").tobytes()
    else:
        parts = list(synthesize_pcm(tts, text, voice=voice, speed=speed, opening=True))
        samples = np.concatenate(parts) if parts else np.zeros(0, np.int16)
        n = samples.size
        yield Clip(samples, rate).encode(fmt)  # type: ignore[arg-type]
    stats["seconds"] = n / rate


def _parse(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise OpenAIError(400, "expected a JSON object body", code="invalid_json")
    model = body.get("model")
    if not model:
        raise OpenAIError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    if model not in SPEECH_MODELS:
        raise model_not_found(str(model))
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise OpenAIError(400, "expected a non-empty string for 'input', got " + repr(text)[:60], param="input", code="invalid_value")
    if len(text) > MAX_INPUT_CHARS:
        raise OpenAIError(400, f"'input' is too long: expected at most {MAX_INPUT_CHARS} characters, got {len(text)}", param="input", code="string_above_max_length")
    voice = body.get("voice")
    if isinstance(voice, dict):
        raise OpenAIError(400, f"custom voice {voice.get('id')!r} is not available on the offline stand-in; use a built-in voice: {', '.join(OPENAI_VOICES)}", param="voice", code="invalid_value")
    if voice not in VOICE_VARIANTS and voice not in OPENAI_VOICES:
        raise OpenAIError(400, f"Invalid value for 'voice': expected one of {', '.join(OPENAI_VOICES)}, got {voice!r}", param="voice", code="invalid_value")
    fmt = body.get("response_format") or "mp3"
    if fmt not in FORMATS:
        raise OpenAIError(400, f"Invalid value for 'response_format': expected one of {', '.join(FORMATS)}, got {fmt!r}", param="response_format", code="invalid_value")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not 0.25 <= speed <= 4.0:
        raise OpenAIError(400, f"Invalid value for 'speed': expected a number from 0.25 to 4.0, got {speed!r}", param="speed", code="invalid_value")
    stream_format = body.get("stream_format") or "audio"
    if stream_format not in ("audio", "sse"):
        raise OpenAIError(400, f"Invalid value for 'stream_format': expected 'audio' or 'sse', got {stream_format!r}", param="stream_format", code="invalid_value")
    if stream_format == "sse" and model in ("tts-1", "tts-1-hd"):
        raise OpenAIError(400, f"stream_format 'sse' is not supported for model '{model}'.", param="stream_format", code="unsupported_value")
    instructions = body.get("instructions")
    if instructions is not None and (not isinstance(instructions, str) or len(instructions) > MAX_INPUT_CHARS):
        raise OpenAIError(400, f"expected 'instructions' as a string of at most {MAX_INPUT_CHARS} characters", param="instructions", code="invalid_value")
    return {"text": text, "voice": voice, "fmt": fmt, "speed": float(speed), "stream_format": stream_format}


async def create_speech(request: Request) -> Response:
    try:
        raw = await request.json()
    except ValueError as exc:
        raise OpenAIError(400, f"expected a JSON body: {exc}", code="invalid_json") from exc
    p = _parse(raw)
    engines: Engines = request.app.state.engines
    stats: dict[str, float] = {}
    body = _body(engines.tts, p["text"], p["voice"], p["speed"], p["fmt"], stats)
    if p["stream_format"] == "audio":
        return ClosingStreamingResponse(body, media_type=Clip.mime_type(p["fmt"]))

    def events() -> Iterator[bytes]:
        for chunk in body:
            yield sse(json.dumps({"type": "speech.audio.delta", "audio": base64.b64encode(chunk).decode()}))
        n_in = engines.tts.count_tokens(p["text"])
        n_out = math.ceil(stats.get("seconds", 0.0) * 50)
        usage = {"input_tokens": n_in, "output_tokens": n_out, "total_tokens": n_in + n_out}
        yield sse(json.dumps({"type": "speech.audio.done", "usage": usage}))

    return ClosingStreamingResponse(events(), media_type="text/event-stream")


routes = [Route("/v1/audio/speech", create_speech, methods=["POST"])]
