"""``Scope``: a live waveform and spectrogram of a clip or of a stream of chunks.

The kernel does the numbers (numpy): per 10 ms column, the waveform's minimum and
maximum, and one short-time Fourier transform frame in dBFS. ``scope.js`` only draws
them on two canvases, with labelled axes as in :mod:`voicekit.plots`: time in s,
frequency in kHz, level in dBFS. Columns travel as binary buffers in custom messages, like the
audio of the other widgets. Static plots of a finished clip stay in
:mod:`voicekit.plots` (matplotlib).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import anywidget
import numpy as np
import numpy.typing as npt
import traitlets

from ..audio import Clip
from ..errors import AudioFormatError
from ..formats import REALTIME_SAMPLE_RATE, int16_to_float
from ._base import CSS, HERE, logger, new_uid
from .recorder import AudioChunk, Recorder

__all__ = ["Scope"]

HOP_S = 0.01  # one column per 10 ms
N_BINS = 128  # spectrogram rows sent to the browser
DB_FLOOR = -100.0  # dBFS drawn as black


class Scope(anywidget.AnyWidget):
    """Live waveform (top) and spectrogram (bottom), scrolling as audio arrives.

    Axes: time in s since the last :meth:`clear` (a new recording, under
    :meth:`follow`) along the bottom; the waveform's amplitude labelled in dBFS
    (0 at full scale, -6 at half, -inf at the centre line); the spectrogram's
    frequency in kHz, 0 Hz to half the sample rate, and a colour bar of its level in
    dBFS from ``db_floor`` to 0. Each canvas's ``aria-label`` names the time and
    frequency ranges shown.

    Parameters
    ----------
    window_s : float
        Seconds of audio shown (default 5 s); older columns scroll out.
    sample_rate : int
        Rate of the stream in Hz (default 24,000), fixed at construction; pushed
        clips are resampled to it.

    Attributes
    ----------
    db_floor : float
        The spectrogram's lowest level in dBFS, drawn black (``DB_FLOOR``, -100).

    Notes
    -----
    Each column covers 10 ms. The spectrogram frame is a Hann window of the first
    power of two at or above 25 ms (1,024 samples at 24 kHz), as in
    :func:`voicekit.plots.plot_spectrogram`, scaled so a full-scale sine reads
    0 dBFS, drawn from ``DB_FLOOR`` (-100 dBFS) to 0 dBFS over ``N_BINS`` rows from
    0 Hz to half the sample rate.
    """

    _esm = HERE / "scope.js"
    _css = CSS
    _uid = traitlets.Unicode().tag(sync=True)
    window_s = traitlets.Float(5.0).tag(sync=True)
    sample_rate = traitlets.Int(REALTIME_SAMPLE_RATE).tag(sync=True)
    n_bins = traitlets.Int(N_BINS).tag(sync=True)
    db_floor = traitlets.Float(DB_FLOOR, read_only=True).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("_uid", new_uid())
        super().__init__(**kwargs)
        self._hop = max(1, round(HOP_S * self.sample_rate))
        self._n_fft = int(2 ** np.ceil(np.log2(0.025 * self.sample_rate)))
        self._window = np.hanning(self._n_fft).astype(np.float32)
        self.n_bins = min(N_BINS, self._n_fft // 2)
        self._pending = np.zeros(0, np.float32)
        self._history = np.zeros(self._n_fft, np.float32)  # audio before _pending
        self._count = 0  # columns since the last clear
        self._cols: deque[tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]] = deque(
            maxlen=self._max_cols())
        self.on_msg(self._handle)

    def _max_cols(self) -> int:
        return max(1, round(self.window_s / HOP_S))

    # ------------------------------------------------------------------- API
    def show(self, clip: Clip) -> None:
        """Show a whole clip: clear, widen the window to its length, and push it."""
        self.clear()
        self.window_s = max(HOP_S, clip.duration)
        self._cols = deque(maxlen=self._max_cols())
        self.push(clip)

    def clear(self) -> None:
        """Forget everything shown."""
        self._pending = np.zeros(0, np.float32)
        self._history = np.zeros(self._n_fft, np.float32)
        self._count = 0
        self._cols.clear()
        self.send({"type": "reset"})

    def follow(self, recorder: Recorder) -> None:
        """Draw ``recorder``'s chunks as they arrive, clearing at each new recording."""
        recorder.on_chunk(self._on_chunk)

    def _on_chunk(self, chunk: AudioChunk) -> None:
        if chunk.seq == 0:
            self.clear()
        self.push(chunk.clip)

    def push(self, audio: Clip | npt.NDArray[np.int16]) -> None:
        """Append audio: a Clip (any rate, mixed to mono) or an int16 array at
        :attr:`sample_rate`. Draws every complete 10 ms column.

        Raises
        ------
        AudioFormatError
            For an array that is not int16 of shape ``(n_frames,)``.
        """
        if isinstance(audio, Clip):
            x = audio.to_mono().resample(self.sample_rate).to_float32().samples
        else:
            array = np.asarray(audio)
            if array.dtype != np.int16 or array.ndim != 1:
                raise AudioFormatError(
                    "expected a Clip or an int16 array of shape (n_frames,), "
                    f"got dtype {array.dtype} and shape {array.shape}")
            x = int16_to_float(array)
        self._pending = np.concatenate([self._pending, x])
        n = self._pending.size // self._hop
        if n == 0:
            return
        used = self._pending[: n * self._hop]
        self._pending = self._pending[n * self._hop:]
        waves, specs = self._columns(used, n)
        self._history = np.concatenate([self._history, used])[-self._n_fft:]
        for i in range(n):
            self._cols.append((waves[i], specs[i]))
        self._send_cols(waves, specs, self._count)
        self._count += n

    @property
    def n_columns(self) -> int:
        """Columns held now (at most ``window_s / 10 ms``)."""
        return len(self._cols)

    # -------------------------------------------------------------- internals
    def _columns(
        self, x: npt.NDArray[np.float32], n: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        blocks = x.reshape(n, self._hop)
        waves = np.stack([blocks.min(axis=1), blocks.max(axis=1)], axis=1).astype(np.float32)
        # Each STFT frame ends at the end of its 10 ms block (causal, for a live view).
        padded = np.concatenate([self._history, x])
        ends = self._n_fft + self._hop * (np.arange(n) + 1)
        frames = np.stack([padded[e - self._n_fft:e] for e in ends])
        mag = np.abs(np.fft.rfft(frames * self._window, axis=1))[:, : self._n_fft // 2]
        db = 20 * np.log10(np.maximum(mag / (self._window.sum() / 2), 1e-10))
        rows = db.reshape(n, self.n_bins, -1).max(axis=2)
        scaled = np.clip((rows - DB_FLOOR) / -DB_FLOOR, 0, 1) * 255
        return waves, scaled.astype(np.uint8)

    def _send_cols(self, waves: npt.NDArray[np.float32], specs: npt.NDArray[np.uint8],
                   start: int) -> None:
        self.send({"type": "cols", "n": int(waves.shape[0]), "bins": self.n_bins, "start": start},
                  buffers=[waves.astype("<f4").tobytes(), specs.tobytes()])

    def _handle(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        if content.get("type") != "need":
            logger.warning("Scope: ignored a message of unknown type %r", content.get("type"))
            return
        self.send({"type": "reset"})
        if self._cols:
            waves = np.stack([c[0] for c in self._cols])
            specs = np.stack([c[1] for c in self._cols])
            self._send_cols(waves, specs, self._count - len(self._cols))
