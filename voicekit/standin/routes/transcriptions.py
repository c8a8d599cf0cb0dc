"""``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations``.

Response bodies are built from the SDK's own models
(``openai.types.audio.Transcription``, ``TranscriptionVerbose``,
``TranscriptionTextDeltaEvent``, ...), so their shape is the SDK's by construction.

What the stand-in mirrors from OpenAI (API reference, "Create transcription"):

- ``whisper-1`` answers ``json``, ``text``, ``srt``, ``verbose_json`` and ``vtt``;
  ``timestamp_granularities[]`` needs ``verbose_json``; ``stream`` is ignored.
- The ``gpt-4o-*`` models answer ``json`` and ``text``, report token usage,
  support ``include[]=logprobs`` and stream ``transcript.text.delta`` events,
  one per decoded Whisper segment, then ``transcript.text.done``.
- An unknown model is a 404 ``model_not_found``; bad audio a 400.

- ``language`` is an ISO-639-1 code; one Whisper has no token for is a 400
  ``invalid_language_format`` naming it. Without ``language`` the language is
  detected and ``verbose_json`` reports it (``"language": "german"``).
- ``/v1/audio/translations`` translates speech in any language into English text.

What differs: every model name runs the same local Whisper (``gpt-4o-mini-transcribe``
greedily, the others with beam search, see :data:`BEAM_SIZES`): ``tiny.en`` for English,
the multilingual ``base`` for other languages and for translation, loaded on the first
request that needs it (:mod:`..engines.languages` says how the language is decided
without slowing English down). Audio tokens are Whisper encoder positions (50 per second),
not OpenAI's billing tokens.

A client that closes its connection before the answer (an SDK timeout, the cascaded agent
calling off a head start) stops Whisper's run at its next step (:mod:`._disconnect`).
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Iterator
from typing import Any

from openai.types.audio import (
    Transcription,
    TranscriptionSegment,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    TranscriptionWord,
    Translation,
    TranslationVerbose,
)
from openai.types.audio import transcription as tr
from openai.types.audio import transcription_text_delta_event as delta_ev
from openai.types.audio import transcription_text_done_event as done_ev
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from ..engines import Engines, SttResult, SttSegment, audio_tokens, languages
from ..engines.abandon import Abandoned
from ..engines.scheduling import ClosingStreamingResponse, upload_priority
from ..errors import OpenAIError, model_not_found
from ..models import BEAM_SIZES, TRANSCRIPTION_MODELS, TRANSLATION_MODELS
from ._disconnect import client_gone
from ._upload import form_bool, form_float, form_list, form_str, read_audio_form, sse
from ._wire import dump

__all__ = ["routes", "to_srt", "to_vtt"]

_WHISPER_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
_GPT_FORMATS = ("json", "text")


def _stamp(seconds: float, sep: str) -> str:
    ms = round(seconds * 1000)
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(segments: list[SttSegment]) -> str:
    """SubRip subtitles: numbered cues with ``HH:MM:SS,mmm`` times."""
    cues = [
        f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text.strip()}\n"
        for i, s in enumerate(segments, 1)
    ]
    return "\n".join(cues) + ("\n" if cues else "")


def to_vtt(segments: list[SttSegment]) -> str:
    """WebVTT subtitles: a ``WEBVTT`` header and ``HH:MM:SS.mmm`` cues."""
    cues = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text.strip()}\n" for s in segments]
    return "WEBVTT\n\n" + "\n".join(cues)




def _engines(request: Request) -> Engines:
    engines: Engines = request.app.state.engines
    return engines


def _check_model(model: str | None, allowed: tuple[str, ...]) -> str:
    if not model:
        raise OpenAIError(400, "you must provide a model parameter", param="model", code="missing_required_parameter")
    if model not in allowed:
        raise model_not_found(model)
    return model


def _check_format(model: str, fmt: str) -> str:
    allowed = _WHISPER_FORMATS if model == "whisper-1" else _GPT_FORMATS
    if fmt not in allowed:
        raise OpenAIError(
            400,
            f"response_format '{fmt}' is not compatible with model '{model}'. "
            f"Use one of: {', '.join(allowed)}.",
            param="response_format",
            code="unsupported_value",
        )
    return fmt


def _check_language(language: str | None) -> str | None:
    """``language`` as a code :func:`.languages.is_known` accepts, or None; else a 400 naming it.

    The message and code follow OpenAI's answer to an unknown language (``whisper-1``:
    "Invalid language 'xx'. Language parameter must be specified in ISO-639-1 format.").
    """
    if not language:
        return None
    code = language.strip().lower()
    if not languages.is_known(code):
        raise OpenAIError(
            400,
            f"Invalid language {language!r}. Language parameter must be specified in ISO-639-1 format "
            "(for example 'en', 'de', 'ja'); the stand-in's Whisper knows 99 such codes.",
            param="language",
            code="invalid_language_format",
        )
    return code


def _logprobs(result: SttResult) -> list[tr.Logprob]:
    """Per-word log probabilities from Whisper's word alignment."""
    return [
        tr.Logprob(token=w.word, bytes=[float(b) for b in w.word.encode()], logprob=math.log(max(w.probability, 1e-12)))
        for s in result.segments
        for w in s.words
    ]


def _usage_tokens(engines: Engines, duration: float, prompt: str | None, n_out: int) -> dict[str, Any]:
    n_audio = audio_tokens(duration)
    n_text = engines.stt.count_tokens(prompt) if prompt else 0
    return {
        "type": "tokens",
        "input_tokens": n_audio + n_text,
        "output_tokens": n_out,
        "total_tokens": n_audio + n_text + n_out,
        "input_token_details": {"audio_tokens": n_audio, "text_tokens": n_text},
    }


def _verbose(result: SttResult, *, words: bool, segments: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "language": result.language,
        "duration": result.duration,
        "text": result.text,
        "usage": {"type": "duration", "seconds": math.ceil(result.duration)},
    }
    if segments:
        body["segments"] = [
            dump(TranscriptionSegment(
                id=s.id, seek=s.seek, start=s.start, end=s.end, text=s.text, tokens=s.tokens,
                temperature=s.temperature, avg_logprob=s.avg_logprob,
                compression_ratio=s.compression_ratio, no_speech_prob=s.no_speech_prob,
            ))
            for s in result.segments
        ]
    if words:
        body["words"] = [
            dump(TranscriptionWord(word=w.word.strip(), start=w.start, end=w.end))
            for s in result.segments
            for w in s.words
        ]
    return body


async def _transcribe_or_translate(request: Request, *, translate: bool) -> Response:
    engines = _engines(request)
    form, clip, _ = await read_audio_form(request)
    model = _check_model(form_str(form, "model"), TRANSLATION_MODELS if translate else TRANSCRIPTION_MODELS)
    fmt = _check_format(model, form_str(form, "response_format") or "json")
    language = _check_language(form_str(form, "language")) if not translate else None
    prompt = form_str(form, "prompt")
    temperature = form_float(form, "temperature", 0.0, 1.0)
    granularities = form_list(form, "timestamp_granularities")
    for g in granularities:
        if g not in ("word", "segment"):
            raise OpenAIError(400, f"Invalid timestamp_granularities value {g!r}: expected 'word' or 'segment'.", param="timestamp_granularities", code="invalid_value")
    if granularities and fmt != "verbose_json":
        raise OpenAIError(
            400, "timestamp_granularities requires response_format=verbose_json.",
            param="timestamp_granularities", code="invalid_value",
        )
    include = form_list(form, "include")
    want_logprobs = "logprobs" in include
    if want_logprobs and (model == "whisper-1" or fmt != "json"):
        raise OpenAIError(400, "include[]=logprobs needs a gpt-4o transcription model and response_format=json.", param="include", code="invalid_value")
    stream = form_bool(form, "stream") and model != "whisper-1" and not translate
    want_words = "word" in granularities or want_logprobs

    if stream:
        return ClosingStreamingResponse(
            _stream_events(engines, clip, prompt, temperature, want_words, want_logprobs, BEAM_SIZES.get(model),
                           language),
            media_type="text/event-stream",
        )

    async with client_gone(request) as gone:  # a client that leaves (a dropped head start) stops Whisper
        try:
            result = await run_in_threadpool(  # a long file is batch work: Realtime and Live turns go first
                functools.partial(languages.transcribe, engines, clip, language=language,
                                  task="translate" if translate else "transcribe", prompt=prompt,
                                  temperature=temperature, word_timestamps=want_words, beam_size=BEAM_SIZES.get(model),
                                  timestamps=fmt in ("srt", "verbose_json", "vtt"),
                                  priority=upload_priority(clip.duration), abandon=gone),
            )
        except Abandoned:
            return Response(status_code=499)  # nobody reads it: the client closed the connection
    text = result.text
    if fmt == "text":
        return PlainTextResponse(text + "\n")
    if fmt == "srt":
        return PlainTextResponse(to_srt(result.segments))
    if fmt == "vtt":
        return PlainTextResponse(to_vtt(result.segments), media_type="text/vtt")
    if fmt == "verbose_json":
        body = _verbose(result, words="word" in granularities,
                        segments=not granularities or "segment" in granularities)
        model_cls = TranslationVerbose if translate else TranscriptionVerbose
        return JSONResponse({"task": "translate" if translate else "transcribe", **dump(model_cls(**body))})
    if translate:
        return JSONResponse(dump(Translation(text=text)))
    if model == "whisper-1":
        usage: Any = tr.UsageDuration(type="duration", seconds=math.ceil(result.duration))
    else:
        usage = _usage_tokens(engines, result.duration, prompt, result.n_tokens)
    body_t = Transcription(text=text, usage=usage, logprobs=_logprobs(result) if want_logprobs else None)
    return JSONResponse(dump(body_t))


def _stream_events(
    engines: Engines, clip: Any, prompt: str | None, temperature: float | None,
    words: bool, logprobs: bool, beam_size: int | None = None, language: str | None = None,
) -> Iterator[bytes]:
    """SSE body: one ``transcript.text.delta`` per decoded segment, then ``.done``.

    A sync generator: Starlette runs each step in its thread pool, so the
    engine decodes the next segment while the previous delta is on the wire.
    """
    priority = upload_priority(clip.duration)
    duration, segments = languages.stream(  # takes the lock step by step, never across a yield
        engines, clip, language=language, priority=priority,
        prompt=prompt, temperature=temperature, word_timestamps=words, beam_size=beam_size,
    )
    done: list[SttSegment] = []
    for seg in segments:
        delta = seg.text if done else seg.text.lstrip()
        done.append(seg)
        lp = [delta_ev.Logprob(**dump(x)) for x in _logprobs(SttResult([seg], "english", duration))] if logprobs else None
        yield sse(json.dumps(dump(TranscriptionTextDeltaEvent(type="transcript.text.delta", delta=delta, logprobs=lp))))
    result = SttResult(done, "english", duration)
    event = TranscriptionTextDoneEvent(
        type="transcript.text.done",
        text=result.text,
        logprobs=[done_ev.Logprob(**dump(x)) for x in _logprobs(result)] if logprobs else None,
        usage=done_ev.Usage(**_usage_tokens(engines, duration, prompt, result.n_tokens)),
    )
    yield sse(json.dumps(dump(event)))


async def create_transcription(request: Request) -> Response:
    return await _transcribe_or_translate(request, translate=False)


async def create_translation(request: Request) -> Response:
    return await _transcribe_or_translate(request, translate=True)


routes = [
    Route("/v1/audio/transcriptions", create_transcription, methods=["POST"]),
    Route("/v1/audio/translations", create_translation, methods=["POST"]),
]
