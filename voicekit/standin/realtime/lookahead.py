"""Work started before a turn ends: speculative Whisper and the reply's head start.

Speculative transcription: when VAD reports a pause in speech
(``speech_paused``, after :data:`voicekit.vad.PAUSE_REPORT_MS`), Whisper starts
on the turn so far while the silence window (``silence_duration_ms``) runs. If
the turn then ends at that same pause, the committed item reuses that
transcript, so with live (real-time) audio the reply does not wait for Whisper
after ``speech_stopped``. If speech resumes, the result is dropped, and the run
is abandoned at its next encoder or decoder call (:mod:`..engines.abandon`): at
most one speculative run is in flight, and the newest pause waits for it, so a
stale run would otherwise hold Whisper while the pause that ends the turn
waits (5 of 18 paced turns had no run started inside their window). A queued
pause that speech has resumed after is dropped too. The
transcript is of the audio up to the pause; the committed audio adds only the
silence after it.

When that transcript is ready and the user is still silent, the LLM starts on
it (:mod:`.headstart`); the response adopts it if the turn ends at that pause.

:class:`Lookahead` is a mixin of :class:`.connection.RealtimeConnection`,
which owns the state it reads (the buffer on the 24 kHz timeline, the
detector, the session). None of this changes what the client receives.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Awaitable
from typing import Any

import numpy as np
import numpy.typing as npt

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector
from ..engines import Engines, SttResult, languages
from ..engines.abandon import Abandoned
from ..engines.llm import Turn
from ..timings import TurnClock
from .config import ResponseConfig, reply_max_tokens, speech_of
from .conversation import Conversation
from .headstart import HeadStart
from .session import input_language
from .transcription import REALTIME_BEAM_SIZE

__all__ = ["MIN_COMMIT_MS", "Lookahead", "ms_to_samples", "samples_to_ms"]

log = logging.getLogger("voicekit.standin.realtime")

MIN_COMMIT_MS = 100
"""OpenAI refuses to commit less than 100 ms of input audio."""


def ms_to_samples(ms: float) -> int:
    """Samples at 24 kHz in ``ms`` milliseconds."""
    return round(ms * REALTIME_SAMPLE_RATE / 1000)


def samples_to_ms(n: int) -> int:
    """Whole milliseconds in ``n`` samples at 24 kHz."""
    return n * 1000 // REALTIME_SAMPLE_RATE


class Lookahead:
    """Speculative Whisper runs and head starts, keyed by their timeline span ``(first sample, pause ms)``."""

    engines: Engines
    session: dict[str, Any]
    conversation: Conversation
    buffer: npt.NDArray[np.int16]
    buffer_start: int
    timeline: int
    detector: TurnDetector[Any] | None
    speech_item_id: str | None
    active_task: asyncio.Task[None] | None
    _closing: bool
    _speculation: tuple[tuple[int, int], asyncio.Future[SttResult]] | None
    _speculation_wanted: tuple[int, int] | None
    _speculation_abandon: threading.Event | None
    _head_start: tuple[tuple[int, int], HeadStart] | None
    _pause_clock: tuple[tuple[int, int], TurnClock] | None

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        raise NotImplementedError

    def responding(self) -> bool:
        raise NotImplementedError

    def response_config(self, overrides: dict[str, Any]) -> ResponseConfig:
        raise NotImplementedError

    def _speculate(self, start: int, pause_ms: int) -> None:
        """Start Whisper on timeline ``[start, pause_ms)`` unless a run is in flight (then queue this one)."""
        if self._speculation is not None and not self._speculation[1].done():
            self._speculation_wanted = (start, pause_ms)  # the latest pause wins
            if self._speculation_abandon is not None:  # the turn went on after that run's pause
                self._speculation_abandon.set()
            return
        self._speculation_wanted = None
        end = min(self.timeline, ms_to_samples(pause_ms))
        if end - start < ms_to_samples(MIN_COMMIT_MS):
            return
        clip = Clip(self.buffer[start - self.buffer_start: end - self.buffer_start].copy(), REALTIME_SAMPLE_RATE)
        config = self.session["audio"]["input"]["transcription"] or {}
        abandon = self._speculation_abandon = threading.Event()
        task = self.spawn(asyncio.to_thread(functools.partial(  # the language of transcribe_item's turn (English by default)
            languages.transcribe, self.engines, clip, language=input_language(config) or "en",
            prompt=config.get("prompt"), beam_size=REALTIME_BEAM_SIZE, abandon=abandon)))
        log.debug("speculative transcription of [%d, %d) ms", samples_to_ms(start), pause_ms)
        self._speculation = ((start, pause_ms), task)
        clock = TurnClock(self.session.get("id"))
        clock.mark("stt_start")
        self._pause_clock = ((start, pause_ms), clock)
        task.add_done_callback(lambda _task: clock.mark("stt_done"))
        task.add_done_callback(self._speculation_finished)

    def _abandon_stale(self) -> None:
        """Abandon the speculative run in flight if speech went on after its pause (call after each VAD feed)."""
        spec, abandon = self._speculation, self._speculation_abandon
        if (spec is not None and abandon is not None and not spec[1].done()
                and (self.detector is None or self.detector.pause_ms != spec[0][1])):
            abandon.set()

    def _speculation_finished(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not isinstance(task.exception(), Abandoned):
            log.warning("speculative transcription failed: %r", task.exception())
        wanted, self._speculation_wanted = self._speculation_wanted, None
        if (wanted is not None and not self._closing and self.speech_item_id is not None and wanted[0] >= self.buffer_start
                and self.detector is not None and self.detector.pause_ms == wanted[1]):  # else speech went on: stale
            self._speculate(*wanted)
        elif wanted is None and self._speculation is not None and self._speculation[1] is task:
            self._start_head(self._speculation[0], task)

    def _start_head(self, key: tuple[int, int], task: asyncio.Future[Any]) -> None:
        """Start the LLM on the turn as transcribed so far (:mod:`.headstart`), if the VAD
        will answer it by itself, the user is still silent and no response is running."""
        detector = self.detector
        if (self._closing or task.cancelled() or task.exception() is not None or detector is None
                or not detector.timing.create_response or not detector.pausing or self.speech_item_id is None
                or self.responding() or (self.active_task is not None and not self.active_task.done())):
            return
        text = task.result().text.strip()
        if not text:
            return
        config = self.response_config({})
        turns = self.conversation.turns(self.conversation.items(), config.instructions) + [Turn("user", text)]
        self._drop_head_start()
        head = HeadStart(self.engines.llm, turns, tools=config.tools, tool_choice=config.tool_choice,
                         max_tokens=reply_max_tokens(config), tts=self.engines.tts, speech=speech_of(config),
                         clock=self._clock_for(key))
        self._head_start = (key, head)
        log.debug("head start for [%d, %d) ms", samples_to_ms(key[0]), key[1])

    def _clock_for(self, key: tuple[int, int | None]) -> TurnClock:
        """The stage clock of the speculation on ``key`` (:mod:`..timings`), else a new one."""
        kept = self._pause_clock
        if kept is not None and kept[0] == key:
            return kept[1]
        return TurnClock(self.session.get("id"))

    def _take_head_start(self, start: int, pause_ms: int | None) -> HeadStart | None:
        """The head start made for exactly ``[start, pause_ms)``; any other is closed."""
        kept, self._head_start = self._head_start, None
        if kept is None:
            return None
        if kept[0] != (start, pause_ms):
            kept[1].close()
            return None
        return kept[1]

    def _drop_head_start(self) -> None:
        if self._head_start is not None:
            log.debug("head start for [%d, %d) ms dropped", samples_to_ms(self._head_start[0][0]),
                      self._head_start[0][1])
            self._head_start[1].close()
            self._head_start = None

    def _take_speculation(self, start: int, pause_ms: int | None) -> asyncio.Future[SttResult] | None:
        """The speculative transcript of ``[start, pause_ms)``, if one was started for exactly that."""
        spec, self._speculation = self._speculation, None
        self._speculation_wanted = None
        if spec is None or pause_ms is None or spec[0] != (start, pause_ms):
            log.debug("no speculative transcript for [%d, %s) ms (had %s)", samples_to_ms(start), pause_ms,
                      spec and spec[0])
            return None
        log.debug("speculative transcript reused (%s)", "ready" if spec[1].done() else "running")
        return spec[1]
