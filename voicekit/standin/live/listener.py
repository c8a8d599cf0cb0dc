"""The Live stand-in's ears: VAD over every input chunk, Whisper per utterance, talk-over.

Input is PCM16 at 24 kHz (``session.input_audio.append``). While muted
(``session.input_audio.mute``) the model hears silence in its place, as the SDK
docstring of ``InputAudioMutedEvent`` says: the timeline moves on, nothing is
transcribed.

Utterances follow Silero VAD (:class:`voicekit.vad.TurnDetector`, threshold
0.5, 300 ms of audio kept before the speech start) and an end-of-turn model,
Smart Turn v3.2 (:mod:`..engines.turn_model`), as the Realtime stand-in's
``semantic_vad`` does: at :data:`TURN_CHECK_MS` of silence the model judges
whether the user has finished (at or above :data:`TURN_THRESHOLD`: the utterance
ends there); a pause it judges unfinished ends the utterance only after
:data:`END_OF_TURN_SILENCE_MS`. OpenAI does not publish how GPT-Live decides;
before the model the stand-in ended every utterance after a fixed 400 ms. Its transcript goes out as
``session.input_transcript.delta`` events, one per Whisper segment, with
``start_ms``/``end_ms`` on the session timeline. OpenAI streams the input
transcript while the user speaks; the stand-in sends it when the utterance
ends (Whisper tiny.en transcribes whole utterances best).

A client that stops sending audio mid-utterance (instead of streaming silence,
as a Live client does) has its utterance ended after :data:`STALL_S`.

Whisper starts early: when a pause reaches 32 ms
(:data:`voicekit.vad.PAUSE_REPORT_MS`) it transcribes the speech so far (one
run at a time; the newest pause waits for the run in flight, which is abandoned at
its next Whisper call once speech went on after its pause, :mod:`..engines.abandon`), and if the
utterance ends at that pause the result is used, so the reply need not wait
for Whisper after the silence window. If the model will simply answer (no
delegation configured, nothing playing), the LLM and Piper also start on that
transcript during the silence (the Realtime stand-in's
:class:`~voicekit.standin.realtime.headstart.HeadStart`); the answer adopts
them only if the utterance ends at that pause with the context unchanged.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import time

import numpy as np
import numpy.typing as npt

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector, VadEvent, VadSettings
from ..engines import SttResult
from ..engines.abandon import Abandoned
from ..engines.turn_model import smart_turn
from ..realtime.headstart import HeadStart
from ..timings import TurnClock, record
from .replies import answer_user, head_start
from .state import LiveState

__all__ = ["BEAM_SIZE", "END_OF_TURN_SILENCE_MS", "PREFIX_MS", "TALK_OVER_MS", "TRANSCRIPT_FIRST_S", "TURN_CHECK_MS",
           "TURN_THRESHOLD", "Listener"]

log = logging.getLogger("voicekit.standin.live")

END_OF_TURN_SILENCE_MS = 1200
"""The longest silence after speech before the user's utterance ends, in ms: the wait when the
turn model judges the pause unfinished (a finished one ends at :data:`TURN_CHECK_MS`)."""

TURN_CHECK_MS = 256
"""Silence (ms) at which Smart Turn is asked whether the utterance is over."""

TURN_THRESHOLD = 0.5
"""Smart Turn's probability that ends an utterance (Pipecat's default)."""

TALK_OVER_MS = 400
"""VAD speech this long while the model writes or speaks stops it, in ms; a shorter sound does not."""

PREFIX_MS = 300
"""Audio kept before the detected speech start, in ms (``server_vad``'s ``prefix_padding_ms``)."""

BEAM_SIZE = 1
"""Whisper decodes Live utterances greedily, as the Realtime stand-in decodes its turns."""

MIN_UTTERANCE_MS = 100

TRANSCRIPT_FIRST_S = 1.0
"""The longest Smart Turn waits, in s, for the speculative transcript of the pause it judges
(:meth:`Listener._transcript_first`); after it, both run at once."""

STALL_S = 1.0
"""A client that sends no audio for this long (wall clock, seconds) in the middle of an utterance is
taken to be silent: the listener adds :data:`END_OF_TURN_SILENCE_MS` of silence so the utterance ends."""


def _ms(samples: int) -> float:
    return 1000.0 * samples / REALTIME_SAMPLE_RATE


def _samples(ms: float) -> int:
    return round(ms * REALTIME_SAMPLE_RATE / 1000)


class Listener:
    """VAD, utterance audio and transcription for one connection.

    Attributes
    ----------
    audio : ndarray
        Input audio kept for the utterance in progress, int16 ``(n,)``, 24 kHz,
        starting at timeline sample :attr:`audio_start`.
    speech_start_ms : float or None
        Where the speech in progress began on the input timeline; None in silence.
    """

    def __init__(self, conn: LiveState) -> None:
        self.conn = conn
        self.detector: TurnDetector[VadSettings] = TurnDetector(
            VadSettings(prefix_padding_ms=PREFIX_MS, silence_duration_ms=END_OF_TURN_SILENCE_MS,
                        turn_threshold=TURN_THRESHOLD, turn_check_ms=TURN_CHECK_MS))
        self._judging: asyncio.Future[None] | None = None
        """The running Smart Turn check (:meth:`_judge`), if any."""
        self.audio: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.audio_start = 0
        self.speech_start_ms: float | None = None
        self._speculation: tuple[tuple[int, int], asyncio.Future[SttResult | None]] | None = None
        self._head: tuple[tuple[int, int], HeadStart] | None = None
        """The answer started on a speculative transcript, for that ``(start, pause_ms)``."""
        self._last_feed = time.perf_counter()
        self._wanted: int | None = None
        self._abandon: threading.Event | None = None
        """Set to abandon the speculative run in flight (speech went on after its pause)."""
        """A newer pause (ms) to transcribe once the run in flight ends (at most one runs at a time)."""
        self._clock: tuple[tuple[int, int], TurnClock] | None = None
        """The stage clock (:mod:`..timings`) of the newest speculative run, for its ``(start, pause_ms)``."""
        self._arrivals: collections.deque[tuple[int, float]] = collections.deque(maxlen=512)
        """(input samples so far, ``time.monotonic()``) after each recent append."""

    @property
    def in_speech(self) -> bool:
        """True while the VAD hears the user speaking."""
        return bool(self.detector.in_speech)

    async def feed(self, pcm: npt.NDArray[np.int16]) -> None:
        """Take one appended chunk (int16 ``(n,)``, 24 kHz): VAD, talk-over, utterance ends.

        Never waits for the turn model: a pause it must judge is judged by a task
        (:meth:`_judge`) while later audio keeps coming in, scored and held by the detector
        until the verdict, so the utterance still ends at that point of the audio.
        """
        conn = self.conn
        self._last_feed = time.perf_counter()
        if conn.muted:
            pcm = np.zeros_like(pcm)
        self.audio = np.concatenate([self.audio, pcm])
        conn.input_samples += pcm.size
        self._arrivals.append((conn.input_samples, time.monotonic()))
        self._events(self.detector.feed(pcm))
        if self.detector.check is not None and self._judging is None:
            self._judging = conn.spawn(self._judge())

    async def _judge(self) -> None:
        """Smart Turn on each pause the detector stopped at, in a thread; a model that fails
        counts as "not finished" (the utterance ends after :data:`END_OF_TURN_SILENCE_MS`)."""
        try:
            while (check := self.detector.check) is not None and not self.conn.closed:
                await self._transcript_first(check.pause_ms)
                try:
                    p = await asyncio.to_thread(smart_turn().probability, check.audio)
                except Exception:
                    log.exception("Smart Turn failed; the pause runs to %d ms", END_OF_TURN_SILENCE_MS)
                    p = 0.0
                self._events(self.detector.decide(p))
        finally:
            self._judging = None

    async def _transcript_first(self, pause_ms: int) -> None:
        """Wait (at most :data:`TRANSCRIPT_FIRST_S`) for the speculative Whisper run of the pause at
        ``pause_ms`` (or the one queued for it), so Smart Turn does not take CPU from it.

        The answer needs the transcript before anything else, and the turn's end is not sent
        to the client (GPT-Live has no ``speech_stopped``), so judging the pause first gains
        nothing: on 2 cores Smart Turn's run (one thread) only slowed Whisper's (two).
        Once the transcript is in, the answer starts during the pause (:func:`.replies.head_start`)
        while Smart Turn judges it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TRANSCRIPT_FIRST_S
        while (spec := self._speculation) is not None and not spec[1].done() and pause_ms in (
                spec[0][1], self._wanted) and (left := deadline - loop.time()) > 0:
            await asyncio.wait({spec[1]}, timeout=left)  # its done callback (_speculated) runs first

    def _events(self, events: list[VadEvent]) -> None:
        """Act on the detector's events, then trim the kept audio and check for talk-over."""
        conn = self.conn
        if self._head is not None and not self.detector.pausing and not any(
                e.kind == "speech_stopped" for e in events):
            self.drop_head()  # the user speaks again: that answer will not be given
        for event in events:
            if event.kind == "speech_started":
                self.speech_start_ms = float(event.ms)
            elif event.kind == "speech_paused":
                self._speculate(event.ms)
            else:
                self._utterance_ended(event)
        self._abandon_stale()
        if self.speech_start_ms is None:  # keep only the prefix padding while silent
            keep = _samples(PREFIX_MS)
            if self.audio.size > keep:
                self.audio_start += self.audio.size - keep
                self.audio = self.audio[-keep:]
        elif (conn.current is not None and not conn.current.stopped and self.detector.in_speech
              and _ms(conn.input_samples) - self.speech_start_ms >= TALK_OVER_MS):
            log.debug("talk-over at %.0f ms: the model stops", _ms(conn.input_samples))
            conn.current.stop()

    async def watch(self) -> None:
        """End an utterance whose audio stopped coming (a client that streams only while the user
        speaks): after :data:`STALL_S` without audio mid-utterance, the missing audio counts as silence."""
        while not self.conn.closed:
            await asyncio.sleep(0.1)
            if self.detector.in_speech and time.perf_counter() - self._last_feed >= STALL_S:
                log.debug("no audio for %.1f s mid-utterance: taken as silence", STALL_S)
                await self.feed(np.zeros(_samples(END_OF_TURN_SILENCE_MS + 100), np.int16))

    def _utterance_start(self) -> int:
        assert self.speech_start_ms is not None
        return max(self.audio_start, _samples(self.speech_start_ms - PREFIX_MS))

    def _clip(self, start: int, end: int) -> Clip:
        return Clip(self.audio[start - self.audio_start:end - self.audio_start].copy(), REALTIME_SAMPLE_RATE)

    def _speculate(self, pause_ms: int) -> None:
        if self.speech_start_ms is None:
            return
        if self._speculation is not None and not self._speculation[1].done():
            self._wanted = pause_ms
            self._abandon_stale()
            return
        self._wanted = None
        start, end = self._utterance_start(), min(self.conn.input_samples, _samples(pause_ms))
        if _ms(end - start) < MIN_UTTERANCE_MS:
            return
        clip = self._clip(start, end)
        self._abandon = threading.Event()
        task = self.conn.spawn(self._speculative_stt(clip, self._abandon))
        self._speculation = ((start, pause_ms), task)
        clock = TurnClock(self._session_id())
        clock.mark("stt_start")
        self._clock = ((start, pause_ms), clock)
        task.add_done_callback(lambda _task: clock.mark("stt_done"))
        task.add_done_callback(self._speculated)

    async def _speculative_stt(self, clip: Clip, abandon: threading.Event) -> SttResult | None:
        """Whisper's transcript of ``clip``, or None if the run was abandoned (not an error of the session)."""
        try:
            return await asyncio.to_thread(self.conn.engines.stt.transcribe, clip, beam_size=BEAM_SIZE, abandon=abandon)
        except Abandoned:
            return None

    def _abandon_stale(self) -> None:
        spec = self._speculation
        if spec is not None and self._abandon is not None and self.detector.pause_ms != spec[0][1]:
            self._abandon.set()

    def _speculated(self, task: asyncio.Future[SttResult | None]) -> None:
        wanted, self._wanted = self._wanted, None
        if (wanted is not None and not self.conn.closed and self._speculation is not None
                and self.detector.pause_ms == wanted):  # else speech went on after it too
            self._speculate(wanted)
        elif (wanted is None and self._speculation is not None and self._speculation[1] is task
              and self.detector.pausing and not task.cancelled() and task.exception() is None
              and (spoken := task.result()) is not None):
            self.drop_head()
            head = head_start(self.conn, spoken.text, self._clock_for(self._speculation[0]))
            if head is not None:
                self._head = (self._speculation[0], head)

    def _session_id(self) -> str | None:
        return None if self.conn.session is None else self.conn.session.get("id")

    def _clock_for(self, key: tuple[int, int | None]) -> TurnClock:
        """The stage clock of the speculative run on ``key``, else a new one."""
        if self._clock is not None and self._clock[0] == key:
            return self._clock[1]
        return TurnClock(self._session_id())

    def _turn_clock(self, key: tuple[int, int | None]) -> TurnClock:
        """The clock of the utterance ending now, its window end and speech end marked, kept (:func:`..timings.record`)."""
        clock, self._clock = self._clock_for(key), None
        clock.mark("window_end")
        if key[1] is not None:
            end = _samples(key[1])
            arrived = next((t for n, t in self._arrivals if n >= end), None)
            if arrived is not None and self._arrivals[0][0] < end:  # else that append is no longer kept
                clock.mark("speech_end", arrived)
        record(clock)
        return clock

    def drop_head(self) -> None:
        """Close the answer started during the silence, if any (the LLM stops at its next token)."""
        if self._head is not None:
            self._head[1].close()
            self._head = None

    def _utterance_ended(self, event: VadEvent) -> None:
        if self.speech_start_ms is None:
            return
        start = self._utterance_start()
        end = min(self.conn.input_samples, max(start, _samples(event.ms)))
        spec, self._speculation, self._wanted = self._speculation, None, None
        key = (start, event.pause_ms)
        reuse = spec[1] if spec is not None and spec[0] == key else None
        head, self._head = self._head, None
        if head is not None and head[0] != key:
            head[1].close()
            head = None
        clip = self._clip(start, end)
        self.speech_start_ms = None
        if _ms(end - start) >= MIN_UTTERANCE_MS and not self.conn.muted:
            clock = self._turn_clock(key)
            self.conn.spawn(self._transcribe(clip, _ms(start), _ms(end), reuse, head[1] if head else None, clock))
        elif head is not None:
            head[1].close()

    async def _transcribe(self, clip: Clip, start_ms: float, end_ms: float,
                          speculative: asyncio.Future[SttResult | None] | None, head: HeadStart | None = None,
                          clock: TurnClock | None = None) -> None:
        """Whisper one utterance, send its transcript, and let the model answer it (``clock``: its stage times)."""
        result = None
        if speculative is not None:
            with contextlib.suppress(Exception):
                result = await speculative
        if result is None:
            result = await asyncio.to_thread(self.conn.engines.stt.transcribe, clip, beam_size=BEAM_SIZE)
        if clock is not None:
            clock.mark("stt_done")
        text = result.text.strip()
        if not text or self.conn.closed:
            if head is not None:
                head.close()
            return
        first = not self.conn.heard_any  # later utterances start with a space, so the deltas join as text
        self.conn.heard_any = True
        for seg in result.segments:
            piece = seg.text.strip()
            if not piece:
                continue
            s = min(end_ms, start_ms + 1000.0 * seg.start)
            e = min(end_ms, max(s, start_ms + 1000.0 * seg.end))
            self.conn.emit({"type": "session.input_transcript.delta", "delta": piece if first else f" {piece}",
                            "start_ms": int(s), "end_ms": int(e)})
            first = False
        self.conn.context.add("user", text)
        await answer_user(self.conn, head, clock)
