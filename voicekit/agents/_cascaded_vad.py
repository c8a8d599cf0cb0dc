"""Turn-taking for the cascaded agent: microphone audio through the VAD, head starts, barge-in.

Used by :mod:`voicekit.agents.cascaded`: a ``CascadedAgent`` owns one :class:`TurnTaker`,
which reaches the agent only through :class:`TurnHost`. The same Silero VAD with the same defaults as OpenAI's
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
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session import pcm16_24k
from ..vad import PAUSE_REPORT_MS, TurnDetector, VadSettings
from .cascaded_turn import CascadedTurn, SttResult

__all__ = ["HEAD_START_PAUSE_MS", "TAIL_MS", "TurnHost", "TurnTaker"]

TAIL_MS = 200
"""Silence kept after the last speech in a VAD turn's audio, in ms."""

HEAD_START_PAUSE_MS = PAUSE_REPORT_MS
"""A pause this long (ms) starts the head start: one 32 ms VAD window of silence, when the
Realtime stand-in starts its own (:data:`voicekit.vad.PAUSE_REPORT_MS`). Many such pauses
are gaps between words; a head start dropped there calls its transcription off on the
wire (:mod:`._cancellable_stt`), so it does not hold Whisper ahead of the real one."""


class TurnHost(Protocol):
    """What turn-taking needs from its agent: settings, the lock, and making and running turns."""

    vad: VadSettings
    head_start: bool
    _lock: threading.RLock

    @property
    def speaking(self) -> bool: ...
    def interrupt(self) -> CascadedTurn | None: ...
    def _new_turn(self, audio: Clip | None, text: str | None, silence_ms: float,
                  tool_choice: str | None) -> CascadedTurn: ...
    def _adopt(self, turn: CascadedTurn, t_end: float) -> None: ...
    def _submit(self, fn: Any, *args: Any) -> Future[Any]: ...
    def _guarded(self, turn: CascadedTurn) -> None: ...
    def _transcribe(self, audio: Clip, cancelled: threading.Event | None = None) -> SttResult: ...


class TurnTaker:
    """The VAD state of one agent's microphone, and what a pause or the end of a turn starts.

    Attributes
    ----------
    next_tool_choice : str or None
        The ``tool_choice`` of the turns started from now on (None: the agent's).
    """

    _detector: TurnDetector[VadSettings]
    _audio: npt.NDArray[np.int16]  # 24 kHz: the current speech, or the prefix padding before it
    _audio_start_ms: float  # where _audio starts on the fed timeline
    _speech_from_ms: float
    _speculation: tuple[float, CascadedTurn, float, float] | None
    # (pause ms, its head-start turn, the timeline's end then in ms, time.perf_counter() then)

    def __init__(self, agent: TurnHost) -> None:
        self._agent = agent
        self.next_tool_choice: str | None = None
        self.reset()

    def feed(self, audio: Clip | npt.NDArray[np.int16]) -> None:
        """Push microphone audio (a Clip, or int16 samples at 24 kHz) through the VAD
        (see :meth:`voicekit.agents.CascadedAgent.feed`)."""
        agent = self._agent
        pcm = pcm16_24k(audio) if isinstance(audio, Clip) else np.asarray(audio, np.int16)
        with agent._lock:
            self._audio = np.concatenate([self._audio, pcm])
            for ev in self._detector.feed(pcm):
                if ev.kind == "speech_started":
                    self._speech_from_ms = max(ev.ms - agent.vad.prefix_padding_ms, self._audio_start_ms)
                    self.drop_speculation()
                    if agent.speaking:
                        agent.interrupt()
                elif ev.kind == "speech_stopped":
                    self._end_of_speech(ev.pause_ms if ev.pause_ms is not None else ev.ms, ev.ms)
            pause = self._detector.pause_ms
            fed_ms = self._audio_start_ms + self._audio.size * 1000 / REALTIME_SAMPLE_RATE
            if (agent.head_start and pause is not None and fed_ms - pause >= HEAD_START_PAUSE_MS
                    and (self._speculation is None or self._speculation[0] != pause)):
                self._speculate(pause, fed_ms)
            if not self._detector.in_speech:  # keep only the prefix padding before speech
                keep = round((agent.vad.prefix_padding_ms + 100) * REALTIME_SAMPLE_RATE / 1000)
                if self._audio.size > keep:
                    self._audio_start_ms += (self._audio.size - keep) * 1000 / REALTIME_SAMPLE_RATE
                    self._audio = self._audio[-keep:]

    def reset(self) -> None:
        """Forget the audio and the VAD's state."""
        self._detector = TurnDetector(self._agent.vad)
        self._audio = np.zeros(0, np.int16)
        self._audio_start_ms = 0.0
        self._speech_from_ms = 0.0
        self._speculation = None

    def _turn_audio(self, until_ms: float) -> Clip:
        a = round((self._speech_from_ms - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        b = round((until_ms + TAIL_MS - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        return Clip(self._audio[max(a, 0):max(b, 1)].copy(), REALTIME_SAMPLE_RATE)

    def drop_speculation(self) -> None:
        """Cancel the head start in progress, if any."""
        if self._speculation is not None:
            self._speculation[1].cancelled.set()
            self._speculation = None

    def _speculate(self, pause_ms: float, fed_ms: float) -> None:
        """Head start at a pause: transcribe, answer and speak, all held behind the turn's gate."""
        agent = self._agent
        self.drop_speculation()
        turn = agent._new_turn(self._turn_audio(pause_ms), None, float(agent.vad.silence_duration_ms),
                               self.next_tool_choice)
        assert turn.audio is not None
        turn.stt = agent._submit(agent._transcribe, turn.audio, turn.cancelled)  # called off when dropped
        self._speculation = (pause_ms, turn, fed_ms, time.perf_counter())
        agent._submit(agent._guarded, turn)

    def _end_of_speech(self, pause_ms: float, end_ms: float) -> None:
        """The VAD ended the turn at ``pause_ms``; ``end_ms`` is where on the timeline it knew
        (the pause plus the silence window)."""
        agent = self._agent
        t_end = time.perf_counter()
        spec, self._speculation = self._speculation, None
        if spec is not None and spec[0] == pause_ms and not spec[1].cancelled.is_set():
            # The end of speech on the microphone's clock: the silence window ran on from the
            # head start at the speed of speech. Audio that reaches the kernel late (a busy
            # kernel, a burst of chunks) would otherwise put it after the held reply, and
            # voice-to-voice would read 0 ms for a reply the user waited seconds for.
            _, turn, fed_ms, t_spec = spec
            agent._adopt(turn, min(t_end, t_spec + max(0.0, end_ms - fed_ms) / 1000))
            return
        if spec is not None:
            spec[1].cancelled.set()
        turn = agent._new_turn(self._turn_audio(pause_ms), None, float(agent.vad.silence_duration_ms),
                               self.next_tool_choice)
        agent._adopt(turn, t_end)
        agent._submit(agent._guarded, turn)
