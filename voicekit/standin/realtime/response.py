"""One Realtime response: the LLM's reply streamed through Piper, as GA server events.

The pipeline runs on a worker thread. The LLM (SmolLM2 on llama.cpp) writes
the reply; every complete sentence goes to Piper at once, and its audio
(22,050 Hz, resampled to PCM16 at 24 kHz) goes out as
``response.output_audio.delta`` events while the LLM is still writing, so the
first audio leaves long before the reply is finished. A long first sentence is
spoken from its first comma. Tools use the constrained-JSON decision pass of
:meth:`voicekit.standin.engines.llm.LLMEngine.respond`.

Event order for an audio reply (OpenAI API reference, "Realtime server
events"): ``response.created``, ``response.output_item.added``,
``conversation.item.added``, ``response.content_part.added``, then
``response.output_audio_transcript.delta`` and ``response.output_audio.delta``
interleaved, ``response.output_audio.done``,
``response.output_audio_transcript.done``, ``response.content_part.done``,
``response.output_item.done``, ``conversation.item.done`` and ``response.done``.
Text-only replies use ``response.output_text.*``; tool calls a
``function_call`` item with ``response.function_call_arguments.delta``/``done``.

``response.done`` carries ``status`` (completed, cancelled, incomplete or
failed) and real ``usage``: the LLM's own token counts, with audio counted at
50 tokens per second in and out, as in :mod:`voicekit.standin.routes.chat`.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ...phrases import speakable
from ..engines import Engines, audio_tokens
from ..engines.llm import ContextLengthError, LLMUsage, TextDelta, ToolCall, Turn
from ..engines.synthesis import synthesize_pcm
from ..errors import UpstreamError
from ..timings import TurnClock
from .config import ResponseConfig, reply_max_tokens, speech_of
from .conversation import Conversation, Item
from .events import RealtimeProtocolError, error_event, new_id
from .headstart import HeadStart

log = logging.getLogger("voicekit.standin.realtime")

__all__ = ["DELTA_MS", "ResponseRun", "drop_oldest_turns", "speakable"]

DELTA_MS = 200
"""Audio per ``response.output_audio.delta`` event, in ms (the last of a sentence may be shorter)."""

Emit = Callable[[dict[str, Any]], None]


class ResponseRun:
    """One response, run by :meth:`run` on a worker thread; :meth:`cancel` stops it.

    Attributes
    ----------
    id : str
        ``resp_...``.
    audio_samples : int
        PCM16 samples (24 kHz) sent so far.
    """

    def __init__(self, engines: Engines, conversation: Conversation, config: ResponseConfig, emit: Emit,
                 head_start: HeadStart | None = None, clock: TurnClock | None = None) -> None:
        self.id = new_id("resp")
        self.clock = clock or TurnClock()
        """The turn's stage times (:mod:`..timings`); a response the client asked for gets its own, unrecorded."""
        if self.clock.response_id is None:
            self.clock.response_id = self.id
        self.engines = engines
        self.conversation = conversation
        self.config = config
        self.emit = emit
        self.stop = threading.Event()
        self._llm_stop = threading.Event()  # the LLM's stream sets it when it ends, so it is not the cancel flag
        self.finished = threading.Event()
        """Set just before ``response.done`` is queued: a new response may start from then on."""
        self.cancel_reason: str | None = None
        self.audio_samples = 0
        self.output: list[Item] = []
        self._audio_lock = threading.Lock()
        self.head_start = head_start
        """The LLM already started on the expected turns (:mod:`.headstart`), adopted if they match."""
        self._adopted: HeadStart | None = None
        self._announced = False

    def cancel(self, reason: str) -> None:
        """Stop at the next token or audio chunk; ``reason`` is ``client_cancelled`` or ``turn_detected``."""
        with self._audio_lock:
            if self.cancel_reason is None:
                self.cancel_reason = reason
            self.stop.set()
            self._llm_stop.set()

    # -- wire shapes -------------------------------------------------------------

    def _response(self, status: str, details: dict[str, Any] | None = None,
                  usage: dict[str, Any] | None = None) -> dict[str, Any]:
        c = self.config
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": details,
            "output": [i.wire() for i in self.output],
            "conversation_id": self.conversation.id if c.conversation != "none" else None,
            "output_modalities": list(c.output_modalities),
            "max_output_tokens": c.max_output_tokens,
            "audio": {"output": {"format": c.output_format, "voice": c.voice}},
            "usage": usage,
            "metadata": c.metadata,
        }

    def _where(self, item: Item) -> dict[str, Any]:
        return {"response_id": self.id, "item_id": item.id, "output_index": self.output.index(item)}

    def _add_output(self, item: Item) -> None:
        self.output.append(item)
        self.emit({"type": "response.output_item.added", "response_id": self.id,
                   "output_index": len(self.output) - 1, "item": item.wire()})
        if self.config.conversation != "none":
            previous = self.conversation.add(item)
            self.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire()})

    def _finish_output(self, item: Item, status: str) -> None:
        item.data["status"] = status
        self.emit({"type": "response.output_item.done", "response_id": self.id,
                   "output_index": self.output.index(item), "item": item.wire()})
        if self.config.conversation != "none":
            self.emit({"type": "conversation.item.done", "item": item.wire()})

    # -- the pipeline ------------------------------------------------------------

    def announce(self) -> None:
        """Emit ``response.created`` (once). The connection calls it when it starts the
        response, so the event keeps its place among the events of the event loop."""
        if not self._announced:
            self._announced = True
            self.clock.mark("response_start")
            self.emit({"type": "response.created", "response": self._response("in_progress")})

    def run(self) -> None:
        """Generate the whole response, emitting every event up to ``response.done``."""
        self.announce()
        usage = LLMUsage()
        status, details = "completed", None
        try:
            status, details = self._generate(usage)
        except ContextLengthError as exc:
            status = "failed"
            details = {"type": "failed", "error": {"type": "invalid_request_error", "code": "context_length_exceeded",
                                                   "message": str(exc)}}
        except UpstreamError as exc:  # the upstream LLM failed: an ``error`` event, then the failed response
            self.emit(error_event(RealtimeProtocolError(exc.message, code=exc.code, type="server_error"), None))
            status = "failed"
            details = {"type": "failed", "error": {"type": "server_error", "code": exc.code, "message": exc.message}}
        except Exception as exc:  # noqa: BLE001 -- reported to the client as a failed response
            status = "failed"
            details = {"type": "failed", "error": {"type": "server_error", "code": "standin_failed",
                                                   "message": f"{type(exc).__name__}: {exc}"}}
        if self.head_start is not None:  # never adopted: free llama.cpp's slot
            self.head_start.close()
        done = {"type": "response.done", "response": self._response(status, details, self._usage(usage))}
        self.finished.set()
        self.emit(done)

    def _cancelled(self) -> tuple[str, dict[str, Any]]:
        return "cancelled", {"type": "cancelled", "reason": self.cancel_reason or "client_cancelled"}

    def _generate(self, usage: LLMUsage) -> tuple[str, dict[str, Any] | None]:
        c = self.config
        items = c.context if c.context is not None else self.conversation.items()
        turns = self.conversation.turns(items, c.instructions)
        if self.stop.is_set():
            return self._cancelled()
        max_tokens = reply_max_tokens(c)
        message: Item | None = None
        pending, spoken_any = "", False
        for event in self._llm_stream(turns, max_tokens, usage):
            for stage, at in usage.decision_marks().items():  # an adopted head start marked its own
                self.clock.mark(stage, at)
            if self.stop.is_set():
                break
            if isinstance(event, ToolCall):
                self._tool_call(event)
                continue
            if message is None:
                message = self._open_message()
            self.clock.mark("llm_first_token")
            self._text_delta(message, event.text)
            if "audio" in c.output_modalities:
                pieces, pending = speakable(pending + event.text, first=not spoken_any)
                for piece in pieces:
                    self.clock.mark("llm_first_phrase")
                    opening, spoken_any = not spoken_any, True
                    self._speak(message, piece, opening)
        if not self.output and not self.stop.is_set():
            message = self._open_message()  # an empty reply is still a (completed, empty) message
        if message is not None:
            if pending.strip() and "audio" in c.output_modalities and not self.stop.is_set():
                self.clock.mark("llm_first_phrase")  # a reply shorter than a phrase: all of it
                self._speak(message, pending.strip(), not spoken_any)
            self._close_message(message)
        if self.stop.is_set():
            return self._cancelled()
        if usage.finish_reason == "length":
            return "incomplete", {"type": "incomplete", "reason": "max_output_tokens"}
        return "completed", None

    def _llm_stream(self, turns: list[Turn], max_tokens: int, usage: LLMUsage) -> Iterator[TextDelta | ToolCall]:
        """The LLM's stream for ``turns``, applying the session's ``truncation``.

        With ``truncation`` other than ``"disabled"`` (OpenAI's default is
        ``"auto"``: "Realtime conversations", section "Truncation"), a conversation
        longer than the context window loses its oldest half of turns, again and
        again, until it fits; the instructions and the newest turn always stay. The
        conversation itself keeps every item, as OpenAI's does.

        Raises
        ------
        ContextLengthError
            If even the instructions and the newest turn do not fit, or truncation is
            ``"disabled"``.
        """
        c = self.config
        head, self.head_start = self.head_start, None
        if head is not None and not head.matches(turns, c.tools, c.tool_choice, max_tokens, speech_of(c)):
            head.close()
            head = None
        while True:
            if head is not None:  # adopt it: cancel() stops its LLM from now on
                log.debug("%s: the reply comes from the head start", self.id)
                self._llm_stop, stream, self._adopted = head.stop, head.events(usage), head
                if self.stop.is_set():
                    head.close()
                head = None
            else:
                stream = self.engines.llm.respond(turns, tools=c.tools, tool_choice=c.tool_choice,
                                                  max_tokens=max_tokens, usage=usage, stop=self._llm_stop)
            try:
                first = next(stream)  # llama.cpp measures the prompt before the first token
            except StopIteration:
                return iter(())
            except ContextLengthError:
                shorter = None if c.truncation == "disabled" else drop_oldest_turns(turns)
                if shorter is None or self.stop.is_set():
                    raise
                turns = shorter
                self._llm_stop = threading.Event()  # the failed stream set the old one as it ended
                continue
            return itertools.chain([first], stream)

    def _tool_call(self, call: ToolCall) -> None:
        item = Item({"id": new_id("item"), "object": "realtime.item", "type": "function_call", "status": "in_progress",
                     "call_id": new_id("call"), "name": call.name, "arguments": ""})
        self._add_output(item)
        where = self._where(item)
        self.emit({"type": "response.function_call_arguments.delta", **where, "call_id": item.data["call_id"],
                   "delta": call.arguments})
        item.data["arguments"] = call.arguments
        self.emit({"type": "response.function_call_arguments.done", **where, "call_id": item.data["call_id"],
                   "name": call.name, "arguments": call.arguments})
        self._finish_output(item, "completed")

    def _audio(self) -> bool:
        return "audio" in self.config.output_modalities

    def _open_message(self) -> Item:
        kind = "output_audio" if self._audio() else "output_text"
        part = {"type": kind, "transcript": ""} if self._audio() else {"type": kind, "text": ""}
        item = Item({"id": new_id("item"), "object": "realtime.item", "type": "message", "role": "assistant",
                     "status": "in_progress", "content": [part]},
                    audio=np.zeros(0, np.int16) if self._audio() else None)
        self._add_output(item)
        wire_part = {"type": "audio", "transcript": ""} if self._audio() else {"type": "text", "text": ""}
        self.emit({"type": "response.content_part.added", **self._where(item), "content_index": 0, "part": wire_part})
        return item

    def _text_delta(self, item: Item, text: str) -> None:
        part = item.data["content"][0]
        if self._audio():
            part["transcript"] += text
            kind = "response.output_audio_transcript.delta"
        else:
            part["text"] += text
            kind = "response.output_text.delta"
        self.emit({"type": kind, **self._where(item), "content_index": 0, "delta": text})

    def _speak(self, item: Item, text: str, opening: bool = False) -> None:
        """Speak ``text``; ``opening`` when it is the response's first piece (Piper serves it first)."""
        c = self.config
        step = REALTIME_SAMPLE_RATE * DELTA_MS // 1000
        first = True
        ready = self._adopted.first_audio(text) if self._adopted is not None else None
        audio = ready if ready is not None else synthesize_pcm(
            self.engines.tts, text, voice=c.voice, speed=c.speed, sample_rate=REALTIME_SAMPLE_RATE, opening=opening)
        for pcm in audio:
            self.clock.mark("tts_first_chunk")
            for k in range(0, pcm.size, step):
                if not self._append_audio(item, pcm[k:k + step], text if first else None):
                    return
                first = False

    def _append_audio(self, item: Item, pcm: npt.NDArray[np.int16], sentence: str | None) -> bool:
        """Send one audio chunk unless cancelled; the check and the append are atomic with :meth:`cancel`."""
        with self._audio_lock:
            if self.stop.is_set():
                return False
            assert item.audio is not None
            if sentence is not None:
                item.sentences.append((item.audio.size, sentence))
            item.audio = np.concatenate([item.audio, pcm])
            self.audio_samples += pcm.size
            self.emit({"type": "response.output_audio.delta", **self._where(item), "content_index": 0,
                       "delta": _b64(pcm)})
            self.clock.mark("first_delta_sent")
            return True

    def _close_message(self, item: Item) -> None:
        part = item.data["content"][0]
        where = {**self._where(item), "content_index": 0}
        if self._audio():
            self.emit({"type": "response.output_audio.done", **where})
            self.emit({"type": "response.output_audio_transcript.done", **where, "transcript": part["transcript"]})
            wire_part = {"type": "audio", "transcript": part["transcript"]}
        else:
            self.emit({"type": "response.output_text.done", **where, "text": part["text"]})
            wire_part = {"type": "text", "text": part["text"]}
        self.emit({"type": "response.content_part.done", **where, "part": wire_part})
        self._finish_output(item, "incomplete" if self.stop.is_set() else "completed")

    def _usage(self, llm: LLMUsage) -> dict[str, Any]:
        c = self.config
        items = c.context if c.context is not None else self.conversation.items()
        audio_in_s = sum(i.audio.size for i in items if i.audio is not None and i.data.get("role") == "user")
        audio_in = audio_tokens(audio_in_s / REALTIME_SAMPLE_RATE) if audio_in_s else 0
        audio_out = audio_tokens(self.audio_samples / REALTIME_SAMPLE_RATE) if self.audio_samples else 0
        input_tokens = llm.prompt_tokens + audio_in
        output_tokens = llm.completion_tokens + audio_out
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": llm.prompt_tokens,
                "audio_tokens": audio_in,
                "image_tokens": 0,
                "cached_tokens": llm.cached_tokens,
                "cached_tokens_details": {"text_tokens": llm.cached_tokens, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": llm.completion_tokens, "audio_tokens": audio_out},
        }


def _b64(pcm: npt.NDArray[np.int16]) -> str:
    import base64

    return base64.b64encode(pcm.astype("<i2").tobytes()).decode()


def drop_oldest_turns(turns: list[Turn]) -> list[Turn] | None:
    """``turns`` without the oldest half of its non-system turns (at least one), starting
    again at a user turn; None when only the newest turn is left to keep."""
    head = [t for t in turns[:1] if t.role == "system"]
    rest = turns[len(head):]
    if len(rest) <= 1:
        return None
    kept = rest[max(1, len(rest) // 2):]
    while len(kept) > 1 and kept[0].role != "user":
        kept = kept[1:]
    return head + kept
