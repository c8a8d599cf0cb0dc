"""``Recorder``: a microphone recorder widget that hands the kernel PCM16 chunks and a Clip.

The browser side (``recorder.js``, no build step) captures with ``getUserMedia`` and an
AudioWorklet, converts to PCM16 mono at :attr:`Recorder.sample_rate` and sends one
custom message per ~100 ms chunk, its samples in a binary buffer (anywidget docs,
"Custom messages"). Audio never sits in a synced trait, so nothing of it is saved
into the notebook.

The kernel handles widget messages only between cells: no cell can wait in a loop
for a recording. Use :attr:`Recorder.clip` in a later cell, or :meth:`Recorder.on_clip`.

By default the browser's automatic gain control and noise suppression are off and its
echo cancellation is on (``processing="echo"``, see :data:`PROCESSING`): the gain
control drove a source peaking at 0.3 to full scale (32767) and clipped it. The level
meter shows **CLIP** when samples reach :data:`CLIP_DBFS` (-0.1 dBFS), and
:attr:`Recorder.clipped` counts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import anywidget
import numpy as np
import traitlets

from .._decode import check_rate as _check_rate
from ..audio import Clip
from ..errors import AudioFormatError, MicrophoneError
from ..formats import REALTIME_SAMPLE_RATE
from ._base import CSS, CallbackHandle, Callbacks, esm_with_hub, logger, new_uid, pcm16_from_buffer

__all__ = ["CLIP_DBFS", "PROCESSING", "AudioChunk", "Recorder", "RecorderStats"]

PROCESSING: dict[str, dict[str, bool]] = {
    "off": {"echoCancellation": False, "noiseSuppression": False, "autoGainControl": False},
    "echo": {"echoCancellation": True, "noiseSuppression": False, "autoGainControl": False},
    "browser": {"echoCancellation": True, "noiseSuppression": True, "autoGainControl": True},
}
"""The ``getUserMedia`` audio constraints (MDN, "MediaTrackConstraints") of each
:attr:`Recorder.processing` value.

- ``"off"``: the samples as the microphone gives them. For headphones, and to measure.
- ``"echo"`` (the default): echo cancellation only. Notebooks 04 to 07 play the reply
  from the speakers while the microphone is open. Without echo cancellation the
  microphone hears the reply, the server's VAD takes it for the user speaking, and the
  reply interrupts itself (barge-in). Echo cancellation leaves the level alone: in
  Chromium 156 a fake microphone peaking at 0.30 recorded at 0.35 with it and at 0.30
  without it.
- ``"browser"``: the browser's call defaults, all three on. Automatic gain control
  recorded that same 0.30 source at full scale, clipped.
"""

CLIP_DBFS = -0.1
"""A sample at or above this level (dBFS, relative to full scale 32768) counts as clipped."""

_CLIP_PCM16 = int(np.ceil(10 ** (CLIP_DBFS / 20) * 32768))  # 32393
_TRAIT_OF = {"echoCancellation": "echo_cancellation", "noiseSuppression": "noise_suppression",
             "autoGainControl": "auto_gain"}


@dataclass(frozen=True)
class AudioChunk:
    """One streamed piece of a recording.

    Attributes
    ----------
    seq : int
        Sequence number from 0 within one recording; consecutive when nothing was lost.
    clip : Clip
        The samples: PCM16 (``int16``) mono, shape ``(n_frames,)``, about 100 ms.
    sent_ms : float
        Browser wall clock when the chunk was sent, in ms since the Unix epoch
        (``performance.timeOrigin + performance.now()``, MDN "Performance.timeOrigin").
    received_ms : float
        Kernel wall clock when it arrived (``time.time() * 1000``).
    """

    seq: int
    clip: Clip
    sent_ms: float
    received_ms: float

    @property
    def latency_ms(self) -> float:
        """Browser-to-kernel delay in ms (both clocks are this machine's wall clock)."""
        return self.received_ms - self.sent_ms


@dataclass
class RecorderStats:
    """What arrived during the last recording: counts, order and latency.

    ``missing`` counts sequence numbers that never came; ``out_of_order`` counts
    chunks whose number was lower than one already seen; ``latencies_ms`` holds one
    browser-to-kernel delay per chunk, in ms. ``clipped`` counts samples at or above
    :data:`CLIP_DBFS`; ``peak_dbfs`` is the loudest sample in dBFS (-inf for silence).
    """

    chunks: int = 0
    expected_chunks: int | None = None
    missing: int = 0
    out_of_order: int = 0
    frames: int = 0
    clipped: int = 0
    peak_dbfs: float = float("-inf")
    latencies_ms: list[float] = field(default_factory=list)


class Recorder(anywidget.AnyWidget):
    """Record from the microphone in JupyterLab 4 or Notebook 7.

    Click **Record** (its accessible name turns to **Stop** while recording), or set
    ``recording = True`` from a cell. The widget shows the elapsed time, a live input
    level (RMS of each ~100 ms chunk, -60 to 0 dBFS) with a **CLIP** light, and a live
    waveform. The light turns on while samples reach :data:`CLIP_DBFS` (-0.1 dBFS), and
    stays on after a recording that clipped.

    Parameters
    ----------
    sample_rate : int
        Rate of :attr:`clip` in Hz (default 24,000, the Realtime rate). The browser's
        AudioContext resamples the microphone to it. Firefox cannot (it refuses to
        connect a microphone to an AudioContext at another rate): there the widget
        captures at the device's own rate, chunks carry that rate, and the finished
        :attr:`clip` is resampled to ``sample_rate`` with soxr.
    processing : {"echo", "off", "browser"}
        The browser's audio processing (:data:`PROCESSING`). Default ``"echo"``: echo
        cancellation on, so a reply playing from the speakers does not interrupt
        itself; automatic gain control and noise suppression off, so the level is the
        microphone's own and a quiet source is not driven into clipping. ``"off"`` for
        headphones or measurements; ``"browser"`` for the browser's call defaults.
    echo_cancellation, noise_suppression, auto_gain : bool or None
        Override one of the ``getUserMedia`` constraints ``echoCancellation``,
        ``noiseSuppression``, ``autoGainControl``; None (the default) follows
        ``processing``.

    Attributes
    ----------
    clip : Clip or None
        The last finished recording: PCM16 (``int16``) mono, shape ``(n_frames,)``, at
        ``sample_rate`` Hz. None until one finishes.
    error : str
        The last error shown in the widget ("" when none). :attr:`last_error` holds it
        as a :class:`~voicekit.errors.MicrophoneError`.
    stats : RecorderStats
        Chunk counts, losses and latencies of the current or last recording.
    constraints : dict
        The audio constraints asked of ``getUserMedia``: ``processing`` with the
        overrides applied.
    track_settings : dict
        What the browser applied to the microphone track in the last recording
        (``MediaStreamTrack.getSettings()``, MDN): for example ``autoGainControl``,
        ``echoCancellation``, ``noiseSuppression``, ``sampleRate``, ``deviceId``. A
        constraint the browser did not apply is logged as a warning: Chromium gives a
        new track the processing of a stream of the same microphone that is still open
        (an ``ipywebrtc`` ``CameraStream``, for example).
    clipped : int
        Samples at or above :data:`CLIP_DBFS` in the current or last recording, counted
        in the kernel from the PCM16 chunks (a synced trait; 0 when none).

    Raises
    ------
    AudioFormatError
        For a ``sample_rate`` outside 4,000 to 384,000 Hz.
    traitlets.TraitError
        For a ``processing`` value not in :data:`PROCESSING`.
    """

    _esm = esm_with_hub("recorder.js")
    _css = CSS
    _uid = traitlets.Unicode().tag(sync=True)
    recording = traitlets.Bool(False).tag(sync=True)
    sample_rate = traitlets.Int(REALTIME_SAMPLE_RATE).tag(sync=True)
    processing = traitlets.Enum(list(PROCESSING), "echo").tag(sync=True)
    echo_cancellation = traitlets.Bool(None, allow_none=True).tag(sync=True)
    noise_suppression = traitlets.Bool(None, allow_none=True).tag(sync=True)
    auto_gain = traitlets.Bool(None, allow_none=True).tag(sync=True)
    _constraints = traitlets.Dict().tag(sync=True)
    clipped = traitlets.Int(0).tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("_uid", new_uid())
        super().__init__(**kwargs)
        self.clip: Clip | None = None
        self.last_error: MicrophoneError | None = None
        self.stats = RecorderStats()
        self.track_settings: dict[str, Any] = {}
        self._chunks: list[np.ndarray] = []
        self._next_seq = 0
        self._rate = self.sample_rate
        self._on_clip: Callbacks[Clip] = Callbacks("on_clip")
        self._on_chunk: Callbacks[AudioChunk] = Callbacks("on_chunk")
        self._on_error: Callbacks[MicrophoneError] = Callbacks("on_error")
        for hooks in (self._on_clip, self._on_chunk):
            hooks.on_failure = self._callback_failed
        self._constraints = self.constraints
        self.on_msg(self._handle)

    @traitlets.validate("sample_rate")
    def _valid_rate(self, proposal: Any) -> int:
        return _check_rate(proposal["value"])

    @property
    def constraints(self) -> dict[str, bool]:
        """The ``getUserMedia`` audio constraints of the next recording (see :data:`PROCESSING`)."""
        asked = dict(PROCESSING[self.processing])
        for key, trait in _TRAIT_OF.items():
            value = getattr(self, trait)
            if value is not None:
                asked[key] = bool(value)
        return asked

    @traitlets.observe("processing", "echo_cancellation", "noise_suppression", "auto_gain")
    def _constraints_changed(self, _change: Any) -> None:
        self._constraints = self.constraints

    # ------------------------------------------------------------------ hooks
    # Registering again replaces (a re-run cell): see voicekit._callbacks.Callbacks.
    def on_clip(self, callback: Any, remove: bool = False) -> CallbackHandle:
        """Call ``callback(clip)`` with each finished recording (a :class:`Clip`).

        A function registered again under the same name (a re-run cell) replaces the
        earlier one. Returns a handle; ``handle.remove()`` takes it out."""
        return self._on_clip.register(callback, remove)

    def on_chunk(self, callback: Any, remove: bool = False) -> CallbackHandle:
        """Call ``callback(chunk)`` with each :class:`AudioChunk` (~100 ms) while recording.

        ``chunk.clip.sample_rate`` is :attr:`sample_rate`, or the device's own rate
        in browsers that cannot resample the microphone (Firefox); resample as needed.
        Replaced, not added, when registered again (as :meth:`on_clip`). A callback that
        raises (a closed session, say) shows its error in the widget (:attr:`error`).
        """
        return self._on_chunk.register(callback, remove)

    def on_error(self, callback: Any, remove: bool = False) -> CallbackHandle:
        """Call ``callback(error)`` with a :class:`MicrophoneError` when recording fails."""
        return self._on_error.register(callback, remove)

    def _callback_failed(self, what: str, exc: BaseException) -> None:
        message = f"{what} callback failed: {type(exc).__name__}: {exc}"
        if self.error != message:  # once, not once per chunk
            self.error = message

    def check(self) -> None:
        """Raise the last :class:`MicrophoneError`, if the last attempt to record failed."""
        if self.last_error is not None:
            raise self.last_error

    # --------------------------------------------------------------- messages
    def _handle(self, _widget: Any, content: dict[str, Any], buffers: list[Any]) -> None:
        kind = content.get("type")
        if kind == "start":
            self._chunks = []
            self._next_seq = 0
            self._rate = int(content.get("sample_rate", self.sample_rate))
            self.stats = RecorderStats()
            self.error = ""
            self.last_error = None
            self.clipped = 0
            self.track_settings = dict(content.get("settings") or {})
            self._check_settings(dict(content.get("constraints") or self.constraints))
        elif kind == "chunk":
            self._chunk(content, buffers)
        elif kind == "stop":
            self._stop(content)
        elif kind == "error":
            err = MicrophoneError(str(content.get("message", "recording failed")),
                                  str(content.get("kind", "unknown")))
            self.last_error = err
            self.error = str(err)
            logger.error("Recorder: %s (%s)", err, err.kind)
            self._on_error(err)
        else:
            logger.warning("Recorder: ignored a message of unknown type %r", kind)

    def _check_settings(self, asked: dict[str, Any]) -> None:
        differ = {k: (v, self.track_settings[k]) for k, v in asked.items()
                  if k in self.track_settings and self.track_settings[k] != v}
        if differ:
            logger.warning(
                "Recorder: the browser did not apply %s (asked, applied); another open "
                "stream of this microphone may hold other settings",
                ", ".join(f"{k}={a} -> {b}" for k, (a, b) in differ.items()))

    def _chunk(self, content: dict[str, Any], buffers: list[Any]) -> None:
        received = time.time() * 1000.0
        seq = int(content["seq"])
        if len(buffers) != 1:
            raise AudioFormatError(f"expected one PCM16 buffer in chunk {seq}, got {len(buffers)}")
        samples = pcm16_from_buffer(buffers[0], f"chunk {seq}")
        stats = self.stats
        if seq < self._next_seq:
            stats.out_of_order += 1
        elif seq > self._next_seq:
            stats.missing += seq - self._next_seq
            logger.warning("Recorder: chunks %d to %d never arrived", self._next_seq, seq - 1)
        self._next_seq = max(self._next_seq, seq + 1)
        stats.chunks += 1
        stats.frames += samples.size
        if samples.size:
            magnitude = np.abs(samples.astype(np.int32))
            peak = int(magnitude.max())
            if peak:
                stats.peak_dbfs = max(stats.peak_dbfs, float(20 * np.log10(peak / 32768)))
            n_clipped = int(np.count_nonzero(magnitude >= _CLIP_PCM16))
            if n_clipped:
                stats.clipped += n_clipped
                self.clipped = stats.clipped
        sent = float(content.get("t_ms", received))
        stats.latencies_ms.append(received - sent)
        self._chunks.append(samples)
        rate = int(content.get("sample_rate", self._rate))
        self._on_chunk(AudioChunk(seq, Clip(samples, rate), sent, received))

    def _stop(self, content: dict[str, Any]) -> None:
        self.stats.expected_chunks = int(content.get("chunks", self.stats.chunks))
        lost = self.stats.expected_chunks - self._next_seq
        if lost > 0:
            self.stats.missing += lost
            logger.warning("Recorder: the last %d chunk(s) never arrived", lost)
        if not self._chunks:
            logger.warning("Recorder: the recording stopped with no audio")
            return
        clip = Clip(np.concatenate(self._chunks), self._rate)
        if clip.sample_rate != self.sample_rate:  # captured at the device's rate (Firefox)
            clip = clip.resample(self.sample_rate).to_int16()
        self._chunks = []
        self.clip = clip
        self._on_clip(clip)
