"""The phrases of a Realtime translation session, built from its server events.

A translation session has no items and no responses: the server streams three kinds of
append-only deltas, each with ``elapsed_ms``, the point of the *input* timeline (ms of
audio appended) it belongs to, in 200 ms steps (SDK models
``RealtimeTranslationInputTranscriptDeltaEvent``, ``...OutputTranscriptDeltaEvent``,
``...OutputAudioDeltaEvent`` in ``openai.types.realtime``). Nothing marks where a phrase
ends, so :class:`PhraseBook` groups the deltas itself:

- a delta whose ``elapsed_ms`` is more than :data:`PHRASE_GAP_MS` after the current
  phrase's last one, or that comes after a translation ending a sentence, starts a new
  phrase; every other delta (and one without ``elapsed_ms``) joins the current phrase.

The stand-in translates phrase by phrase (at pauses of 700 ms, phrases of 1.5 s or more),
all of a phrase's deltas with one ``elapsed_ms``: there a :class:`Phrase` is exactly one of
its phrases. OpenAI streams as the speaker goes, ``elapsed_ms`` 200 ms apart: there a
phrase runs to the end of a translated sentence, and the source text may run ahead of it.

The lag of a phrase is measured from the moment the client had sent the input up to the
phrase's first ``elapsed_ms`` (the end of the source phrase on the stand-in) to the first
translated text and to the first translated audio.
"""

from __future__ import annotations

import bisect
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE

if TYPE_CHECKING:
    from ..widgets import TranslationLines

__all__ = ["AUDIO_DELTA", "OUTPUT_DELTA", "PHRASE_GAP_MS", "SOURCE_DELTA", "Phrase", "PhraseBook", "SentLog"]

logger = logging.getLogger("voicekit.realtime")

SOURCE_DELTA = "session.input_transcript.delta"
OUTPUT_DELTA = "session.output_transcript.delta"
AUDIO_DELTA = "session.output_audio.delta"

PHRASE_GAP_MS = 400
"""A delta more than this many ms of input after the current phrase's last one starts a
new phrase (two of OpenAI's 200 ms frames; the stand-in's phrases are 1.5 s apart or more)."""

_SENTENCE_END = (".", "!", "?", "…", "。", "！", "？")


@dataclass
class Phrase:
    """One phrase: its source text, its translation, the translated audio and its lag.

    Attributes
    ----------
    index : int
        Position in :attr:`TranslationSession.phrases`.
    elapsed_ms : int or None
        The ``elapsed_ms`` of its first delta: ms of input audio (the end of the source
        phrase on the stand-in). None when the server sent none.
    end_ms : int or None
        The ``elapsed_ms`` of its latest delta.
    source : str
        The source-language transcript deltas joined (empty unless the session has
        ``audio.input.transcription``).
    translation : str
        The translated transcript deltas joined.
    audio_chunks : list of ndarray
        The translated audio deltas, int16 mono, 24,000 Hz.
    source_sent_s : float or None
        When the client had sent the input up to :attr:`elapsed_ms`, s since the
        session's connection opened.
    first_source_s, first_text_s, first_audio_s : float or None
        When its first source delta, translated text delta and audio delta arrived (same clock).
    """

    index: int
    elapsed_ms: int | None = None
    end_ms: int | None = None
    source: str = ""
    translation: str = ""
    audio_chunks: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)
    source_sent_s: float | None = None
    first_source_s: float | None = None
    first_text_s: float | None = None
    first_audio_s: float | None = None

    @property
    def text_lag_ms(self) -> float | None:
        """ms from the end of the source phrase being sent to its first translated text, or None."""
        return _lag(self.source_sent_s, self.first_text_s)

    @property
    def audio_lag_ms(self) -> float | None:
        """ms from the end of the source phrase being sent to its first translated audio, or None."""
        return _lag(self.source_sent_s, self.first_audio_s)

    @property
    def audio(self) -> Clip | None:
        """The translated audio (PCM16 mono, 24,000 Hz), or None before any arrived."""
        if not self.audio_chunks:
            return None
        return Clip(np.concatenate(self.audio_chunks), REALTIME_SAMPLE_RATE)


def _lag(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else 1000.0 * (end - start)


class SentLog:
    """When each amount of input audio had been sent: ``(samples so far, time)`` per append."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self.times: list[float] = []

    @property
    def total(self) -> int:
        """Samples (24 kHz) sent so far."""
        return self.samples[-1] if self.samples else 0

    def add(self, n: int, now: float) -> None:
        """``n`` more samples went out at ``now`` (s)."""
        self.samples.append(self.total + n)
        self.times.append(now)

    def sent_at(self, elapsed_ms: int | None) -> float | None:
        """When the input up to ``elapsed_ms`` had been sent, or None (not yet, or unknown)."""
        if elapsed_ms is None:
            return None
        i = bisect.bisect_left(self.samples, round(elapsed_ms * REALTIME_SAMPLE_RATE / 1000))
        return self.times[i] if i < len(self.times) else None


class PhraseBook:
    """Phrases in order, built from the translation deltas, mirrored into a TranslationLines.

    Parameters
    ----------
    lines : TranslationLines, optional
        Each phrase is one row: source beside translation, keyed by :attr:`conversation`.
    sent : SentLog
        When the input was sent (for the lag).
    """

    def __init__(self, lines: TranslationLines | None, sent: SentLog) -> None:
        self.lines = lines
        self.sent = sent
        self.phrases: list[Phrase] = []
        self.conversation = ""

    def handle(self, data: dict[str, Any], now: float, pcm: npt.NDArray[np.int16] | None = None) -> Phrase | None:
        """Apply one server event (JSON) received at ``now`` s (``pcm``: an audio delta's
        samples, already decoded); returns the phrase it touched, else None."""
        kind = data.get("type")
        if kind not in (SOURCE_DELTA, OUTPUT_DELTA, AUDIO_DELTA):
            return None
        phrase = self._phrase_for(data.get("elapsed_ms"))
        if kind == SOURCE_DELTA:
            phrase.source += data.get("delta") or ""
            phrase.first_source_s = phrase.first_source_s if phrase.first_source_s is not None else now
        elif kind == OUTPUT_DELTA:
            phrase.translation += data.get("delta") or ""
            phrase.first_text_s = phrase.first_text_s if phrase.first_text_s is not None else now
        else:
            if pcm is not None:
                phrase.audio_chunks.append(pcm)
            phrase.first_audio_s = phrase.first_audio_s if phrase.first_audio_s is not None else now
        self._show(phrase)
        return phrase

    def _phrase_for(self, elapsed: int | None) -> Phrase:
        last = self.phrases[-1] if self.phrases else None
        if last is not None and (elapsed is None or last.end_ms is None or not self._starts_new(last, elapsed)):
            if elapsed is not None:
                last.end_ms = max(elapsed, last.end_ms or 0)
            return last
        phrase = Phrase(len(self.phrases), elapsed, elapsed, source_sent_s=self.sent.sent_at(elapsed))
        self.phrases.append(phrase)
        return phrase

    @staticmethod
    def _starts_new(last: Phrase, elapsed: int) -> bool:
        assert last.end_ms is not None
        if elapsed - last.end_ms > PHRASE_GAP_MS:
            return True
        return elapsed > last.end_ms and last.translation.rstrip().endswith(_SENTENCE_END)

    def _show(self, phrase: Phrase) -> None:
        if self.lines is None:
            return
        try:
            self.lines.show(phrase.index, phrase.source.strip(), phrase.translation.strip(),
                            lag_ms=phrase.text_lag_ms, conversation=self.conversation)
        except Exception:  # a failing widget must not end the session
            logger.exception("TranslationLines.show failed")
