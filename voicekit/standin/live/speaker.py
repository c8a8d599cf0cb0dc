"""The Live model's voice: one utterance written by the LLM, spoken by Piper, paced on the timeline.

A worker thread runs the LLM (SmolLM2 on llama.cpp) and cuts its reply into
speakable pieces (:func:`voicekit.phrases.speakable`: the first piece at a
clause, then sentences); Piper speaks each piece (PCM16, resampled to 24 kHz).
The socket side (:meth:`Utterance.play`) places the pieces one after another
on the session timeline and sends:

- ``session.output_audio.delta`` (``openai.types.live.OutputAudioDeltaEvent``):
  :data:`CHUNK_MS` of audio each, at most :data:`LEAD_MS` before it is due to
  play, so the client's buffer stays short and a stop is heard at once;
- ``session.output_transcript.delta`` (``OutputTranscriptDeltaEvent``): one
  word each, when its audio starts to play, with ``start_ms``/``end_ms`` on the
  timeline (a word's time within its piece is in proportion to its characters).

:meth:`Utterance.stop` (talk-over, or the session closing) ends both at
once: no later audio or transcript goes out, so the output transcript ends
at the word where the model stopped, and :attr:`Utterance.heard` is that text.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ...phrases import speakable
from ..engines import Engines
from ..engines.llm import LLMUsage, Turn
from ..engines.synthesis import synthesize_pcm
from ..realtime.headstart import HeadStart
from ..timings import TurnClock

__all__ = ["CHUNK_MS", "LEAD_MS", "Utterance"]

log = logging.getLogger("voicekit.standin.live")

CHUNK_MS = 100
"""Audio per ``session.output_audio.delta``, in ms."""

LEAD_MS = 250
"""How far ahead of its play time audio is sent, in ms: what a client has buffered when the model stops."""

TICK_S = 0.01
"""The pacer's polling period in seconds."""

Emit = Callable[[dict[str, object]], None]


@dataclass
class _Piece:
    text: str
    pcm: npt.NDArray[np.int16]


@dataclass
class _Due:
    at_ms: float
    event: dict[str, object]
    word: str = ""


@dataclass
class Outcome:
    """How an utterance ended: ``heard`` text, ``stopped`` early, its timeline span in ms, LLM usage."""

    heard: str = ""
    stopped: bool = False
    start_ms: int | None = None
    end_ms: int | None = None
    usage: LLMUsage = field(default_factory=LLMUsage)
    first_audio_s: float | None = None


class Utterance:
    """One spoken turn of the model.

    Parameters
    ----------
    engines : Engines
        The stand-in's engines (LLM and Piper are used).
    turns : list of Turn
        What the LLM reads.
    voice : str
        The session voice (an OpenAI voice name, rendered with Piper's variants).
    max_tokens : int
        The LLM's budget for this utterance.
    emit : callable
        Queues a server event (event loop thread).
    now_ms : callable
        The session timeline now, in ms.
    not_before_ms : int
        Where the previous utterance ended on the timeline (no overlap with it).
    first : bool
        Whether this is the session's first utterance.
    rate : int
        Output sample rate in Hz: the session's ``audio.format.rate``.
    grammar : str, optional
        A GBNF grammar the reply must follow (a head start is then never adopted).
    clock : TurnClock, optional
        Marked at the LLM's first token and phrase, Piper's first chunk and the first audio delta.
    head_start : HeadStart, optional
        Work started during the end-of-turn silence
        (:class:`voicekit.standin.realtime.headstart.HeadStart`); used only if it
        was started for exactly these turns, voice and budget, else closed.
    """

    def __init__(self, engines: Engines, turns: list[Turn], *, voice: str, max_tokens: int, emit: Emit,
                 now_ms: Callable[[], float], not_before_ms: float = 0.0, first: bool = True,
                 head_start: HeadStart | None = None, rate: int = REALTIME_SAMPLE_RATE,
                 grammar: str | None = None, clock: TurnClock | None = None, timed_audio: bool = False) -> None:
        self.engines = engines
        self.timed_audio = timed_audio
        """Give each audio delta its ``start_ms``/``end_ms`` on the timeline: on a WebRTC session the deltas
        reach only the sideband, whose reflected output audio carries them (``OutputAudioDeltaEvent``:
        "required on reflected sideband events; omitted on the primary WebSocket")."""
        self.clock = clock or TurnClock()
        """The stage times of the turn this answers (:mod:`..timings`); a fresh unrecorded one otherwise."""
        self.turns = turns
        self.voice = voice
        self.max_tokens = max_tokens
        self.emit = emit
        self.now_ms = now_ms
        self.not_before_ms = not_before_ms
        self.first = first
        self.rate = rate
        self.grammar = grammar
        """A GBNF grammar the reply is written under (:mod:`voicekit.standin.engines.carry`), or None."""
        """The session's output rate in Hz (``audio/pcm`` at 24000 or 16000; Piper's audio is resampled with soxr)."""
        self.head_start = head_start if head_start is not None and grammar is None and head_start.matches(
            turns, (), "none", max_tokens, (voice, 1.0)) else None
        """The LLM (and Piper on the first piece) already started on these turns, adopted when it matches."""
        if head_start is not None and self.head_start is None:
            head_start.close()
        """The session's first utterance: its first word has no leading space (later ones do, so deltas join)."""
        self._stop = threading.Event()
        self._llm_stop = threading.Event()  # llm.respond sets it when its stream ends, so it cannot be the stop flag
        self.outcome = Outcome()
        self.speaking = False
        """True from the first audio sent until the end."""

    def stop(self) -> None:
        """Stop now: nothing more is sent (event loop thread); the LLM and Piper stop at their next step."""
        self._stop.set()
        self._llm_stop.set()
        if self.head_start is not None:
            self.head_start.close()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    # -- the worker thread ------------------------------------------------------------

    def _write(self, put: Callable[[_Piece | None], None]) -> None:
        pending, first = "", True
        try:
            stream = (self.head_start.events(self.outcome.usage) if self.head_start is not None else
                      self.engines.llm.respond(self.turns, tool_choice="none", max_tokens=self.max_tokens,
                                               options=None if self.grammar is None else {"grammar": self.grammar},
                                               usage=self.outcome.usage, stop=self._llm_stop))
            for delta in stream:
                if self._stop.is_set():
                    return
                text = getattr(delta, "text", "")
                if text:
                    self.clock.mark("llm_first_token")
                pieces, pending = speakable(pending + text, first=first)
                for piece in pieces:
                    self.clock.mark("llm_first_phrase")
                    opening, first = first, False
                    self._say(piece, put, opening)
            if pending.strip() and not self._stop.is_set():
                self.clock.mark("llm_first_phrase")
                self._say(pending.strip(), put, first)
        finally:
            put(None)

    def _say(self, text: str, put: Callable[[_Piece | None], None], opening: bool = False) -> None:
        ready = self.head_start.first_audio(text) if self.head_start is not None else None
        parts = []
        for pcm in ready or synthesize_pcm(self.engines.tts, text, voice=self.voice, sample_rate=REALTIME_SAMPLE_RATE,
                                              opening=opening):
            if self._stop.is_set():
                return
            self.clock.mark("tts_first_chunk")
            parts.append(pcm)
        if parts:
            pcm = np.concatenate(parts)
            if self.rate != REALTIME_SAMPLE_RATE:
                import soxr

                pcm = soxr.resample(pcm, REALTIME_SAMPLE_RATE, self.rate)
            put(_Piece(text, pcm))

    # -- the event loop ---------------------------------------------------------------

    async def play(self) -> Outcome:
        """Write, speak and send the utterance; returns when it has played out or stopped."""
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[_Piece | None] = asyncio.Queue()

        def put(piece: _Piece | None) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, piece)

        self.clock.mark("response_start")
        worker = loop.run_in_executor(None, self._write, put)
        started = time.perf_counter()
        due: list[_Due] = []
        cursor = max(self.now_ms(), self.not_before_ms)
        writing, heard = True, list[str]()
        try:
            while not self._stop.is_set() and (writing or due or not pieces.empty()):
                while not pieces.empty():
                    piece = pieces.get_nowait()
                    if piece is None:
                        writing = False
                        continue
                    cursor = max(cursor, self.now_ms())
                    due.extend(self._schedule(piece, cursor, first_word=self.first and not heard and not due))
                    due.sort(key=lambda d: d.at_ms)
                    cursor += 1000.0 * piece.pcm.size / self.rate
                    if self.outcome.start_ms is None:
                        self.outcome.start_ms = int(cursor - 1000.0 * piece.pcm.size / self.rate)
                now = self.now_ms()
                while due and due[0].at_ms <= now and not self._stop.is_set():
                    item = due.pop(0)
                    if item.event["type"] == "session.output_audio.delta" and self.outcome.first_audio_s is None:
                        self.outcome.first_audio_s = time.perf_counter() - started
                        self.speaking = True
                        self.clock.mark("first_delta_sent")
                    if item.word:
                        heard.append(item.word)
                        self.outcome.end_ms = int(item.event["end_ms"])  # type: ignore[call-overload]
                    self.emit(item.event)
                if due and not self._stop.is_set():
                    await asyncio.sleep(max(0.0, min(TICK_S, (due[0].at_ms - now) / 1000)))
                elif writing and not self._stop.is_set():
                    await asyncio.sleep(TICK_S)
            self.outcome.stopped = self._stop.is_set() and (bool(due) or writing)
        finally:
            self.stop()
            self.speaking = False
            await asyncio.shield(worker)
        self.outcome.heard = "".join(heard).strip()
        if self.outcome.end_ms is None and self.outcome.start_ms is not None:
            self.outcome.end_ms = self.outcome.start_ms
        return self.outcome

    def _schedule(self, piece: _Piece, start_ms: float, *, first_word: bool) -> list[_Due]:
        """The audio chunks and word deltas of ``piece`` placed at ``start_ms``, in due order."""
        step = self.rate * CHUNK_MS // 1000
        out: list[_Due] = []
        for k in range(0, piece.pcm.size, step):
            chunk = piece.pcm[k:k + step]
            at = start_ms + 1000.0 * k / self.rate
            delta: dict[str, object] = {"type": "session.output_audio.delta", "delta": _b64(chunk)}
            if self.timed_audio:
                delta.update(start_ms=int(at), end_ms=int(at + 1000.0 * chunk.size / self.rate))
            out.append(_Due(at - LEAD_MS, delta))
        duration_ms = 1000.0 * piece.pcm.size / self.rate
        words = piece.text.split()
        total = sum(len(w) + 1 for w in words) or 1
        t = start_ms
        for i, w in enumerate(words):
            span = duration_ms * (len(w) + 1) / total
            text = w if (first_word and i == 0) else f" {w}"
            out.append(_Due(t, {"type": "session.output_transcript.delta", "delta": text,
                                "start_ms": int(t), "end_ms": int(t + span)}, word=text))
            t += span
        out.sort(key=lambda d: d.at_ms)
        return out


def _b64(pcm: npt.NDArray[np.int16]) -> str:
    return base64.b64encode(pcm.astype("<i2").tobytes()).decode("ascii")
