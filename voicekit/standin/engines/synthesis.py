"""Piper's speech in OpenAI's voice variants, sentence by sentence: what ``/v1/audio/speech``, chat audio and the Realtime and Live sessions speak with.

How the stand-in differs from OpenAI (voices, speed): see :mod:`voicekit.standin.routes.speech`.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from openai.types.audio import speech_create_params

from ...formats import SPEECH_PCM_SAMPLE_RATE, float_to_int16, int16_to_float
from .bundle import PiperEngine
from .scheduling import FIRST_PIECE, INTERACTIVE, locked_steps

__all__ = ["MAX_PIECE_CHARS", "OPENAI_VOICES", "VOICE_VARIANTS", "VoiceVariant", "bounded_pieces", "split_first_clause",
           "synthesize_pcm"]

OPENAI_VOICES: tuple[str, ...] = typing.get_args(typing.get_args(speech_create_params.Voice)[1])
"""Built-in voice names, read from the SDK's ``speech_create_params.Voice`` Literal."""



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
    sample_rate: int = SPEECH_PCM_SAMPLE_RATE, opening: bool = False,
) -> Iterator[npt.NDArray[np.int16]]:
    """Speak ``text`` sentence by sentence, resampled to ``sample_rate`` Hz.

    Piper speaks each sentence at its natural pace; Signalsmith Stretch (the
    ``python-stretch`` package) then scales its duration by exactly
    ``1 / speed`` and moves its pitch by the voice's factor, both without
    changing the other. Piper's own ``length_scale`` is not used for speed: its
    per-phoneme minimum makes ``speed=2`` only about 1.6 times faster.
    Holds ``tts.lock`` while synthesising each piece, never while the caller has it.
    With ``opening=True`` (``text`` begins a response) the first piece takes the lock at
    :data:`.scheduling.FIRST_PIECE`, ahead of other sessions' later pieces; the rest,
    and every piece otherwise, at :data:`.scheduling.INTERACTIVE`.

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
    parts = [part for head in split_first_clause(text) for part in bounded_pieces(head)]
    pieces = (
        pcm
        for i, part in enumerate(parts)
        for pcm in locked_steps(  # the lock is never held across a yield
            tts.lock, tts.stream(part, noise_scale=v.noise_scale, noise_w_scale=v.noise_w_scale),
            FIRST_PIECE if opening and i == 0 else INTERACTIVE)
    )
    for pcm in pieces:
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
