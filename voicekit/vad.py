"""Voice activity detection on the audio timeline: Silero VAD, streaming.

Shared by the stand-in's Realtime ``server_vad`` and the cascaded agent's
endpointing (:mod:`voicekit.agents.cascaded`), so both agents end turns alike.

The model is Silero VAD v6 (MIT), the ONNX file faster-whisper 1.2.1 ships
(``faster_whisper/assets/silero_vad_v6.onnx``), copied into ``voicekit/data`` so
the light install (no engines: the cascaded agent's VAD runs in the kernel) has it;
its SHA-256 is pinned (:data:`SILERO_SHA256`). onnxruntime runs it. It reads
16 kHz audio in windows of 512 samples (32 ms), each preceded by the last 64
samples of the window before, and carries a recurrent state ``(h, c)``
between calls, so feeding audio in any chunk sizes gives the same
probabilities as one call on the whole recording.

Turn detection follows OpenAI's ``server_vad`` ("Voice activity detection"
guide): speech starts at the first window whose probability reaches
``threshold``; it stops once the probability has stayed below
``threshold - 0.15`` for ``silence_duration_ms``. Times are positions in
the audio the client has appended (ms), never wall-clock time, so audio sent
faster than real time is segmented exactly as live audio.

While speech is pausing, the detector also reports ``speech_paused`` (once the
pause has lasted :data:`PAUSE_REPORT_MS`): an internal event, never sent to
the client, that lets the connection start Whisper on the turn so far while
the silence window runs (see :mod:`voicekit.standin.realtime.lookahead`).

With an end-of-turn model (settings whose ``turn_threshold`` is not None, as the
stand-in's ``semantic_vad``), a pause that reaches ``turn_check_ms`` of silence
stops the walk and sets :attr:`TurnDetector.check`: the turn's audio so far
(16 kHz float32, the last 8 s). The caller asks the model and passes its
probability to :meth:`TurnDetector.decide`: at or above ``turn_threshold`` the
turn ends there (``speech_stopped`` at the check point), below it the pause is
left to run, and ``silence_duration_ms`` becomes the longest wait. The decision
sits at a fixed point of the audio timeline, so the events do not depend on how
fast the audio comes or how long the model takes.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from .errors import VoiceKitError
from .formats import REALTIME_SAMPLE_RATE

__all__ = [
    "SILERO_PATH",
    "SILERO_SHA256",
    "SileroStream",
    "TurnCheck",
    "TurnDetector",
    "VadEvent",
    "VadSettings",
    "VadTiming",
    "load_silero",
]

VAD_SAMPLE_RATE = 16_000
"""Silero's input rate in Hz."""

WINDOW = 512
"""Samples per Silero window at 16 kHz (32 ms)."""

CONTEXT = 64
"""Samples of the previous window that precede each window."""

WINDOW_MS = WINDOW * 1000 / VAD_SAMPLE_RATE

NEG_THRESHOLD_GAP = 0.15
"""Hysteresis: speech ends below ``threshold - 0.15`` (Silero's ``neg_threshold`` default)."""

PAUSE_REPORT_MS = 32
"""A pause this long (one 32 ms window of silence) is reported as ``speech_paused``.

Speculative Whisper starts there, so the turn's transcript is ready early in the silence
window (figures: ``benchmarks/README.md``, "The pause reported after one window"). Runs started
at short gaps between words are dropped when speech goes on (:mod:`voicekit.standin.engines.abandon`)."""

TURN_AUDIO_S = 8
"""Seconds of a turn's audio an end-of-turn check carries (Smart Turn reads the last 8 s)."""

TURN_PREFIX_MS = 500
"""Audio before the speech start that a check includes (Pipecat's ``pre_speech_ms``)."""


class VadTiming(Protocol):
    """What :class:`TurnDetector` reads from its settings."""

    @property
    def threshold(self) -> float: ...  # speech probability, 0-1

    @property
    def silence_duration_ms(self) -> int: ...


@dataclass(frozen=True)
class VadSettings:
    """Turn detection settings, with OpenAI's ``server_vad`` defaults
    (``openai.types.realtime.RealtimeAudioInputTurnDetectionParam``: threshold
    0.5, prefix_padding_ms 300, silence_duration_ms 500)."""

    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    turn_threshold: float | None = None
    """With an end-of-turn model: the probability that ends a turn at a pause (None: no model)."""
    turn_check_ms: int = 256
    """Silence (ms) before the model is asked; ``silence_duration_ms`` is then the longest wait."""


SILERO_PATH = Path(__file__).parent / "data" / "silero_vad_v6.onnx"
"""The shipped Silero VAD v6 ONNX file (1.2 MB)."""

SILERO_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"
"""Its pinned digest, as in faster-whisper 1.2.1's assets (and the stand-in's ``_integrity`` pins)."""


@functools.cache
def load_silero() -> Any:
    """The Silero ONNX Runtime session (one per process, 1 thread; ``run`` is thread-safe).

    Raises
    ------
    VoiceKitError
        If the shipped model file is missing or fails its SHA-256 pin (reinstall voicekit).
    """
    import onnxruntime

    path = SILERO_PATH
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "no file"
    if digest != SILERO_SHA256:
        raise VoiceKitError(
            f"the Silero VAD model {path} failed its integrity check: expected SHA-256 "
            f"{SILERO_SHA256}, got {digest}. Reinstall voicekit."
        )
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"], sess_options=opts)


class SileroStream:
    """Speech probabilities for a stream of 24 kHz PCM16 audio.

    Input is resampled to 16 kHz with one streaming soxr resampler; every
    complete 32 ms window yields one probability in [0, 1].
    """

    def __init__(self, session: Any | None = None) -> None:
        import soxr

        self._session = session if session is not None else load_silero()
        self._resampler = soxr.ResampleStream(REALTIME_SAMPLE_RATE, VAD_SAMPLE_RATE, 1, dtype="float32")
        self._pending = np.zeros(0, np.float32)
        self._context = np.zeros(CONTEXT, np.float32)
        self._h = np.zeros((1, 1, 128), np.float32)
        self._c = np.zeros((1, 1, 128), np.float32)
        self.windows = 0
        """Windows scored so far; window ``k`` covers ``[32 k, 32 (k + 1))`` ms of the timeline."""
        self.keep_history = False
        """Keep the 16 kHz audio (:attr:`history`) for end-of-turn checks; off by default."""
        self.history = np.zeros(0, np.float32)
        """The most recent 16 kHz audio (float32), starting at 16 kHz sample :attr:`history_start`."""
        self.history_start = 0

    def feed(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
        """Score ``pcm`` (int16, shape ``(n,)``, 24 kHz); returns one probability per completed window."""
        x = self._resampler.resample_chunk(pcm.astype(np.float32) / 32768.0)
        if self.keep_history:
            self.history = np.concatenate([self.history, x])
        buf = np.concatenate([self._pending, x])
        n = buf.size // WINDOW
        self._pending = buf[n * WINDOW:]
        if n == 0:
            return np.zeros(0, np.float32)
        blocks = buf[: n * WINDOW].reshape(n, WINDOW)
        before = np.concatenate([self._context[None, :], blocks[:-1, -CONTEXT:]], axis=0)
        out, self._h, self._c = self._session.run(
            None, {"input": np.concatenate([before, blocks], axis=1), "h": self._h, "c": self._c}
        )
        self._context = blocks[-1, -CONTEXT:].copy()
        self.windows += n
        return np.asarray(out, np.float32).reshape(-1)

    def audio(self, start: int, end: int) -> npt.NDArray[np.float32]:
        """Kept 16 kHz audio for samples ``[start, end)`` (float32; what is no longer kept is left out)."""
        lo = max(0, start - self.history_start)
        return self.history[lo:max(lo, end - self.history_start)].copy()

    def forget_before(self, sample: int) -> None:
        """Drop kept audio before 16 kHz sample ``sample``."""
        drop = min(self.history.size, sample - self.history_start)
        if drop > 0:
            self.history = self.history[drop:]
            self.history_start += drop


@dataclass(frozen=True)
class VadEvent:
    """One turn event on the timeline.

    ``kind`` is ``"speech_started"`` (``ms`` = audio_start_ms),
    ``"speech_paused"`` (``ms`` = where the silence began; internal) or
    ``"speech_stopped"`` (``ms`` = audio_end_ms, ``pause_ms`` = where the
    silence that ended the turn began).
    """

    kind: str
    ms: int
    pause_ms: int | None = None


@dataclass(frozen=True)
class TurnCheck:
    """A pause to judge: ``audio`` (float32 ``(n,)``, 16 kHz, at most 8 s) is the turn up to
    ``ms`` on the timeline; its silence began at ``pause_ms``."""

    ms: int
    pause_ms: int
    audio: npt.NDArray[np.float32]


T = TypeVar("T", bound=VadTiming)


class TurnDetector(Generic[T]):
    """Speech start and stop on the appended-audio timeline (ms since the session's first audio).

    ``audio_end_ms`` includes the silence window, as OpenAI's does: it is the
    point in the audio where the turn was judged over.
    """

    def __init__(self, timing: T, stream: SileroStream | None = None, *, offset_ms: float = 0.0) -> None:
        self.timing = timing
        self.stream = stream or SileroStream()
        self.offset_ms = offset_ms
        """Where on the session's timeline this detector's first audio sits, in ms (a
        detector made when VAD is turned on again mid-session starts there)."""
        self.in_speech = False
        self._silence_since: float | None = None
        self._pause_reported = False
        self.check: TurnCheck | None = None
        """The pause waiting for :meth:`decide`; the walk stops there until then."""
        self._checked = False
        self._backlog: list[float] = []
        self._walked = self.stream.windows
        self._speech_window = 0

    @property
    def pausing(self) -> bool:
        """In a turn, and silent since the last window: the turn may end at this pause."""
        return self.in_speech and self._silence_since is not None

    @property
    def pause_ms(self) -> int | None:
        """Where the current pause began on the timeline (ms, as ``speech_stopped``'s
        ``pause_ms`` will give it), or None when not :attr:`pausing`."""
        return round(self._silence_since) if self.pausing and self._silence_since is not None else None

    def reset(self) -> None:
        """Forget the turn in progress (after a manual commit or a clear); the audio state stays."""
        self.in_speech = False
        self._silence_since = None
        self._pause_reported = False
        self._checked = False
        self.check = None

    def feed(self, pcm: npt.NDArray[np.int16]) -> list[VadEvent]:
        """Advance by ``pcm`` (int16 ``(n,)``, 24 kHz); returns the turn events it completes, in order.

        With an end-of-turn model the walk may stop at a pause (:attr:`check` set):
        later audio waits, already scored, until :meth:`decide`.
        """
        self.stream.keep_history = getattr(self.timing, "turn_threshold", None) is not None
        self._backlog.extend(self.stream.feed(pcm).tolist())
        return self._walk()

    def decide(self, probability: float) -> list[VadEvent]:
        """The model's answer for :attr:`check` (P(turn over), 0-1); returns the events it completes.

        Raises
        ------
        RuntimeError
            If no check is waiting.
        """
        check = self.check
        if check is None:
            raise RuntimeError("expected a pending end-of-turn check, found none")
        self.check = None
        events: list[VadEvent] = []
        if probability >= float(getattr(self.timing, "turn_threshold", 0.5)):
            events.append(VadEvent("speech_stopped", check.ms, check.pause_ms))
            self.in_speech = False
            self._silence_since = None
            self._pause_reported = False
            self._checked = False
        return events + self._walk()

    def _walk(self) -> list[VadEvent]:
        events: list[VadEvent] = []
        threshold = self.timing.threshold
        turn_threshold = getattr(self.timing, "turn_threshold", None)
        check_ms = float(getattr(self.timing, "turn_check_ms", 0))
        taken = 0
        for p in self._backlog:
            if self.check is not None:
                break
            taken += 1
            window = self._walked
            self._walked += 1
            start_ms = self.offset_ms + window * WINDOW_MS
            if not self.in_speech:
                if p >= threshold:
                    self.in_speech = True
                    self._silence_since = None
                    self._speech_window = window
                    events.append(VadEvent("speech_started", int(start_ms)))
                continue
            if p >= threshold:
                self._silence_since = None
                self._pause_reported = False
                self._checked = False
            elif p < threshold - NEG_THRESHOLD_GAP and self._silence_since is None:
                self._silence_since = start_ms
            end_ms = start_ms + WINDOW_MS
            if self._silence_since is None:
                continue
            silent_ms = end_ms - self._silence_since
            if silent_ms >= self.timing.silence_duration_ms:
                events.append(VadEvent("speech_stopped", round(end_ms), round(self._silence_since)))
                self.in_speech = False
                self._silence_since = None
                self._pause_reported = False
                self._checked = False
                continue
            if silent_ms >= PAUSE_REPORT_MS and not self._pause_reported:
                self._pause_reported = True
                events.append(VadEvent("speech_paused", round(self._silence_since)))
            if turn_threshold is not None and not self._checked and silent_ms >= check_ms:
                self._checked = True
                end = (window + 1) * WINDOW
                first = max(self._speech_window * WINDOW - TURN_PREFIX_MS * VAD_SAMPLE_RATE // 1000,
                            end - TURN_AUDIO_S * VAD_SAMPLE_RATE)
                self.check = TurnCheck(round(end_ms), round(self._silence_since), self.stream.audio(first, end))
        del self._backlog[:taken]
        if self.stream.keep_history:  # keep what a later check can still read
            start = self._speech_window if self.in_speech else self._walked
            self.stream.forget_before(max(start * WINDOW - TURN_PREFIX_MS * VAD_SAMPLE_RATE // 1000,
                                          self._walked * WINDOW - TURN_AUDIO_S * VAD_SAMPLE_RATE))
        return events
