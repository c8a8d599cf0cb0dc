"""Turn-taking for the cascaded agent: microphone audio through the VAD, head starts, barge-in.

Used by :mod:`voicekit.agents.cascaded` (:class:`TurnTakingMixin` is a base of
``CascadedAgent``). The same Silero VAD with the same defaults as OpenAI's
``server_vad`` (:mod:`voicekit.vad`: threshold 0.5, 300 ms prefix padding, 500 ms
silence) decides when the user's turn ends. **Head start**: after a pause of
:data:`HEAD_START_PAUSE_MS` the answer starts behind the turn's gate, and is adopted if
the silence window ends the turn at that pause, else cancelled. Speech while the agent
answers is a **barge-in**.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session import pcm16_24k
from ..vad import TurnDetector, VadSettings
from .cascaded_turn import CascadedTurn, SttResult

if TYPE_CHECKING:
    from .._lifecycle import Lifecycle

__all__ = ["HEAD_START_PAUSE_MS", "TAIL_MS", "TurnTakingMixin"]

TAIL_MS = 200
"""Silence kept after the last speech in a VAD turn's audio, in ms."""

HEAD_START_PAUSE_MS = 100
"""A pause this long (ms) starts the head start. Shorter ones are mostly gaps between
words, and each false start would queue a transcription ahead of the real one."""


class TurnTakingMixin:
    """``feed`` and the VAD state behind it (``CascadedAgent``'s turn-taking)."""

    vad: VadSettings
    head_start: bool
    lifecycle: Lifecycle
    _lock: threading.RLock
    _detector: TurnDetector[VadSettings]
    _audio: npt.NDArray[np.int16]
    _audio_start_ms: float = 0.0
    _speech_from_ms: float = 0.0
    _speculation: tuple[float, CascadedTurn] | None = None
    _next_tool_choice: str | None = None

    if TYPE_CHECKING:
        @property
        def speaking(self) -> bool: ...
        def interrupt(self) -> CascadedTurn | None: ...
        def _new_turn(self, audio: Clip | None, text: str | None, silence_ms: float,
                      tool_choice: str | None) -> CascadedTurn: ...
        def _adopt(self, turn: CascadedTurn, t_end: float) -> None: ...
        def _submit(self, fn: Any, *args: Any) -> Future[Any]: ...
        def _guarded(self, turn: CascadedTurn) -> None: ...
        def _transcribe(self, audio: Clip) -> SttResult: ...

    def feed(self, audio: Clip | npt.NDArray[np.int16]) -> None:
        """Push microphone audio (a Clip, or int16 samples at 24 kHz) through the VAD.

        A pause starts the answer in the background (held until the turn ends
        there); the end of a turn releases it, or starts it; speech while the
        agent answers interrupts it (barge-in).

        Raises
        ------
        ClosedError
            If the agent was closed.
        """
        self.lifecycle.check()
        pcm = pcm16_24k(audio) if isinstance(audio, Clip) else np.asarray(audio, np.int16)
        with self._lock:
            self._audio = np.concatenate([self._audio, pcm])
            for ev in self._detector.feed(pcm):
                if ev.kind == "speech_started":
                    self._speech_from_ms = max(ev.ms - self.vad.prefix_padding_ms, self._audio_start_ms)
                    self._drop_speculation()
                    if self.speaking:
                        self.interrupt()
                elif ev.kind == "speech_stopped":
                    self._end_of_speech(ev.pause_ms if ev.pause_ms is not None else ev.ms)
            pause = self._detector.pause_ms
            fed_ms = self._audio_start_ms + self._audio.size * 1000 / REALTIME_SAMPLE_RATE
            if (self.head_start and pause is not None and fed_ms - pause >= HEAD_START_PAUSE_MS
                    and (self._speculation is None or self._speculation[0] != pause)):
                self._speculate(pause)
            if not self._detector.in_speech:  # keep only the prefix padding before speech
                keep = round((self.vad.prefix_padding_ms + 100) * REALTIME_SAMPLE_RATE / 1000)
                if self._audio.size > keep:
                    self._audio_start_ms += (self._audio.size - keep) * 1000 / REALTIME_SAMPLE_RATE
                    self._audio = self._audio[-keep:]

    def _reset_vad(self) -> None:
        self._detector = TurnDetector(self.vad)
        self._audio = np.zeros(0, np.int16)
        self._audio_start_ms = 0.0
        self._speech_from_ms = 0.0
        self._speculation = None

    def _turn_audio(self, until_ms: float) -> Clip:
        a = round((self._speech_from_ms - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        b = round((until_ms + TAIL_MS - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        return Clip(self._audio[max(a, 0):max(b, 1)].copy(), REALTIME_SAMPLE_RATE)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[1].cancelled.set()
            self._speculation = None

    def _speculate(self, pause_ms: float) -> None:
        """Head start at a pause: transcribe, answer and speak, all held behind the turn's gate."""
        self._drop_speculation()
        turn = self._new_turn(self._turn_audio(pause_ms), None, float(self.vad.silence_duration_ms),
                              self._next_tool_choice)
        assert turn.audio is not None
        turn.stt = self._submit(self._transcribe, turn.audio)
        self._speculation = (pause_ms, turn)
        self._submit(self._guarded, turn)

    def _end_of_speech(self, pause_ms: float) -> None:
        t_end = time.perf_counter()
        spec, self._speculation = self._speculation, None
        if spec is not None and spec[0] == pause_ms and not spec[1].cancelled.is_set():
            self._adopt(spec[1], t_end)  # the head start was for exactly this turn
            return
        if spec is not None:
            spec[1].cancelled.set()
        turn = self._new_turn(self._turn_audio(pause_ms), None, float(self.vad.silence_duration_ms),
                              self._next_tool_choice)
        self._adopt(turn, t_end)
        self._submit(self._guarded, turn)
