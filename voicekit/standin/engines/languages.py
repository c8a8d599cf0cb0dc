"""Which Whisper hears a request: ``tiny.en`` for English, the multilingual ``base`` otherwise.

OpenAI's transcription models take an optional ``language`` (ISO-639-1) and
otherwise detect it (API reference, "Create transcription"). The stand-in:

- ``language="en"``: Whisper ``tiny.en``, exactly as before;
- another known code: the multilingual Whisper (:meth:`.bundle.Engines.multilingual`),
  loaded on first need;
- no ``language``: the *language gate*, below; English stays on ``tiny.en``.

The language gate
-----------------
Whisper's own language identification (``detect_language``: one encoder pass of
the multilingual model on the first 30 s, one decoder step) would be the simplest
detector, but it needs the multilingual model for every request. Measured on
2 cores under load 3.7-6 (``../shared/audio``, 9 English clips of 1-7 s): loading
it took 1.8 s and 260 MB RSS (``tiny.en`` takes 99 MB), and detection itself
1.5-2.9 s a clip, as long as ``tiny.en``'s whole transcription of those clips
(0.5-2.1 s). Run first, it would double English latency and more than triple
the memory, against the issue's +5% limit.

So ``tiny.en`` decodes first, at temperature 0 only (no fallback schedule), and
its own confidence decides. On speech it cannot understand, ``tiny.en`` either
writes low-probability English-sounding words or falls into a repetition loop
("Thank you very much" again and again). Measured at temperature 0, beam 5:

==================  ==============================  =========================
clips               mean ``avg_logprob`` (by time)  max ``compression_ratio``
==================  ==============================  =========================
9 English           -0.24 to -0.68                  0.27 to 1.15
de, ja              -1.01, -1.03                    1.04, 1.31
es, fr, it          -0.27 to -0.37                  10.7 to 24.9 (loops)
==================  ==============================  =========================

The gate calls speech English when the duration-weighted mean ``avg_logprob``
is at least :data:`GATE_LOGPROB` (-0.85, midway) and no segment's compression
ratio exceeds :data:`GATE_COMPRESSION` (2.4, Whisper's own fallback threshold):
all 14 clips on the right side. That is a small sample: a false "not English"
only costs the detection (the multilingual model then says ``en`` and
``tiny.en`` answers), a false "English" gives an English-sounding transcript.

When the gate says English and no segment would have triggered Whisper's
fallback (``avg_logprob`` < -1 or compression > 2.4), the temperature-0 decode
*is* the answer ``tiny.en`` would have given with its fallback schedule, so
English pays nothing: on the 9 English clips, each was decoded once, to the same
text as with ``language="en"``, and the multilingual model never loaded.
Otherwise the multilingual model detects the language and transcribes (or
translates) with it.

The price is paid by other languages sent without ``language``: ``tiny.en``'s
decode comes first, and a repetition loop runs to Whisper's 448-token limit
(6-9 s for the es/fr/it clips at load 6 on 2 cores, against 1.1-2.2 s for English
clips). Passing ``language`` skips it; the Realtime translation API, whose input is
expected not to be English, identifies the language with ``base`` directly (:func:`detect`).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from ...audio import Clip
from .bundle import Engines, SttResult, SttSegment, WhisperEngine
from .multilingual import language_codes
from .scheduling import INTERACTIVE, locked_steps

__all__ = ["GATE_COMPRESSION", "GATE_LOGPROB", "compression_ratio", "detect", "is_known", "looks_english", "stream", "transcribe"]

GATE_LOGPROB = -0.85
"""Least duration-weighted mean ``avg_logprob`` of ``tiny.en``'s segments for speech it calls English."""

GATE_COMPRESSION = 2.4
"""Greatest compression ratio of a segment the gate calls English (Whisper's fallback threshold)."""

FIRST_WINDOW_S = 30.0
"""Whisper's window: :func:`stream` gates on the segments of the first one."""

_FALLBACK_LOGPROB = -1.0  # faster-whisper's log_prob_threshold: below it, Whisper retries hotter


def is_known(code: str) -> bool:
    """Whether the multilingual Whisper has a language token for ``code`` (``"de"``, ``"haw"``...)."""
    return code in language_codes()


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: UTF-8 length over zlib-compressed length (``whisper/utils.py``)."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def looks_english(segments: list[SttSegment]) -> bool:
    """The language gate on ``tiny.en``'s segments (see the module docstring). No speech counts as English.

    The compression ratio is taken per segment and over the joined text of the first 30 s
    (Whisper judges a window's text; a long English text compresses well by itself): a loop
    can be one long segment or many short ones ("Thank you very much." each time).
    """
    if not segments:
        return True
    weights = [max(s.end - s.start, 0.01) for s in segments]
    mean = sum(s.avg_logprob * w for s, w in zip(segments, weights, strict=True)) / sum(weights)
    first_window = "".join(s.text for s in segments if s.start < FIRST_WINDOW_S)  # as Whisper: per 30 s window
    ratio = max(compression_ratio(first_window), *(s.compression_ratio for s in segments))
    return mean >= GATE_LOGPROB and ratio <= GATE_COMPRESSION


def _needs_fallback(segments: list[SttSegment]) -> bool:
    return any(s.avg_logprob < _FALLBACK_LOGPROB or s.compression_ratio > GATE_COMPRESSION for s in segments)


def detect(engines: Engines, clip: Clip, priority: int = INTERACTIVE) -> tuple[WhisperEngine, str]:
    """Whisper ``base``'s language identification of ``clip``: ``(the multilingual engine, code)``.

    Loads the multilingual model if needed. For input that is expected not to be English
    (the Realtime translation API), this is cheaper than the gate: ``tiny.en`` can spend
    seconds looping on speech it does not understand.
    """
    ml = engines.multilingual()
    with ml.lock.hold(priority):
        code, _ = ml.detect_language(clip)
    return ml, code


def transcribe(
    engines: Engines, clip: Clip, *, language: str | None = None, task: str = "transcribe",
    priority: int = INTERACTIVE, **kwargs: Any,
) -> SttResult:
    """Transcribe (or, ``task="translate"``, translate into English) in the right language.

    Parameters
    ----------
    clip : Clip
        Any rate and channel count.
    language : str, optional
        An ISO-639-1 code :func:`is_known` accepts; None detects it (the gate above).
    task : {"transcribe", "translate"}
        Whisper's task; English speech "translates" to its transcription.
    kwargs
        As :meth:`.bundle.WhisperEngine.stream` (``prompt``, ``temperature``, ...).

    Returns
    -------
    SttResult
        Its ``language`` is Whisper's name of the language heard or given (``"german"``).

    Raises
    ------
    StandinError
        If the multilingual model is needed and cannot load.
    """
    if language == "en":
        return engines.stt.transcribe(clip, priority=priority, **kwargs)
    if language:
        return engines.multilingual().transcribe(clip, priority=priority, language=language, task=task, **kwargs)
    first = engines.stt.transcribe(clip, priority=priority, fallback=False, **kwargs)
    if looks_english(first.segments):
        if kwargs.get("temperature") or not _needs_fallback(first.segments):
            return first
        return engines.stt.transcribe(clip, priority=priority, **kwargs)
    ml, code = detect(engines, clip, priority)
    if code == "en":
        return engines.stt.transcribe(clip, priority=priority, **kwargs)
    return ml.transcribe(clip, priority=priority, language=code, task=task, **kwargs)


def stream(
    engines: Engines, clip: Clip, *, language: str | None = None, task: str = "transcribe",
    priority: int = INTERACTIVE, **kwargs: Any,
) -> tuple[float, Iterator[SttSegment]]:
    """:func:`transcribe`, lazily: ``(duration_s, segments)``, each segment decoded as iterated.

    Takes the engines' lock itself, step by step (:func:`.bundle.locked_steps`), never
    across a ``yield``. Without ``language``, ``tiny.en``'s segments of the first 30 s, decoded
    at temperature 0 only (as :func:`transcribe`'s gate), pass the gate or send the whole
    clip to the multilingual model. The gate never sees a sampled decode: the fallback
    schedule samples at temperatures above 0, and a sampled English phrase ("Thank you
    very much.") can pass the gate on French speech. English whose first window needs
    the fallback is decoded again from the start with the schedule. So English without
    ``language`` streams its first window's segments together, once that window is
    decoded; later windows stream one by one, at temperature 0 when the first window
    did not need the schedule. With ``language="en"`` every segment streams as decoded.
    """
    def run(engine: WhisperEngine, **extra: Any) -> tuple[float, Iterator[SttSegment]]:
        with engine.lock.hold(priority):
            duration, segments = engine.stream(clip, **kwargs, **extra)
        return duration, locked_steps(engine.lock, segments, priority)

    if language == "en":
        return run(engines.stt)
    if language:
        return run(engines.multilingual(), language=language, task=task)
    gate_kwargs = {} if kwargs.get("temperature") else {"fallback": False}
    duration, segments = run(engines.stt, **gate_kwargs)
    head: list[SttSegment] = []  # the first 30 s window's segments decide
    for seg in segments:
        head.append(seg)
        if seg.end >= FIRST_WINDOW_S or seg.seek > head[0].seek:
            break
    if looks_english(head):
        if gate_kwargs and _needs_fallback(head):
            getattr(segments, "close", lambda: None)()
            return run(engines.stt)

        def chained() -> Iterator[SttSegment]:
            yield from head
            yield from segments
        return duration, chained()
    getattr(segments, "close", lambda: None)()  # tiny.en stops decoding this clip
    ml, code = detect(engines, clip, priority)
    if code == "en":
        return run(engines.stt)
    return run(ml, language=code, task=task)

