"""One Realtime WebSocket connection: its session, input audio buffer, VAD and responses.

Client events are checked against the SDK's own client event models
(``openai.types.realtime.SessionUpdateEvent`` and the rest) and dispatched to
handlers registered by event type (:mod:`.handlers`). Server events go out
through one queue in the order they were made, each with a fresh
``event_id``. Engine work (Whisper, the LLM, Piper) runs on worker threads so
the socket keeps reading: that is what lets speech interrupt a response.

Speculative transcription: when VAD reports a pause in speech
(``speech_paused``, after :data:`.vad.PAUSE_REPORT_MS`), Whisper starts on
the turn so far while the silence window (``silence_duration_ms``) runs. If
the turn then ends at that same pause, the committed item reuses that
transcript, so with live (real-time) audio the reply does not wait for
Whisper after ``speech_stopped``. If speech resumes, the result is dropped;
at most one speculative run is in flight, and the newest pause waits for it.
The transcript is of the audio up to the pause; the committed audio adds
only the silence after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from starlette.websockets import WebSocket, WebSocketDisconnect

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector, VadEvent
from ..engines import Engines, SttResult, audio_tokens
from ..llm import Turn
from .conversation import Conversation, Item, user_audio_item
from .events import RealtimeProtocolError, error_event, new_id
from .headstart import HeadStart
from .response import (
    ResponseConfig,
    ResponseRun,
    reply_max_tokens,
    speech_of,
    tool_choice_name,
    tool_specs,
)
from .session import default_session, vad_timing

__all__ = ["RealtimeConnection"]

log = logging.getLogger("voicekit.standin.realtime")

REALTIME_BEAM_SIZE = 1
"""Whisper decodes Realtime turns greedily: on the 8 recordings of ``../shared/audio``,
RTF 0.11 instead of 0.16 with beam search (width 5, the HTTP endpoints' setting), and
the same WER, 6.2%."""

MIN_COMMIT_MS = 100
"""OpenAI refuses to commit less than 100 ms of input audio."""

IDLE_PROMPT = "The user has been silent for a while. Gently invite them to continue."


def ms_to_samples(ms: float) -> int:
    return round(ms * REALTIME_SAMPLE_RATE / 1000)


def samples_to_ms(n: int) -> int:
    return n * 1000 // REALTIME_SAMPLE_RATE


class RealtimeConnection:
    """The state of one connection; :meth:`serve` runs it until the client leaves.

    Attributes
    ----------
    session : dict
        The session object (``RealtimeSessionCreateRequest`` shape).
    timeline : int
        PCM16 samples (24 kHz) appended since the connection opened; VAD times
        (``audio_start_ms``, ``audio_end_ms``) are positions on it.
    buffer : ndarray
        The uncommitted input audio, int16 ``(n,)``, starting at sample ``buffer_start``.
    """

    def __init__(self, websocket: WebSocket, engines: Engines, model: str) -> None:
        self.ws = websocket
        self.engines = engines
        self.session = default_session(model)
        self.conversation = Conversation()
        self.timeline = 0
        self.buffer: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.buffer_start = 0
        self.detector: TurnDetector | None = None
        self.speech_item_id: str | None = None
        self.speech_start_ms = 0
        self.active: ResponseRun | None = None
        self.active_task: asyncio.Task[None] | None = None
        self.voice_locked = False
        self.idle_task: asyncio.Task[None] | None = None
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._speculation: tuple[tuple[int, int], asyncio.Future[SttResult]] | None = None
        self._speculation_wanted: tuple[int, int] | None = None
        self._head_start: tuple[tuple[int, int], HeadStart] | None = None
        self._closing = False
        self.configure_vad()

    # -- sending -----------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event (from any thread); it gets its ``event_id`` here."""
        event = {"event_id": new_id("event"), **event}
        if threading.get_ident() == self._loop_thread:
            self._out.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._out.put_nowait, event)

    async def _sender(self) -> None:
        while (event := await self._out.get()) is not None:
            try:
                await self.ws.send_text(json.dumps(event))
            except (WebSocketDisconnect, RuntimeError):
                return

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` as a task the connection waits for when it closes."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the connection ----------------------------------------------------------

    async def serve(self, handlers: dict[str, tuple[type[Any], Callable[[RealtimeConnection, dict[str, Any]], Awaitable[None]]]]) -> None:
        """Send ``session.created``, then read client events until the socket closes."""
        sender = asyncio.create_task(self._sender())
        self.emit({"type": "session.created", "session": self.session})
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    self.emit(error_event(RealtimeProtocolError(
                        "expected a text frame holding one JSON event, got a binary frame", code="invalid_json"), None))
                    continue
                await self._dispatch(text, handlers)
        finally:
            await self._shutdown(sender)

    async def _dispatch(self, text: str, handlers: dict[str, Any]) -> None:
        client_id = None
        try:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise RealtimeProtocolError(
                    f"expected one JSON object per message: {exc.msg} at character {exc.pos}", code="invalid_json"
                ) from None
            if not isinstance(raw, dict):
                raise RealtimeProtocolError(f"expected a JSON object, got {type(raw).__name__}", code="invalid_json")
            client_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
            kind = raw.get("type")
            if kind not in handlers:
                raise RealtimeProtocolError(
                    f"Invalid value: {kind!r}. Supported values are: {', '.join(sorted(handlers))}.",
                    code="invalid_value", param="type",
                )
            model, handler = handlers[kind]
            _validate(model, raw)
            await handler(self, raw)
        except RealtimeProtocolError as err:
            self.emit(error_event(err, client_id))
        except Exception as exc:
            log.exception("realtime handler failed")
            self.emit(error_event(RealtimeProtocolError(
                f"The stand-in failed: {type(exc).__name__}: {exc}", type="server_error"), client_id))

    async def _shutdown(self, sender: asyncio.Task[None]) -> None:
        self._closing = True
        self._drop_head_start()
        if self.active is not None:
            self.active.cancel("client_cancelled")
        if self.idle_task is not None:
            self.idle_task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._out.put_nowait(None)
        with contextlib.suppress(Exception):
            await sender

    # -- session -----------------------------------------------------------------

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

    # -- input audio -------------------------------------------------------------

    async def append_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """Add audio to the buffer and run VAD over it."""
        self.buffer = np.concatenate([self.buffer, pcm])
        self.timeline += pcm.size
        if self.detector is None:
            return
        for event in self.detector.feed(pcm):
            if event.kind == "speech_started":
                await self._speech_started(event.ms)
            elif event.kind == "speech_paused":
                self._speculate(self._turn_start(), event.ms)
            else:
                await self._speech_stopped(event)
        if self._head_start is not None and not self.detector.pausing:
            self._drop_head_start()  # the user talks again: that reply will not be given

    def _turn_start(self) -> int:
        """First sample of the turn in progress: speech start minus ``prefix_padding_ms``, within the buffer."""
        assert self.detector is not None
        return max(self.buffer_start, ms_to_samples(self.speech_start_ms - self.detector.timing.prefix_padding_ms))

    def _speculate(self, start: int, pause_ms: int) -> None:
        """Start Whisper on timeline ``[start, pause_ms)`` unless a run is in flight (then queue this one)."""
        if self._speculation is not None and not self._speculation[1].done():
            self._speculation_wanted = (start, pause_ms)
            return
        self._speculation_wanted = None
        end = min(self.timeline, ms_to_samples(pause_ms))
        if end - start < ms_to_samples(MIN_COMMIT_MS):
            return
        clip = Clip(self.buffer[start - self.buffer_start: end - self.buffer_start].copy(), REALTIME_SAMPLE_RATE)
        prompt = (self.session["audio"]["input"]["transcription"] or {}).get("prompt")
        task = self.spawn(asyncio.to_thread(self.engines.stt.transcribe, clip, prompt=prompt,
                                            beam_size=REALTIME_BEAM_SIZE))
        log.debug("speculative transcription of [%d, %d) ms", samples_to_ms(start), pause_ms)
        self._speculation = ((start, pause_ms), task)
        task.add_done_callback(self._speculation_finished)

    def _speculation_finished(self, task: asyncio.Future[Any]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.warning("speculative transcription failed: %r", task.exception())
        wanted, self._speculation_wanted = self._speculation_wanted, None
        if wanted is not None and not self._closing and self.speech_item_id is not None and wanted[0] >= self.buffer_start:
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
                         max_tokens=reply_max_tokens(config), tts=self.engines.tts, speech=speech_of(config))
        self._head_start = (key, head)
        log.debug("head start for [%d, %d) ms", samples_to_ms(key[0]), key[1])

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
        head = self._take_head_start(start, event.pause_ms)
        self.commit(start, end, item_id, self._take_speculation(start, event.pause_ms))
        if self.detector.timing.create_response:
            self.spawn(self.respond_after_active({}, head))
        elif head is not None:
            head.close()

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
        self.spawn(self.transcribe(item, speculative))
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

    async def transcribe(self, item: Item, speculative: asyncio.Future[SttResult] | None = None) -> None:
        """Whisper the item's audio; the transcript feeds the LLM, and events go out if transcription is on."""
        assert item.audio is not None and item.transcript is not None
        config = self.session["audio"]["input"]["transcription"]
        clip = Clip(item.audio, REALTIME_SAMPLE_RATE)
        try:
            result = None
            if speculative is not None:
                with contextlib.suppress(Exception):
                    result = await speculative
            if result is None:
                result = await asyncio.to_thread(self.engines.stt.transcribe, clip, prompt=(config or {}).get("prompt"),
                                                 beam_size=REALTIME_BEAM_SIZE)
        except Exception as exc:  # noqa: BLE001 -- reported as transcription.failed
            item.transcript.set_result("")
            if config:
                self.emit({"type": "conversation.item.input_audio_transcription.failed", "item_id": item.id,
                           "content_index": 0,
                           "error": {"type": "transcription_error", "code": "audio_unintelligible",
                                     "message": f"{type(exc).__name__}: {exc}"}})
            return
        text = result.text
        item.data["content"][0]["transcript"] = text
        item.transcript.set_result(text)
        if not config:
            return
        for segment in result.segments:
            self.emit({"type": "conversation.item.input_audio_transcription.delta", "item_id": item.id,
                       "content_index": 0, "delta": segment.text})
        audio_in = audio_tokens(clip.duration)
        self.emit({
            "type": "conversation.item.input_audio_transcription.completed", "item_id": item.id, "content_index": 0,
            "transcript": text,
            "usage": {"type": "tokens", "input_tokens": audio_in, "output_tokens": result.n_tokens,
                      "total_tokens": audio_in + result.n_tokens,
                      "input_token_details": {"audio_tokens": audio_in, "text_tokens": 0}},
        })

    # -- responses ---------------------------------------------------------------

    def responding(self) -> bool:
        return self.active is not None and not self.active.finished.is_set()

    def response_config(self, overrides: dict[str, Any]) -> ResponseConfig:
        """The session's response settings with ``response.create``'s ``response`` overrides."""
        s = self.session
        out = (overrides.get("audio") or {}).get("output") or {}
        context = None
        if overrides.get("input") is not None:
            context = [self._input_item(raw, k) for k, raw in enumerate(overrides["input"])]
        return ResponseConfig(
            instructions=overrides.get("instructions") or s["instructions"] or "",
            output_modalities=tuple(overrides.get("output_modalities") or s["output_modalities"]),
            voice=out.get("voice") or s["audio"]["output"]["voice"],
            speed=float(s["audio"]["output"].get("speed") or 1.0),
            output_format=out.get("format") or s["audio"]["output"]["format"],
            tools=tool_specs(overrides["tools"] if overrides.get("tools") is not None else s["tools"]),
            tool_choice=tool_choice_name(overrides.get("tool_choice", s["tool_choice"])),
            max_output_tokens=overrides.get("max_output_tokens", s["max_output_tokens"]) or "inf",
            metadata=overrides.get("metadata"),
            conversation=overrides.get("conversation") or "auto",
            context=context,
            truncation=s.get("truncation", "auto"),
        )

    def _input_item(self, raw: dict[str, Any], index: int) -> Item:
        if raw.get("type") == "item_reference":
            return self.conversation.get(str(raw.get("id")), "response.create")
        from .handlers import item_from_client

        return item_from_client(self, raw, f"response.input[{index}]")

    def start_response(self, overrides: dict[str, Any], head_start: HeadStart | None = None) -> ResponseRun:
        """Start a response now (adopting ``head_start`` if it matches; see :mod:`.headstart`).

        Raises
        ------
        RealtimeProtocolError
            ``conversation_already_has_active_response`` while one is running.
        """
        if self.responding():
            assert self.active is not None
            if head_start is not None:
                head_start.close()
            raise RealtimeProtocolError(
                f"Conversation already has an active response in progress: {self.active.id}. "
                "Wait until the response is finished before creating a new one.",
                code="conversation_already_has_active_response",
            )
        if self.idle_task is not None:
            self.idle_task.cancel()
        run = ResponseRun(self.engines, self.conversation, self.response_config(overrides), self.emit, head_start)
        self.active = run
        self.active_task = asyncio.ensure_future(self._run(run))
        self._tasks.add(self.active_task)
        self.active_task.add_done_callback(self._tasks.discard)
        return run

    async def _run(self, run: ResponseRun) -> None:
        await asyncio.to_thread(run.run)
        if run.audio_samples:
            self.voice_locked = True
        timing = self.detector.timing if self.detector is not None else None
        if timing is not None and timing.idle_timeout_ms and run.cancel_reason is None:
            wait_s = run.audio_samples / REALTIME_SAMPLE_RATE + timing.idle_timeout_ms / 1000
            self.idle_task = asyncio.ensure_future(self._idle(wait_s))

    async def respond_after_active(self, overrides: dict[str, Any], head_start: HeadStart | None = None) -> None:
        """VAD's automatic response: waits for a cancelled response to wind down first."""
        if self.active_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self.active_task)
        try:
            self.start_response(overrides, head_start)
        except RealtimeProtocolError as err:
            self.emit(error_event(err, None))

    async def _idle(self, wait_s: float) -> None:
        """``idle_timeout_ms``: no speech after the reply played out, so prompt the user (wall-clock timer)."""
        await asyncio.sleep(wait_s)
        if self.speech_item_id is not None or self.responding():
            return
        start_ms = samples_to_ms(self.buffer_start)
        item_id = new_id("item")
        self.emit({"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": start_ms,
                   "audio_end_ms": samples_to_ms(self.timeline), "item_id": item_id})
        if self.buffer.size:
            self.commit(self.buffer_start, self.timeline, item_id)
        self.start_response({"instructions": f"{self.session['instructions'] or ''} {IDLE_PROMPT}".strip()})


def _validate(model: type[Any], raw: dict[str, Any]) -> None:
    """Check a client event against its SDK model; the first problem becomes the error's ``param``."""
    import pydantic

    try:
        model.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise RealtimeProtocolError(
            f"Invalid '{raw.get('type')}' event: {loc or 'event'}: {first['msg']}", code="invalid_value", param=loc or None
        ) from None
