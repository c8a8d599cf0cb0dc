"""Whisper's encoder on a window the clip's length instead of 30 s.

faster-whisper (1.2.1, ``transcribe.py``, ``generate_segments``) pads every window's
log-mel features with zeros to 3,000 frames (30 s, ``pad_or_trim``) before the
CTranslate2 encoder, whose cost grows with the frames it is given; ``chunk_length``
does not change that. CTranslate2's ``Whisper.encode`` accepts fewer frames.
:class:`ShortWindowWhisper` wraps the CTranslate2 model of a
``faster_whisper.WhisperModel`` and, for a window whose speech is short, cuts the
zero padding to :func:`window_frames` before ``encode``.

Exactly the clip's length makes ``tiny.en`` loop on some clips, so the window keeps a
margin of padding (``benchmarks/whisper_window.py`` measured the rule; figures in
``benchmarks/README.md``, "Whisper's encoder window"). If a decoder pass on a short
window still looks like a loop (faster-whisper's own test: the gzip compression ratio of
its text over 2.4, or more text tokens than :data:`MAX_TOKENS_PER_S` per second of
window; the pass stops there), or writes no words, or may be dropped as silence
(``no_speech_prob`` over faster-whisper's 0.6: ``cards_004.wav``, "five five", came out
empty at beam 1 on a short window), that window is encoded again at 3,000 frames and the pass re-run on it; later
passes of the same window (faster-whisper's temperature fallback, word alignment) use
the 30 s encoding too.

Segment times came out different on a short window (up to 6 s on a segment boundary),
so only runs whose times nobody reads take it (:meth:`ShortWindowWhisper.stepped`):
Realtime and GPT-Live turns, ``json``/``text`` transcriptions and streamed ones; a run
that returns segment or word times (``verbose_json``, ``srt``, ``vtt``, word timestamps)
keeps 30 s windows.

``VOICEKIT_WHISPER_WINDOW`` (seconds, default :data:`DEFAULT_FLOOR_S`, 15) is the
shortest window; 30 turns the short window off.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_END = object()

__all__ = ["DEFAULT_FLOOR_S", "DEFAULT_MARGIN_S", "FULL_FRAMES", "MAX_CLIP_S", "MAX_TOKENS_PER_S", "ShortWindowWhisper",
           "floor_from_env", "looks_like_loop", "window_frames"]

FULL_FRAMES = 3000
"""Log-mel frames of Whisper's 30 s window (faster-whisper's ``nb_max_frames``)."""

FRAMES_PER_S = 100
"""Log-mel frames per second (hop of 160 samples at 16 kHz)."""

DEFAULT_MARGIN_S = 2.0
"""Seconds of padding kept after the speech of a window."""

DEFAULT_FLOOR_S = 15.0
"""The shortest window, in seconds (the rule ``benchmarks/whisper_window.py`` kept). Its saving,
its word error rate against 30 s, and the near-ties that flip either way are measured in
``benchmarks/README.md``, "Whisper's encoder window"."""

MAX_CLIP_S = 20.0
"""A window with more speech than this keeps 30 s (its saving is small, its risk untested)."""

MAX_TOKENS_PER_S = 8.0
"""More text tokens than this per second of window (plus 10) reads as a loop: speech is 2-5 tokens/s.
A pass on a short window also stops there (``max_length``; plus 20 for timestamp tokens), so a
loop costs that much decoding before the 30 s re-run, not Whisper's 448 tokens."""

NO_SPEECH_THRESHOLD = 0.6
"""faster-whisper's default ``no_speech_threshold``: over it (with a low log probability) a window is dropped as silence."""

COMPRESSION_RATIO_THRESHOLD = 2.4
"""faster-whisper's default ``compression_ratio_threshold`` (its temperature fallback's loop test)."""


def floor_from_env() -> float:
    """Segment times came out different on a short window (up to 6 s on a segment boundary),
so only runs whose times nobody reads take it (:meth:`ShortWindowWhisper.stepped`):
Realtime and GPT-Live turns, ``json``/``text`` transcriptions and streamed ones; a run
that returns segment or word times (``verbose_json``, ``srt``, ``vtt``, word timestamps)
keeps 30 s windows.

``VOICEKIT_WHISPER_WINDOW`` in seconds (default :data:`DEFAULT_FLOOR_S`; 30 or more: off).

    Raises
    ------
    ValueError
        If the variable is set but not a positive number.
    """
    raw = os.environ.get("VOICEKIT_WHISPER_WINDOW", "").strip()
    if not raw:
        return DEFAULT_FLOOR_S
    value = float(raw)
    if not value > 0:
        raise ValueError(f"VOICEKIT_WHISPER_WINDOW must be a positive number of seconds, not {raw!r}")
    return value


def window_frames(content: int, *, margin_s: float = DEFAULT_MARGIN_S, floor_s: float = DEFAULT_FLOOR_S,
                  max_clip_s: float = MAX_CLIP_S) -> int:
    """Frames to encode for a window with ``content`` log-mel frames of audio.

    ``max(content + margin, floor)``, rounded up to an even count (the encoder's first
    convolution has stride 2), at most :data:`FULL_FRAMES`; :data:`FULL_FRAMES` when
    ``content`` is over ``max_clip_s`` or ``floor_s`` is 30 s or more.
    """
    if floor_s * FRAMES_PER_S >= FULL_FRAMES or content > max_clip_s * FRAMES_PER_S:
        return FULL_FRAMES
    n = max(content + math.ceil(margin_s * FRAMES_PER_S), math.ceil(floor_s * FRAMES_PER_S))
    return min(FULL_FRAMES, n + n % 2)


def looks_like_loop(text: str, n_tokens: int, frames: int) -> bool:
    """Whether a decoder pass's ``text`` (``n_tokens`` text tokens, on a window of
    ``frames`` log-mel frames) reads as a loop: compression ratio over 2.4
    (faster-whisper's ``get_compression_ratio``), or over :data:`MAX_TOKENS_PER_S`."""
    data = text.strip().encode("utf-8")
    if data and len(data) / len(zlib.compress(data)) > COMPRESSION_RATIO_THRESHOLD:
        return True
    return n_tokens > MAX_TOKENS_PER_S * frames / FRAMES_PER_S + 10


def content_frames(features: np.ndarray) -> int:
    """Frames up to the last that is not all zeros (faster-whisper pads with zeros), over
    a batch of shape ``(batch, n_mels, frames)``."""
    nonzero = np.flatnonzero(np.any(features != 0, axis=(0, 1)))
    return int(nonzero[-1]) + 1 if nonzero.size else 0


class ShortWindowWhisper:
    """A CTranslate2 ``Whisper`` whose ``encode`` cuts faster-whisper's zero padding to
    :func:`window_frames`, with a 30 s re-encode for a pass that looks like a loop.

    Parameters
    ----------
    model : ctranslate2.models.Whisper
        The model to wrap (or anything with its ``encode``/``generate``/``align``/``detect_language``).
    decode : callable
        Text of a list of token ids (the ``tokenizers`` tokenizer's ``decode``).
    eot : int
        The end-of-text token id: ids at or above it are special (timestamps, ...).
    floor_s, margin_s : float
        As in :func:`window_frames`; ``floor_s`` of 30 or more encodes every window at 30 s.

    Attributes
    ----------
    encoded : collections.deque of int
        The frame counts of the newest 256 encoder calls (what tests read).
    """

    def __init__(self, model: Any, decode: Callable[[list[int]], str], eot: int, *,
                 floor_s: float = DEFAULT_FLOOR_S, margin_s: float = DEFAULT_MARGIN_S) -> None:
        self._model = model
        self._decode = decode
        self._eot = eot
        self.floor_s = floor_s
        self.margin_s = margin_s
        self.encoded: collections.deque[int] = collections.deque(maxlen=256)
        self.loops = 0  # decoder passes re-run at 30 s
        self._local = threading.local()  # per thread (Whisper replicas): the last short window, whether allowed

    def stepped(self, short: bool, steps: Iterator[T]) -> Iterator[T]:
        """Yield from ``steps`` (a faster-whisper segment generator on this model), its
        windows encoded short if ``short`` (else at 30 s, faster-whisper's own), per thread."""
        while True:
            self._local.allowed = short
            try:
                item = next(steps, _END)
            finally:
                self._local.allowed = False
            if item is _END:
                return
            yield item  # type: ignore[misc]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        import ctranslate2

        self._local.short = None
        array = np.asarray(features)
        if array.ndim != 3 or array.shape[-1] != FULL_FRAMES:
            self.encoded.append(int(array.shape[-1]))
            return self._model.encode(features, to_cpu=to_cpu)
        n = window_frames(content_frames(array), margin_s=self.margin_s, floor_s=self.floor_s)
        if not getattr(self._local, "allowed", False):
            n = FULL_FRAMES
        self.encoded.append(n)
        if n >= FULL_FRAMES:
            return self._model.encode(features, to_cpu=to_cpu)
        output = self._model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(array[..., :n])),
                                    to_cpu=to_cpu)
        # (the short encoding, the 30 s features, frames, the 30 s encoding once made)
        self._local.short = [output, features, n, None, to_cpu]
        return output

    def _full(self, encoder_output: Any) -> Any:
        """The 30 s encoding that replaces ``encoder_output`` if a pass on it looped, else it."""
        short = getattr(self._local, "short", None)
        if short is not None and short[0] is encoder_output and short[3] is not None:
            return short[3]
        return encoder_output

    def generate(self, encoder_output: Any, prompts: Any, *args: Any, **kwargs: Any) -> Any:
        encoder_output = self._full(encoder_output)
        short = getattr(self._local, "short", None)
        if short is None or short[0] is not encoder_output:
            return self._model.generate(encoder_output, prompts, *args, **kwargs)
        cap = max(len(p) for p in prompts) + math.ceil(MAX_TOKENS_PER_S * short[2] / FRAMES_PER_S) + 20
        capped = {**kwargs, "max_length": min(int(kwargs.get("max_length", cap)), cap)}
        results = self._model.generate(encoder_output, prompts, *args, **capped)
        if not self._looped(results, short[2]):
            return results
        self.loops += 1
        self.encoded.append(FULL_FRAMES)
        short[3] = self._model.encode(short[1], to_cpu=short[4])
        return self._model.generate(short[3], prompts, *args, **kwargs)

    def _looped(self, results: Sequence[Any], frames: int) -> bool:
        for result in results:
            if getattr(result, "no_speech_prob", 0.0) > NO_SPEECH_THRESHOLD:
                return True  # faster-whisper may drop the window as silence: check that on 30 s
            for ids in result.sequences_ids:
                text_ids = [t for t in ids if t < self._eot]
                text = self._decode(text_ids)
                if not text.strip():
                    return True  # no words from a window with speech in it (cards_004, beam 1)
                if looks_like_loop(text, len(text_ids), frames):
                    return True
        return False

    def align(self, encoder_output: Any, *args: Any, **kwargs: Any) -> Any:
        return self._model.align(self._full(encoder_output), *args, **kwargs)

    def detect_language(self, encoder_output: Any, *args: Any, **kwargs: Any) -> Any:
        return self._model.detect_language(self._full(encoder_output), *args, **kwargs)
