"""Transcription quality and speed: word error rate on normalised text, real-time factor.

Sources
-------
- Text normalisation: Whisper's English normaliser (Radford et al., "Robust Speech
  Recognition via Large-Scale Weak Supervision", 2022, appendix C), as packaged by
  ``whisper-normalizer`` (``whisper_normalizer.english.EnglishTextNormalizer``, code
  copied from ``openai/whisper``'s ``whisper/normalizers``). It lower-cases, drops
  punctuation, brackets and fillers ("um", "uh"), expands contractions, writes
  numbers as digits ("eight" -> "8") and British spellings as American.
- Word error rate: ``jiwer`` (``jiwer.wer``), the word-level Levenshtein distance
  ``(S + D + I) / N`` over ``N`` reference words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import jiwer
from whisper_normalizer.english import EnglishTextNormalizer

__all__ = ["normalize_text", "rtf", "wer", "wer_many"]


@lru_cache(maxsize=1)
def _normalizer() -> EnglishTextNormalizer:
    # Built once: it loads a British-to-American spelling table from JSON.
    return EnglishTextNormalizer()


def normalize_text(text: str) -> str:
    """Normalise English text the way Whisper's evaluation does, before scoring.

    Parameters
    ----------
    text : str
        A transcript or reference, any case and punctuation.

    Returns
    -------
    str
        Lower case, no punctuation, numbers as digits, single spaces; for example
        ``"Eight of Spades!"`` -> ``"8 of spades"`` and ``"Mr. Dashwood"`` ->
        ``"mister dashwood"``. May be empty (``"Um, uh."`` -> ``""``).

    Notes
    -----
    Two additions to Whisper's rules, both to make it treat the two sides alike:

    - Words made only of periods are dropped. Whisper's normaliser turns a
      trailing ellipsis into a lone ``"."`` (``"Hello..."`` -> ``"hello ."``),
      which would count as an inserted word.
    - Neighbouring digit-only words are joined. Whisper's normaliser joins
      spelled-out digits (``"five five"`` -> ``"55"``) but leaves written ones
      apart (``"5 5"`` -> ``"5 5"``), so a correct transcript would cost two errors.
    """
    if not isinstance(text, str):
        raise TypeError(f"expected text as str, got {type(text).__name__} {text!r}")
    words: list[str] = []
    for w in str(_normalizer()(text)).split():
        if not w.strip("."):
            continue
        if w.isdigit() and words and words[-1].isdigit():
            words[-1] += w
        else:
            words.append(w)
    return " ".join(words)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate of one transcript, after :func:`normalize_text` on both sides.

    Parameters
    ----------
    reference : str
        What was said (the ground truth).
    hypothesis : str
        What the recogniser wrote.

    Returns
    -------
    float
        ``(substitutions + deletions + insertions) / reference words``, from
        ``jiwer.wer``: 0.0 is perfect; it can exceed 1.0 when the hypothesis
        inserts many words.

    Raises
    ------
    ValueError
        If the reference has no words after normalisation (the rate would divide by 0).
    """
    ref = normalize_text(reference)
    if not ref:
        raise ValueError(
            f"expected a reference with at least one word after normalisation, "
            f"got {reference!r} (normalised to '')"
        )
    return float(jiwer.wer(ref, normalize_text(hypothesis)))


def wer_many(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus word error rate over pairs, after :func:`normalize_text` on every text.

    The errors of all pairs are summed and divided by all reference words together
    (``jiwer.wer`` on lists), so long utterances weigh more than short ones. This is
    not the mean of the per-pair :func:`wer` values.

    Parameters
    ----------
    references : sequence of str
        Ground-truth texts.
    hypotheses : sequence of str
        Recogniser outputs, in the same order and of the same length.

    Returns
    -------
    float
        ``sum(S + D + I) / sum(N)``; 0.0 is perfect.

    Raises
    ------
    ValueError
        If the lengths differ, the sequences are empty, or no reference has a word
        after normalisation.
    TypeError
        If either argument is a single ``str`` (it is not a list of texts).
    """
    if isinstance(references, str) or isinstance(hypotheses, str):
        raise TypeError("expected sequences of texts, got a single str; use wer() for one pair")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"expected as many hypotheses as references, got {len(references)} references "
            f"and {len(hypotheses)} hypotheses"
        )
    if not references:
        raise ValueError("expected at least one reference/hypothesis pair, got none")
    refs = [normalize_text(r) for r in references]
    if not any(refs):
        raise ValueError(
            f"expected at least one reference with words after normalisation, got {references!r}"
        )
    return float(jiwer.wer(refs, [normalize_text(h) for h in hypotheses]))


def rtf(processing_seconds: float, audio_seconds: float) -> float:
    """Real-time factor: processing time divided by audio duration.

    Parameters
    ----------
    processing_seconds : float
        Wall-clock time spent, in seconds (for example from ``time.perf_counter()``).
    audio_seconds : float
        Duration of the audio processed, in seconds (``Clip.duration``).

    Returns
    -------
    float
        Below 1.0 is faster than real time: 0.25 means 10 s of audio took 2.5 s.

    Raises
    ------
    ValueError
        If ``audio_seconds`` is not a positive finite number or ``processing_seconds``
        is negative or not finite.
    """
    if not (math.isfinite(audio_seconds) and audio_seconds > 0):
        raise ValueError(f"expected audio_seconds > 0 s, got {audio_seconds!r}")
    if not (math.isfinite(processing_seconds) and processing_seconds >= 0):
        raise ValueError(f"expected processing_seconds >= 0 s, got {processing_seconds!r}")
    return float(processing_seconds) / float(audio_seconds)
