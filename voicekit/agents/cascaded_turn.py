"""One turn of the cascaded agent: its record, and the TTS worker that speaks it.

A turn may start *before* the user's turn is over (a head start at a pause): until
its :attr:`CascadedTurn.gate` opens it produces text and audio but shows and plays
nothing, runs no tool and changes no conversation; if the user goes on speaking it is
cancelled.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from .pricing import TTS_AUDIO_TOKENS_PER_SECOND, Usage
from .tools import ToolCallRecord
from .turn_metrics import TurnMetrics

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["TTS_CHUNK_BYTES", "CascadedTurn", "Speaker", "SttResult"]

logger = logging.getLogger("voicekit.agents.cascaded")

TTS_CHUNK_BYTES = 4800
"""Bytes read from the Speech API stream at a time: 100 ms of 24 kHz PCM16."""

SttResult = tuple[str, Usage, float]
"""A transcription: text, its usage, and the request's duration in ms."""


@dataclass
class CascadedTurn:
    """One user turn and the agent's answer.

    Attributes
    ----------
    index : int
        0, 1, 2... within the conversation (-1 while a head start is not adopted).
    user_text : str
        The transcript (or the text typed).
    reply_text : str
        What the LLM answered (all of it, even if a barge-in cut the audio).
    spoken_text : str
        The pieces that reached the Player before any barge-in.
    tool_calls : list of ToolCallRecord
        The tools called, with arguments and outputs.
    audio : Clip or None
        The user's audio (24 kHz PCM16 mono), None for text.
    reply : Clip or None
        The reply audio received (24 kHz PCM16 mono).
    metrics : TurnMetrics
        Stage latencies, voice-to-voice, tokens and cost.
    t_end : float or None
        ``time.perf_counter()`` when the agent learned the user's turn was over.
    """

    index: int
    user_text: str = ""
    reply_text: str = ""
    spoken_text: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    audio: Clip | None = None
    reply_chunks: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)
    metrics: TurnMetrics = field(default_factory=lambda: TurnMetrics("cascaded", 0))
    tool_choice: str | None = None
    t_end: float | None = None
    stt: Future[SttResult] | None = field(default=None, repr=False)
    gate: threading.Event = field(default_factory=threading.Event, repr=False)
    held: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    error: BaseException | None = field(default=None, repr=False)

    @property
    def reply(self) -> Clip | None:
        """The reply audio received so far, or None."""
        if not self.reply_chunks:
            return None
        return Clip(np.concatenate(self.reply_chunks), REALTIME_SAMPLE_RATE)

    @property
    def status(self) -> str:
        """``running``, or as :attr:`TurnMetrics.status`: ``completed``, ``incomplete`` (hit
        max_tokens), ``interrupted`` or ``failed``."""
        return self.metrics.status if self.done.is_set() else "running"

    def wait_gate(self) -> bool:
        """Block until the turn is adopted (True), or cancelled before that (False)."""
        while not self.gate.wait(0.02):
            if self.cancelled.is_set():
                return self.gate.is_set()
        return True


class Speaker:
    """Speaks pieces of the reply in order on one worker thread, while the LLM streams.

    Audio that arrives before the turn's gate opens is held; the agent plays it
    when it adopts the turn.

    Parameters
    ----------
    client : openai.OpenAI
        Speaks with ``client.audio.speech`` (raw ``pcm``: PCM16 mono, 24,000 Hz).
    model, voice : str
        The Speech API model and voice, fixed for the turn.
    turn : CascadedTurn
        The turn spoken.
    lock : threading.RLock
        The agent's lock; held while audio reaches the Player, so a barge-in's clear
        cannot race an append.
    play : callable
        ``play(turn, pcm, now)`` puts audio of an adopted turn into the Player
        (called under ``lock``).
    """

    def __init__(self, client: OpenAI, model: str, voice: str, turn: CascadedTurn, lock: threading.RLock,
                 play: Callable[[CascadedTurn, npt.NDArray[np.int16], float], None]) -> None:
        self.client, self.model, self.voice, self.turn = client, model, voice, turn
        self._lock, self._play = lock, play
        self.spoken: list[str] = []
        self._queue: list[str | None] = []
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="voicekit-tts", daemon=True)
        self._thread.start()

    def say(self, text: str) -> None:
        """Queue ``text`` to be spoken after the pieces before it."""
        with self._ready:
            self._queue.append(text)
            self._ready.notify()

    def close(self) -> None:
        """Wait until every piece was spoken (or the turn cancelled)."""
        with self._ready:
            self._queue.append(None)
            self._ready.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._queue))
                text = self._queue.pop(0)
            if text is None:
                return
            if self.turn.cancelled.is_set():
                continue
            try:
                self._speak(text)
            except Exception as exc:  # surfaced on the turn; the LLM side finishes normally
                logger.exception("TTS failed")
                self.turn.error = self.turn.error or exc

    def _speak(self, text: str) -> None:
        turn, m = self.turn, self.turn.metrics
        t_req = time.perf_counter()
        samples = 0
        rest = b""
        with self.client.audio.speech.with_streaming_response.create(
            model=self.model, voice=self.voice, input=text, response_format="pcm",
        ) as response:
            for data in response.iter_bytes(TTS_CHUNK_BYTES):
                now = time.perf_counter()
                data, rest = rest + data, b""
                if len(data) % 2:
                    data, rest = data[:-1], data[-1:]
                if not data:
                    continue
                pcm = np.frombuffer(data, "<i2").astype(np.int16)
                with self._lock:
                    if turn.cancelled.is_set():
                        return
                    if m.tts_ttfb_ms is None:
                        m.tts_ttfb_ms = 1000 * (now - t_req)
                    if samples == 0:
                        self.spoken.append(text)
                    if turn.gate.is_set():
                        self._play(turn, pcm, now)
                    else:
                        turn.held.append(pcm)
                samples += pcm.size
        seconds = samples / REALTIME_SAMPLE_RATE
        m.add_usage(Usage(self.model, text_in=max(1, len(text) // 4),
                          audio_out=round(seconds * TTS_AUDIO_TOKENS_PER_SECOND), estimated=True))
