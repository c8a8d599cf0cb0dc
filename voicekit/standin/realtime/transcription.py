"""Realtime transcription sessions, and the transcript events of committed input audio.

A transcription session (OpenAI guide "Realtime transcription") is a Realtime
connection opened with ``?intent=transcription`` (no ``model``), or one whose
``session.update`` sets ``session.type: "transcription"``. It transcribes
committed audio and never answers: there are no responses. Its session object
is the SDK's ``RealtimeTranscriptionSessionCreateRequest`` plus the identity
fields of ``RealtimeTranscriptionSessionCreateResponse`` (:mod:`.session`).

Events for each committed turn: ``input_audio_buffer.committed``,
``conversation.item.added`` and ``conversation.item.done`` (a user message
with one ``input_audio`` part whose transcript is still null), then
``conversation.item.input_audio_transcription.delta``, one word per delta (with
its leading space), as Whisper decodes each segment, then ``...completed`` with the whole transcript and ``usage``
(tokens: 50 audio tokens per second, as in :mod:`voicekit.standin.routes.chat`, plus
the prompt's Whisper tokens; for ``whisper-1``, billed by time, the audio's
duration in seconds, as ``POST /v1/audio/transcriptions`` reports it). Turns are transcribed in commit order.

Log probabilities (``include: ["item.input_audio_transcription.logprobs"]``)
are per *word*, not per token: ``token`` is the word as Whisper wrote it
(with its leading space), ``bytes`` its UTF-8 bytes, and ``logprob`` the
natural log of faster-whisper's word probability (the mean probability of the
word's tokens). A segment without word timings gets one entry, its text with
the segment's ``avg_logprob``.

Languages: ``audio.input.transcription.language`` (ISO-639-1), or ``languages``
when it names exactly one, is honoured in both kinds of session: ``en`` runs
Whisper ``tiny.en``, any other code the multilingual Whisper
(:mod:`..engines.languages`). A code Whisper does not know is an ``invalid_value``
error naming it. Without a language, a transcription session detects it as
``POST /v1/audio/transcriptions`` streaming does (the first segment decides, so
English costs nothing more); a speech-to-speech session assumes English, as
detecting would slow every English turn. Either way the model (the stand-in's
LLM) still answers in English.

How the stand-in differs: every model (``gpt-4o-mini-transcribe``,
``gpt-4o-transcribe``, ``whisper-1``, ``gpt-realtime-whisper``, ...) is the
same local Whisper of ``POST /v1/audio/transcriptions``; a segment's words arrive
together once Whisper has decoded it, after the turn is committed, not while it is
spoken (OpenAI's models send smaller deltas as they decode).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import re
import typing
from collections.abc import Callable
from typing import Any

from openai.types.realtime import RealtimeTranscriptionSessionCreateRequest
from openai.types.realtime.audio_transcription import AudioTranscription

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines, SttResult, SttSegment, audio_tokens, languages
from ..models import BEAM_SIZES
from .conversation import Item
from .events import RealtimeProtocolError
from .session import (
    PCM_FORMAT,
    check_languages,
    check_request,
    input_language,
    merge_patch,
    refuse_identity,
    session_identity,
)

__all__ = [
    "DEFAULT_TRANSCRIPTION_MODEL",
    "LOGPROBS",
    "TRANSCRIPTION_SESSION_MODELS",
    "default_transcription_session",
    "merge_transcription_session",
    "transcribe_item",
]

REALTIME_BEAM_SIZE = 1
"""Whisper decodes the turns of speech-to-speech sessions greedily: on the 8 recordings of
``../shared/audio``, RTF 0.11 instead of 0.16 with beam search (width 5, the HTTP
endpoints' setting), and the same WER, 6.2%."""

LOGPROBS = "item.input_audio_transcription.logprobs"

DEFAULT_TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
"""The stand-in's transcription model when a transcription session names none."""

_SDK_MODELS = typing.get_args(typing.get_args(AudioTranscription.model_fields["model"].annotation)[1])
TRANSCRIPTION_SESSION_MODELS: tuple[str, ...] = tuple(m for m in _SDK_MODELS if m != "gpt-4o-transcribe-diarize")
"""The SDK's ``AudioTranscription.model`` names, all on Whisper ``tiny.en``; diarization is not offered."""

BEAM_WIDTHS: dict[str, int] = {**BEAM_SIZES, "gpt-realtime-whisper": 1, "gpt-live-transcribe": 1}
"""Whisper beam width per model: the HTTP endpoint's (:data:`..models.BEAM_SIZES`),
and greedy for the two live models too; others use the engine's 5."""

_TURN_DEFAULTS: dict[str, dict[str, Any]] = {
    "server_vad": {"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500},
    "semantic_vad": {"type": "semantic_vad", "eagerness": "auto"},
}

Emit = Callable[[dict[str, Any]], None]


def default_transcription_session(identity: dict[str, Any] | None = None,
                                  model: str = DEFAULT_TRANSCRIPTION_MODEL) -> dict[str, Any]:
    """A new transcription session: PCM16 at 24 kHz, server VAD, transcribing with ``model``
    (one of :data:`TRANSCRIPTION_SESSION_MODELS`; default :data:`DEFAULT_TRANSCRIPTION_MODEL`)."""
    ident = dict(identity or session_identity("transcription"))
    ident["object"] = "realtime.transcription_session"
    return {
        **ident,
        "type": "transcription",
        "audio": {"input": {
            "format": dict(PCM_FORMAT),
            "transcription": {"model": model, "language": None, "prompt": None},
            "noise_reduction": None,
            # OpenAI: "For gpt-realtime-whisper, this must be null".
            "turn_detection": None if model == "gpt-realtime-whisper" else dict(_TURN_DEFAULTS["server_vad"]),
        }},
        "include": None,
    }


def _bad(message: str, param: str) -> RealtimeProtocolError:
    return RealtimeProtocolError(message, code="invalid_value", param=param)


def merge_transcription_session(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a ``session.update`` whose ``session.type`` is ``"transcription"``.

    ``current`` may be a speech-to-speech session: it becomes a transcription
    session (keeping its ``id`` and ``expires_at``).

    Raises
    ------
    RealtimeProtocolError
        For fields ``RealtimeTranscriptionSessionCreateRequest`` does not declare
        or cannot hold, a model that is not a transcription model, a language
        other than English, G.711 audio, or turn detection with ``gpt-realtime-whisper``
        (OpenAI: "For gpt-realtime-whisper, this must be null").
    """
    refuse_identity(patch)
    if current.get("type") != "transcription":
        current = default_transcription_session({k: current[k] for k in ("id", "expires_at")})
    merged = merge_patch(current, patch, _TURN_DEFAULTS)
    check_request(RealtimeTranscriptionSessionCreateRequest, merged)
    audio_in = merged["audio"]["input"]
    fmt = audio_in.get("format") or {}
    if fmt.get("type", "audio/pcm") != "audio/pcm":
        raise _bad(f"expected audio.input.format.type 'audio/pcm' (PCM16 at 24000 Hz), got {fmt.get('type')!r}: "
                   "the stand-in does not decode G.711", "session.audio.input.format.type")
    config = audio_in.get("transcription") or {}
    model = config.get("model") or DEFAULT_TRANSCRIPTION_MODEL
    if model not in TRANSCRIPTION_SESSION_MODELS:
        raise _bad(f"expected audio.input.transcription.model to be one of {', '.join(TRANSCRIPTION_SESSION_MODELS)}, "
                   f"got {model!r}", "session.audio.input.transcription.model")
    check_languages(config)
    if model == "gpt-realtime-whisper" and audio_in.get("turn_detection") is not None:
        raise _bad("turn_detection must be null for gpt-realtime-whisper (VAD is not supported): commit the "
                   "audio with input_audio_buffer.commit", "session.audio.input.turn_detection")
    return merged


def _logprobs(segments: list[SttSegment]) -> list[dict[str, Any]]:
    """``LogProbProperties`` per word (see the module docstring for the mapping)."""
    out = []
    for s in segments:
        pieces = [(w.word, math.log(max(w.probability, 1e-12))) for w in s.words] or [(s.text, s.avg_logprob)]
        out += [{"token": t, "bytes": list(t.encode()), "logprob": lp} for t, lp in pieces]
    return out


def _usage(engines: Engines, duration_s: float, prompt: str | None, n_out: int) -> dict[str, Any]:
    n_audio = audio_tokens(duration_s)
    n_text = engines.stt.count_tokens(prompt) if prompt else 0
    return {"type": "tokens", "input_tokens": n_audio + n_text, "output_tokens": n_out,
            "total_tokens": n_audio + n_text + n_out,
            "input_token_details": {"audio_tokens": n_audio, "text_tokens": n_text}}


def _settings(session: dict[str, Any]) -> tuple[dict[str, Any] | None, int, bool]:
    """(transcription config or None, Whisper beam width, logprobs wanted)."""
    config = session["audio"]["input"].get("transcription")
    logprobs = LOGPROBS in (session.get("include") or [])
    if session["type"] == "transcription":
        config = config or {"model": DEFAULT_TRANSCRIPTION_MODEL}
        return config, BEAM_WIDTHS.get(config.get("model") or DEFAULT_TRANSCRIPTION_MODEL, 0), logprobs
    return config, REALTIME_BEAM_SIZE, logprobs


def _stream(engines: Engines, clip: Clip, item: Item, config: dict[str, Any], beam: int, logprobs: bool,
            emit: Emit) -> SttResult:
    """Whisper ``clip`` segment by segment, emitting each segment's words as deltas (on a worker thread)."""
    done: list[SttSegment] = []
    duration, segments = languages.stream(engines, clip, language=input_language(config), prompt=config.get("prompt"),
                                          beam_size=beam or None, word_timestamps=logprobs)
    for seg in segments:
        _emit_words(seg, not done, item, logprobs, emit)
        done.append(seg)
    return SttResult(done, input_language(config) or "", duration)


_WORD = re.compile(r"\s*\S+")


def _emit_words(seg: SttSegment, first: bool, item: Item, logprobs: bool, emit: Emit) -> None:
    """One ``...transcription.delta`` per word of ``seg`` (with its leading space; the
    transcript's first word without). The deltas join into the segment's text; with
    ``logprobs`` each carries its word's entry (or the first carries the segment's, when
    Whisper gave no word timings), so they join into the ``completed`` event's list."""
    text = seg.text.lstrip() if first else seg.text
    words = _WORD.findall(text) or [text]
    entries = _logprobs([seg]) if logprobs else []
    per_word = len(entries) == len(words)
    for k, word in enumerate(words):
        extra = {"logprobs": [entries[k]] if per_word else (entries if k == 0 else [])} if logprobs else {}
        emit({"type": "conversation.item.input_audio_transcription.delta", "item_id": item.id,
              "content_index": 0, "delta": word, **extra})


async def transcribe_item(engines: Engines, session: dict[str, Any], item: Item, emit: Emit,
                          speculative: asyncio.Future[SttResult] | None = None,
                          after: asyncio.Future[Any] | None = None) -> None:
    """Whisper a user audio item; its transcript feeds the LLM, and events go out if transcription is on.

    Parameters
    ----------
    session : dict
        The session when the audio was committed (its ``type``, transcription
        config and ``include`` decide the events and the beam width).
    item : Item
        A user message whose ``audio`` is int16 ``(n,)`` at 24 kHz; its
        ``transcript`` future is resolved here (``""`` if Whisper fails).
    speculative : Future, optional
        A Whisper result already under way for this audio (speech-to-speech sessions).
    after : Future, optional
        The previous turn's transcription: events wait for it, so turns complete in order.
    """
    assert item.audio is not None and item.transcript is not None
    config, beam, logprobs = _settings(session)
    streamed = session["type"] == "transcription" and speculative is None
    clip = Clip(item.audio, REALTIME_SAMPLE_RATE)
    if after is not None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(after)
    try:
        result = None
        if speculative is not None and not logprobs:
            with contextlib.suppress(Exception):
                result = await speculative
        if result is None and streamed and config:
            result = await asyncio.to_thread(_stream, engines, clip, item, config, beam, logprobs, emit)
        elif result is None:
            language = input_language(config) or "en"  # a speech-to-speech turn without one: English, no detection
            result = await asyncio.to_thread(functools.partial(
                languages.transcribe, engines, clip, language=language, prompt=(config or {}).get("prompt"),
                beam_size=beam or None, word_timestamps=logprobs))
            streamed = False
    except Exception as exc:  # noqa: BLE001 -- reported as transcription.failed
        item.transcript.set_result("")
        if config:
            emit({"type": "conversation.item.input_audio_transcription.failed", "item_id": item.id,
                  "content_index": 0, "error": {"type": "transcription_error", "code": "audio_unintelligible",
                                                "message": f"{type(exc).__name__}: {exc}"}})
        return
    text = result.text
    item.data["content"][0]["transcript"] = text
    item.transcript.set_result(text)
    if not config:
        return
    if not streamed:
        for k, segment in enumerate(result.segments):
            _emit_words(segment, k == 0, item, logprobs, emit)
    usage = ({"type": "duration", "seconds": round(clip.duration, 3)} if config.get("model") == "whisper-1"
             else _usage(engines, clip.duration, config.get("prompt"), result.n_tokens))
    emit({"type": "conversation.item.input_audio_transcription.completed", "item_id": item.id, "content_index": 0,
          "transcript": text, "usage": usage,
          **({"logprobs": _logprobs(result.segments)} if logprobs else {})})
