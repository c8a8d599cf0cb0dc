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
import re
import struct
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from openai.types.audio import speech_create_params
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..audio import Clip
from ..formats import SPEECH_PCM_SAMPLE_RATE, float_to_int16, int16_to_float
from ._upload import sse
from .engines import Engines, PiperEngine, locked_steps
from .errors import OpenAIError, model_not_found
from .models import SPEECH_MODELS
from .scheduling import ClosingStreamingResponse

__all__ = ["OPENAI_VOICES", "VOICE_VARIANTS", "VoiceVariant", "routes", "split_first_clause", "synthesize_pcm"]

OPENAI_VOICES: tuple[str, ...] = typing.get_args(typing.get_args(speech_create_params.Voice)[1])
"""Built-in voice names, read from the SDK's ``speech_create_params.Voice`` Literal."""

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MAX_INPUT_CHARS = 4096


@dataclass(frozen=True)
class VoiceVariant:
    """How one OpenAI voice name is rendered with the single local Piper voice.

    ``pitch`` multiplies the fundamental frequency (1.0 = Piper's own);
    ``noise_scale`` and ``noise_w_scale`` are Piper's prosody variation knobs.
    """

    pitch: float
    noise_scale: float
    noise_w_scale: float


_DEFAULT = VoiceVariant(1.0, 0.667, 0.8)
VOICE_VARIANTS: dict[str, VoiceVariant] = {
    "alloy": _DEFAULT,
    "ash": VoiceVariant(0.92, 0.667, 0.8),
    "ballad": VoiceVariant(0.96, 0.8, 1.0),
    "coral": VoiceVariant(1.15, 0.7, 0.9),
    "echo": VoiceVariant(0.88, 0.5, 0.6),
    "sage": VoiceVariant(1.05, 0.4, 0.5),
    "shimmer": VoiceVariant(1.2, 0.8, 0.9),
    "verse": VoiceVariant(1.0, 0.9, 1.1),
    "marin": VoiceVariant(1.12, 0.6, 0.8),
    "cedar": VoiceVariant(0.94, 0.6, 0.7),
    "fable": VoiceVariant(1.08, 0.9, 1.0),
    "onyx": VoiceVariant(0.85, 0.6, 0.7),
    "nova": VoiceVariant(1.18, 0.667, 0.8),
}
"""OpenAI voice name -> local rendering. Unknown future names fall back to ``alloy``'s."""


_SENTENCE_END = re.compile(r"[.!?]+(?:\s|$)")
_CLAUSE_END = re.compile(r"[,;:]\s")


def split_first_clause(text: str, max_chars: int = 80, min_chars: int = 15) -> list[str]:
    """Cut a long first sentence at its first clause boundary, to speak sooner.

    Piper synthesises a whole sentence before returning any of it, so time to
    first byte grows with the first sentence (about 28 ms per second of speech
    on 2 cores). When the first sentence is longer than ``max_chars``, its
    first ``,``/``;``/``:`` at least ``min_chars`` in becomes a break.

    Returns
    -------
    list of str: ``[text]``, or ``[head, rest]`` with ``head + " " + rest == text``
    up to whitespace.
    """
    end = _SENTENCE_END.search(text)
    first_len = end.end() if end else len(text)
    if first_len <= max_chars:
        return [text]
    for m in _CLAUSE_END.finditer(text, min_chars, first_len):
        return [text[: m.start() + 1].strip(), text[m.end():].strip()]
    return [text]


MAX_PIECE_CHARS = 160
"""Longest text Piper synthesises in one call, in characters.

Piper synthesises a sentence in one ONNX Runtime call, and the runtime's memory
arena keeps the peak allocation: measured on this voice, a 44-character
sentence left the process at 181 MB, one 444-character sentence (a list with
no full stop) at 602 MB, and it stays there. Longer sentences are cut at a
clause mark or, failing that, at a space.
"""


def bounded_pieces(text: str, max_chars: int = MAX_PIECE_CHARS) -> list[str]:
    """Split ``text`` so that no sentence is longer than ``max_chars`` characters.

    Sentences (ending in ``.``, ``!`` or ``?``) stay whole when short enough;
    a longer one is cut at its last ``,``/``;``/``:`` within the limit, else at
    its last space within it (a single word longer than the limit stays whole).
    Returns the pieces in order; joined with spaces they give ``text`` up to
    whitespace.
    """
    out: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        sentence = sentence.strip()
        while len(sentence) > max_chars:
            window = sentence[: max_chars + 1]
            clauses = list(_CLAUSE_END.finditer(window))
            cut = clauses[-1].start() + 1 if clauses else window.rfind(" ")
            if cut <= 0:
                break
            out.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            out.append(sentence)
    return out


def synthesize_pcm(
    tts: PiperEngine, text: str, *, voice: str = "alloy", speed: float = 1.0,
    sample_rate: int = SPEECH_PCM_SAMPLE_RATE,
) -> Iterator[npt.NDArray[np.int16]]:
    """Speak ``text`` sentence by sentence, resampled to ``sample_rate`` Hz.

    Piper speaks each sentence at its natural pace; Signalsmith Stretch (the
    ``python-stretch`` package) then scales its duration by exactly
    ``1 / speed`` and moves its pitch by the voice's factor, both without
    changing the other. Piper's own ``length_scale`` is not used for speed: its
    per-phoneme minimum makes ``speed=2`` only about 1.6 times faster.
    Holds ``tts.lock`` while synthesising each piece, never while the caller has it.

    A long first sentence is split at its first clause (:func:`split_first_clause`)
    so the first audio is ready sooner, and no piece is longer than
    :data:`MAX_PIECE_CHARS` (:func:`bounded_pieces`), which bounds memory.

    Yields
    ------
    int16 arrays of shape ``(n,)`` at ``sample_rate`` Hz, one per sentence;
    concatenated they are gapless (one streaming soxr resampler spans them all).
    """
    import soxr

    v = VOICE_VARIANTS.get(voice, _DEFAULT)
    stretch = None
    if speed != 1.0 or v.pitch != 1.0:
        import python_stretch

        stretch = python_stretch.Signalsmith.Stretch()
        stretch.preset(1, tts.sample_rate)
    resampler = soxr.ResampleStream(tts.sample_rate, sample_rate, 1, dtype="float32", quality="HQ")
    pieces = (
        pcm
        for head in split_first_clause(text)
        for part in bounded_pieces(head)
        for pcm in tts.stream(part, noise_scale=v.noise_scale, noise_w_scale=v.noise_w_scale)
    )
    for pcm in locked_steps(tts.lock, pieces):  # the lock is never held across a yield
        x = int16_to_float(pcm)
        if stretch is not None:
            stretch.reset()
            stretch.setTimeFactor(speed)
            stretch.setTransposeFactor(v.pitch)
            x = np.asarray(stretch.process(x[None, :]), dtype=np.float32)[0]
            x = x / max(1.0, float(np.abs(x).max()))  # transposition can overshoot full scale
        out = resampler.resample_chunk(x, last=False)
        if out.size:
            yield float_to_int16(out)
    tail = resampler.resample_chunk(np.zeros(0, np.float32), last=True)
    if tail.size:
        yield float_to_int16(tail)


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
        for pcm in synthesize_pcm(tts, text, voice=voice, speed=speed):
            n += pcm.size
            yield pcm.astype("<i2").tobytes()
    else:
        parts = list(synthesize_pcm(tts, text, voice=voice, speed=speed))
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
