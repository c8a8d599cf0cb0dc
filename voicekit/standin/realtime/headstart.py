"""A reply's head start: the LLM already writing while the VAD's silence window runs.

With server VAD, the user's turn ends ``silence_duration_ms`` (500 ms by default)
after they stop talking. Speculative Whisper (:mod:`.connection`) has the transcript
of the turn so far a little after the pause begins; from then on the reply the
server will give is known, unless the user talks again or the conversation changes.
So the connection starts the LLM on it at once, in a :class:`HeadStart`. When the
turn does end at that pause, the response adopts the stream, whose first tokens are
then already written; otherwise the head start is closed and llama.cpp stops at its
next token (it has one slot, so an unused head start must never keep it).

For a spoken reply, Piper also speaks the first piece (:func:`.phrases.speakable`)
as soon as the LLM has written it, so that audio is ready or nearly so when the
response needs it.

Nothing is sent to the client until the response itself starts: the events and
their order are exactly those of a response without a head start.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ...phrases import speakable
from ..engines import PiperEngine
from ..engines.llm import LanguageModel, LLMUsage, TextDelta, ToolCall, ToolSpec, Turn
from ..engines.synthesis import synthesize_pcm
from ..timings import TurnClock

__all__ = ["HeadStart"]

_DONE = object()


class HeadStart:
    """LLM events for ``turns``, generated on a thread of their own from now on.

    Parameters
    ----------
    llm : LLMEngine
        The engine; ``llm.respond`` runs with exactly these arguments.
    turns, tools, tool_choice, max_tokens
        What the response is expected to ask for; :meth:`matches` compares them.
    tts : PiperEngine, optional
        Speaks the first piece (24 kHz PCM16) when ``speech`` is given.
    speech : (voice, speed), optional
        The reply's voice and speed; None for a text-only reply.
    clock : TurnClock, optional
        Marked at the LLM's first token and first phrase, and Piper's first chunk.
    """

    def __init__(self, llm: LanguageModel, turns: Sequence[Turn], *, tools: Sequence[ToolSpec],
                 tool_choice: str | None, max_tokens: int, tts: PiperEngine | None = None,
                 speech: tuple[str, float] | None = None, clock: TurnClock | None = None) -> None:
        self.clock = clock or TurnClock()
        self.clock.mark("head_start")
        self.turns = list(turns)
        self.tools = tuple(tools)
        self.tool_choice = tool_choice
        self.max_tokens = max_tokens
        self.speech = speech if tts is not None else None
        self._tts = tts
        self._first_piece: str | None = None
        self._first_audio: list[npt.NDArray[np.int16]] | None = None
        self._first_ready = threading.Event()
        self.usage = LLMUsage()
        self.stop = threading.Event()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._taken = False
        self._closed = False  # not ``stop``: the LLM's stream also sets that when it simply ends
        self._thread = threading.Thread(target=self._run, args=(llm,), name="voicekit-headstart", daemon=True)
        self._thread.start()

    def matches(self, turns: Sequence[Turn], tools: Sequence[ToolSpec], tool_choice: str | None,
                max_tokens: int, speech: tuple[str, float] | None) -> bool:
        """Whether a response asking for this would get the same stream (and voice)."""
        return (not self._taken and not self._closed and list(turns) == self.turns
                and tuple(tools) == self.tools and tool_choice == self.tool_choice and max_tokens == self.max_tokens
                and speech == self.speech)

    def first_audio(self, piece: str) -> list[npt.NDArray[np.int16]] | None:
        """Piper's audio of ``piece`` (24 kHz PCM16 arrays), if it is the first piece
        this head start speaks: waits for the synthesis under way. None otherwise."""
        if self._first_piece != piece:
            return None
        self._first_ready.wait()
        return self._first_audio

    def events(self, usage: LLMUsage) -> Iterator[TextDelta | ToolCall]:
        """The stream, from its first event (those already made come at once). At its
        end the head start's token counts are copied into ``usage``.

        Raises
        ------
        RuntimeError
            If taken twice.
        Exception
            Whatever ``llm.respond`` raised (for example ``ContextLengthError``).
        """
        if self._taken:
            raise RuntimeError("a head start is adopted at most once")
        self._taken = True
        while (item := self._queue.get()) is not _DONE:
            if isinstance(item, Exception):
                raise item
            yield item
        for f in dataclasses.fields(LLMUsage):
            setattr(usage, f.name, getattr(self.usage, f.name))

    def close(self) -> None:
        """Stop the LLM at its next token (idempotent); a closed head start never matches."""
        self._closed = True
        self.stop.set()

    def _run(self, llm: LanguageModel) -> None:
        pending = "" if self.speech is not None else None
        try:
            for event in llm.respond(self.turns, tools=self.tools, tool_choice=self.tool_choice,
                                     max_tokens=self.max_tokens, usage=self.usage, stop=self.stop):
                piece = None
                for stage, at in self.usage.decision_marks().items():  # decided before the first event
                    self.clock.mark(stage, at)
                if isinstance(event, TextDelta):
                    self.clock.mark("llm_first_token")
                if pending is not None and isinstance(event, TextDelta):
                    pieces, pending = speakable(pending + event.text, first=True)
                    if pieces:  # the response cuts the same first piece from the same text
                        piece, pending, self._first_piece = pieces[0], None, pieces[0]
                        self.clock.mark("llm_first_phrase")
                self._queue.put(event)
                if piece is not None:
                    self._speak_first(piece)  # the LLM goes on writing meanwhile (its own thread)
        except Exception as exc:  # noqa: BLE001 -- raised again by events(), in the response's thread
            self._queue.put(exc)
        finally:
            self._first_ready.set()
            self._queue.put(_DONE)

    def _speak_first(self, piece: str) -> None:
        assert self._tts is not None and self.speech is not None
        voice, speed = self.speech
        try:
            if not self._closed:
                chunks = []
                for chunk in synthesize_pcm(self._tts, piece, voice=voice, speed=speed,
                                            sample_rate=REALTIME_SAMPLE_RATE, opening=True):
                    self.clock.mark("tts_first_chunk")
                    chunks.append(chunk)
                self._first_audio = chunks
        except Exception:  # noqa: BLE001 -- the response then speaks the piece itself
            self._first_audio = None
        finally:
            self._first_ready.set()
