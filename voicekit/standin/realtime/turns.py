"""The input audio buffer and its turns: appends, server VAD, commits and clears.

Audio is PCM16 at 24 kHz, int16 ``(n,)``. VAD runs on the audio timeline
(:class:`voicekit.vad.TurnDetector`), never the clock. A turn that ends makes
a user item of the audio from speech start minus ``prefix_padding_ms`` to the
end of speech, emitting ``input_audio_buffer.speech_started``,
``speech_stopped``, ``committed``, then ``conversation.item.added`` and
``conversation.item.done`` (OpenAI API reference, "Realtime server events").
``input_audio_buffer.commit`` refuses less than 100 ms
(``input_audio_buffer_commit_empty``), as OpenAI does.

:class:`InputTurns` is a mixin of :class:`.connection.RealtimeConnection`,
which sends the events and runs the responses.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector, VadEvent
from ..engines import SttResult
from ..engines.turn_model import smart_turn
from ..timings import TurnClock, record
from .conversation import Item, user_audio_item
from .events import RealtimeProtocolError, new_id
from .headstart import HeadStart
from .lookahead import MIN_COMMIT_MS, Lookahead, ms_to_samples
from .response import ResponseRun
from .session import vad_timing

__all__ = ["InputTurns"]

log = logging.getLogger("voicekit.standin.realtime")


class InputTurns(Lookahead):
    """The buffer (``buffer`` from timeline sample ``buffer_start``), the detector and the turn in progress."""

    speech_start_ms: int
    active: ResponseRun | None
    idle_task: asyncio.Task[None] | None
    _auto: tuple[asyncio.Future[Any], HeadStart | None] | None
    _arrivals: deque[tuple[int, float]]
    _judging: asyncio.Future[None] | None = None
    """The running Smart Turn check (:meth:`_judge`), if any."""

    @property
    def transcribing(self) -> bool:
        raise NotImplementedError

    def emit(self, event: dict[str, Any]) -> None:
        raise NotImplementedError

    def transcribe_later(self, item: Item, speculative: asyncio.Future[SttResult] | None = None) -> None:
        raise NotImplementedError

    async def respond_after_active(self, overrides: dict[str, Any], head_start: HeadStart | None = None,
                                   clock: TurnClock | None = None) -> None:
        raise NotImplementedError

    def configure_vad(self) -> None:
        """Follow the session's ``turn_detection`` (keeping the detector's audio state)."""
        timing = vad_timing(self.session["audio"]["input"]["turn_detection"])
        if timing is None:
            self.detector = None
            self.speech_item_id = None
        elif self.detector is None:  # VAD on again after manual turns: ms stay on the session's timeline
            self.detector = TurnDetector(timing, offset_ms=1000.0 * self.timeline / REALTIME_SAMPLE_RATE)
        else:
            self.detector.timing = timing

    async def append_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """Add audio to the buffer and run VAD over it (never waiting for the turn model: :meth:`_judge`)."""
        self.buffer = np.concatenate([self.buffer, pcm])
        self.timeline += pcm.size
        self._arrivals.append((self.timeline, time.monotonic()))
        if self.detector is None:
            return
        detector = self.detector
        await self._turn_events(detector.feed(pcm))
        if detector.check is not None and self._judging is None:
            self._judging = self.spawn(self._judge(detector))

    async def _turn_events(self, events: list[VadEvent]) -> None:
        """Act on the detector's events, in order (none of this waits: events cannot interleave)."""
        for event in events:
            if self.detector is None:
                return
            if event.kind == "speech_started":
                await self._speech_started(event.ms)
            elif event.kind == "speech_paused":
                if not self.transcribing:
                    self._speculate(self._turn_start(), event.ms)
            else:
                await self._speech_stopped(event)
        if self.detector is not None and self._head_start is not None and not self.detector.pausing:
            self._drop_head_start()  # the user talks again: that reply will not be given
        self._abandon_stale()

    async def _judge(self, detector: TurnDetector[Any]) -> None:
        """semantic_vad: Smart Turn judges each pause the detector stopped at, in a thread, as a task.

        :meth:`append_audio` never waits for it, so a WebRTC track's frames keep being read;
        audio that comes meanwhile waits, scored, in the detector, and the turn ends at the same
        audio position at any pace. A model that fails counts as "not finished": the longest
        wait ends the turn.
        """
        try:
            while (check := detector.check) is not None and self.detector is detector:
                try:
                    p = await asyncio.to_thread(smart_turn().probability, check.audio)
                except Exception:
                    log.exception("Smart Turn failed; the pause runs to semantic_vad's longest wait")
                    p = 0.0
                if self.detector is not detector or detector.check is not check:
                    continue  # VAD turned off, or the buffer committed or cleared meanwhile
                await self._turn_events(detector.decide(p))
        finally:
            self._judging = None

    async def turn_judged(self) -> None:
        """Wait for a running Smart Turn check: a client event sent after some audio (a commit,
        a clear) then acts after VAD has walked that audio, as it did when appends waited."""
        if self._judging is not None:
            await asyncio.shield(self._judging)

    def _turn_start(self) -> int:
        """First sample of the turn in progress: speech start minus ``prefix_padding_ms``, within the buffer."""
        assert self.detector is not None
        return max(self.buffer_start, ms_to_samples(self.speech_start_ms - self.detector.timing.prefix_padding_ms))

    async def _speech_started(self, ms: int) -> None:
        assert self.detector is not None
        self.speech_item_id = new_id("item")
        self.speech_start_ms = ms
        if self.idle_task is not None:
            self.idle_task.cancel()
        if self.responding() and self.detector.timing.interrupt_response:
            assert self.active is not None
            self.active.cancel("turn_detected")
        self.emit({"type": "input_audio_buffer.speech_started", "audio_start_ms": ms, "item_id": self.speech_item_id})

    async def _speech_stopped(self, event: VadEvent) -> None:
        assert self.detector is not None
        ms = event.ms
        item_id = self.speech_item_id or new_id("item")
        self.speech_item_id = None
        self.emit({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms, "item_id": item_id})
        start = self._turn_start()
        end = min(self.timeline, max(start, ms_to_samples(ms)))
        clock = self._turn_clock(start, event.pause_ms)
        clock.item_id = item_id
        head = self._take_head_start(start, event.pause_ms)
        item = self.commit(start, end, item_id, self._take_speculation(start, event.pause_ms))
        if item.transcript is not None:
            item.transcript.add_done_callback(lambda _f: clock.mark("stt_done"))
        if self.detector.timing.create_response and not self.transcribing:
            if self._auto is not None and not self._auto[0].done():
                self._auto[0].cancel()  # still waiting: the next response answers both turns
                if self._auto[1] is not None:
                    self._auto[1].close()
            self._auto = (self.spawn(self.respond_after_active({}, head, clock)), head)
        elif head is not None:
            head.close()

    def _turn_clock(self, start: int, pause_ms: int | None) -> TurnClock:
        """The stage clock of the turn ending now (:mod:`..timings`), kept among the recent ones.

        Its ``speech_end`` is when the audio at ``pause_ms`` (where the silence began) arrived.
        """
        clock = self._clock_for((start, pause_ms))
        self._pause_clock = None
        clock.mark("window_end")
        if pause_ms is not None:
            end = ms_to_samples(pause_ms)
            arrived = next((t for n, t in self._arrivals if n >= end), None)
            if arrived is not None and self._arrivals[0][0] < end:  # else that append is no longer kept
                clock.mark("speech_end", arrived)
        record(clock)
        return clock

    def commit(
        self, start: int, end: int, item_id: str | None = None, speculative: asyncio.Future[SttResult] | None = None,
    ) -> Item:
        """Commit timeline samples ``[start, end)`` of the buffer as a user audio item.

        ``speculative`` is a Whisper run already started on the start of that audio.
        """
        audio = self.buffer[start - self.buffer_start: end - self.buffer_start].copy()
        self.buffer = self.buffer[end - self.buffer_start:]
        self.buffer_start = end
        item = user_audio_item(audio, item_id)
        previous = self.conversation.add(item)
        self.emit({"type": "input_audio_buffer.committed", "previous_item_id": previous, "item_id": item.id})
        self.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire()})
        self.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.wire()})
        self.transcribe_later(item, speculative)
        return item

    def commit_all(self) -> Item:
        """``input_audio_buffer.commit``: the whole buffer becomes a user item.

        Raises
        ------
        RealtimeProtocolError
            ``input_audio_buffer_commit_empty`` if it holds under 100 ms.
        """
        have_ms = self.buffer.size * 1000 / REALTIME_SAMPLE_RATE
        if have_ms < MIN_COMMIT_MS:
            raise RealtimeProtocolError(
                "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio, "
                f"but buffer only has {have_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty",
            )
        item_id = self.speech_item_id
        self.speech_item_id = None
        self._speculation = self._speculation_wanted = None
        self._drop_head_start()
        if self.detector is not None:
            self.detector.reset()
        return self.commit(self.buffer_start, self.timeline, item_id)

    def clear_buffer(self) -> None:
        self.buffer = np.zeros(0, np.int16)
        self.buffer_start = self.timeline
        self.speech_item_id = None
        self._speculation = self._speculation_wanted = None
        self._drop_head_start()
        if self.detector is not None:
            self.detector.reset()
