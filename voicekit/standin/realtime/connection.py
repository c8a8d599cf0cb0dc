"""One Realtime WebSocket connection: its session, input audio buffer, VAD and responses.

Client events are checked against the SDK's own client event models
(``openai.types.realtime.SessionUpdateEvent`` and the rest) and dispatched
through the registry it is given (:mod:`.registry`, filled by :mod:`.handlers`).
Server events go out through one queue in the order they were made, each with
a fresh ``event_id``. Engine work (Whisper, the LLM, Piper) runs on worker
threads so the socket keeps reading: that is what lets speech interrupt a
response. The input buffer and its VAD turns are :mod:`.turns`' (work started
before a turn ends, :mod:`.lookahead`'s); the transcript events are
:mod:`.transcription`'s; response settings :mod:`.config`'s.

A session is a speech-to-speech session (``type: "realtime"``) or a
transcription session (``type: "transcription"``), which never creates a
response.

The VAD's automatic responses never report an error the client did not cause:
a turn that ends while a response is still running (or winding down after a
cancel) waits for it, and when several turns end meanwhile, one response
answers them all (each newer turn replaces the pending response of the one
before). A pending response is dropped if the user is speaking again when it
could start, and ``interrupt_response`` is on: that next turn will answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector
from ..engines import Engines, SttResult
from ..timings import TurnClock
from ..transport.hub import Accepts, EventHub
from ..transport.links import Link
from ..transport.wire import Registry, client_event_object, event_id_of
from .config import ResponseConfig, response_config
from .conversation import Conversation, Item
from .events import RealtimeProtocolError, error_event, new_id
from .headstart import HeadStart
from .items import item_from_client
from .lookahead import samples_to_ms
from .registry import validate
from .response import ResponseRun
from .session import merge_session
from .transcription import merge_transcription_session, transcribe_item
from .turns import InputTurns

__all__ = ["RealtimeConnection"]

log = logging.getLogger("voicekit.standin.realtime")

IDLE_PROMPT = "The user has been silent for a while. Gently invite them to continue."


class RealtimeConnection(EventHub, InputTurns):
    """The state of one connection; :meth:`serve` runs it until the client leaves.

    Parameters
    ----------
    session : dict
        The session it starts with (:func:`.session.default_session` or
        :func:`.transcription.default_transcription_session`).
    may_transcribe : bool
        Whether a ``session.update`` may turn a speech-to-speech session into a
        transcription session.

    Attributes
    ----------
    session : dict
        The session object (``RealtimeSessionCreateRequest`` or
        ``RealtimeTranscriptionSessionCreateRequest`` shape, plus ``id``,
        ``object`` and ``expires_at``).
    timeline : int
        PCM16 samples (24 kHz) appended since the connection opened; VAD times
        (``audio_start_ms``, ``audio_end_ms``) are positions on it.
    buffer : ndarray
        The uncommitted input audio, int16 ``(n,)``, starting at sample ``buffer_start``.
    """

    def __init__(self, engines: Engines, session: dict[str, Any], *, may_transcribe: bool = True) -> None:
        EventHub.__init__(self)
        self.engines = engines
        self.session = session
        self.may_transcribe = may_transcribe
        self.conversation = Conversation()
        self.timeline = 0
        self.buffer: npt.NDArray[np.int16] = np.zeros(0, np.int16)
        self.buffer_start = 0
        self.detector: TurnDetector[Any] | None = None
        self.speech_item_id: str | None = None
        self.speech_start_ms = 0
        self.active: ResponseRun | None = None
        self.active_task: asyncio.Task[None] | None = None
        self.voice_locked = False
        self.idle_task: asyncio.Task[None] | None = None
        self._speculation: tuple[tuple[int, int], asyncio.Future[SttResult]] | None = None
        self._speculation_wanted: tuple[int, int] | None = None
        self._speculation_abandon: threading.Event | None = None
        self._head_start: tuple[tuple[int, int], HeadStart] | None = None
        self._pause_clock: tuple[tuple[int, int], TurnClock] | None = None
        self._arrivals: collections.deque[tuple[int, float]] = collections.deque(maxlen=256)
        """(timeline sample count, ``time.monotonic()``) after each recent append: when audio arrived."""
        self._closing = False
        self._auto: tuple[asyncio.Future[Any], HeadStart | None] | None = None
        self._last_transcription: asyncio.Future[Any] | None = None
        self.handlers = Registry()
        self.webrtc: Any = None
        """The WebRTC call this session runs on (:class:`.call.RealtimeCall`), or None on a WebSocket."""
        self.configure_vad()

    # -- sending -----------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event (from any thread); it gets its ``event_id`` here."""
        self.post({"event_id": new_id("event"), **event})

    # -- the connection ----------------------------------------------------------

    @property
    def transcribing(self) -> bool:
        """Whether this is a transcription session (no responses)."""
        return bool(self.session["type"] == "transcription")

    def open(self, link: Link, handlers: Registry, accepts: Accepts | None = None) -> None:
        """Start the session on its primary link: send ``session.created`` there."""
        self.handlers = handlers
        self.add_link(link, accepts)
        self.start_sending()
        self.emit({"type": "session.created", "session": self.session})

    async def read(self, link: Link) -> None:  # type: ignore[override]
        """Handle ``link``'s client events until it closes (the primary link, or a sideband)."""
        await EventHub.read(self, link, self._dispatch, self._reject,
                            "Send the audio in smaller input_audio_buffer.append events.")

    def _reject(self, message: str, code: str) -> None:
        self.emit(error_event(RealtimeProtocolError(message, code=code), None))

    def fitted(self, event: dict[str, Any], refusal: str) -> dict[str, Any] | None:
        """An event for a link that refused ``event`` as too large (a WebRTC data channel takes
        messages up to the browser's max-message-size, 256 KiB in Chromium: about 4 s of a user
        item's audio once base64 is in JSON). ``conversation.item.retrieved`` goes without the
        audio bytes (the item, its transcript included, stays whole; a sideband WebSocket still
        gets the audio); any other event becomes an ``error`` (``event_too_large``) naming it.
        OpenAI does not document this case: the stand-in's choice, so the client always hears back."""
        if event.get("type") == "conversation.item.retrieved":
            item = dict(event["item"])
            item["content"] = [{k: v for k, v in part.items() if k != "audio"} for part in item.get("content", [])]
            return {**event, "item": item}
        err = RealtimeProtocolError(f"The {event.get('type')} event could not be sent on this link: {refusal}",
                                    code="event_too_large")
        return {"event_id": new_id("event"), **error_event(err, None)}

    async def serve(self, link: Link, handlers: Registry) -> None:
        """Send ``session.created``, then read client events until the link closes, then shut down."""
        self.open(link, handlers)
        try:
            await self.read(link)
        finally:
            await self.shutdown()

    async def _dispatch(self, text: str, link: Link) -> None:
        handlers = self.handlers
        client_id = None
        try:
            raw = client_event_object(text, RealtimeProtocolError)
            client_id = event_id_of(raw)
            kind = raw.get("type")
            if kind == "transcription_session.update":
                raise RealtimeProtocolError(
                    "transcription_session.update belongs to the beta Realtime protocol, which OpenAI has shut "
                    "off. Send session.update with session.type 'transcription' instead.",
                    code="invalid_value", param="type",
                )
            model, handler = handlers.entry(kind, RealtimeProtocolError)
            if model is not None:
                validate(model, raw)
            await handler(self, raw)
        except RealtimeProtocolError as err:
            self.emit(error_event(err, client_id))
        except Exception as exc:
            log.exception("realtime handler failed")
            self.emit(error_event(RealtimeProtocolError(
                f"The stand-in failed: {type(exc).__name__}: {exc}", type="server_error"), client_id))

    async def shutdown(self) -> None:
        """End the session: cancel what runs, wait for its tasks, send what is queued, stop sending."""
        if self._closing:
            return
        self._closing = True
        self._drop_head_start()
        if self.active is not None:
            self.active.cancel("client_cancelled")
        if self.idle_task is not None:
            self.idle_task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self.webrtc is not None:
            await self.webrtc.close()
        await self.stop_sending()
        self.conversation.clear()  # its audio goes now, not when the garbage collector finds the session
        self.buffer = np.zeros(0, np.int16)

    # -- session -----------------------------------------------------------------

    def update_session(self, patch: dict[str, Any]) -> None:
        """Apply a ``session.update``'s ``session`` (see :mod:`.session`, :mod:`.transcription`).

        Raises
        ------
        RealtimeProtocolError
            If the patch is invalid, or asks to change the session's type where
            that is not allowed; the session is then unchanged.
        """
        kind = patch.get("type") or self.session["type"]
        if kind == "transcription":
            if not self.transcribing and (not self.may_transcribe or self.responding()):
                raise RealtimeProtocolError(
                    "expected session.type 'realtime': this session cannot become a transcription session "
                    + ("while a response is in progress" if self.may_transcribe else "(it was opened as such)"),
                    code="invalid_value", param="session.type")
            self.session = merge_transcription_session(self.session, patch)
            self._drop_head_start()
        elif self.transcribing:
            raise RealtimeProtocolError(
                "expected session.type 'transcription': this is a transcription session (opened with "
                "intent=transcription); connect with ?model=gpt-realtime-mini for a speech-to-speech session",
                code="invalid_value", param="session.type")
        else:
            self.session = merge_session(self.session, patch, voice_locked=self.voice_locked)
        self.configure_vad()

    def transcribe_later(self, item: Item, speculative: asyncio.Future[SttResult] | None = None) -> None:
        """Start Whisper on a user audio item (:func:`.transcription.transcribe_item`), after the previous one."""
        after = self._last_transcription
        self._last_transcription = self.spawn(transcribe_item(
            self.engines, self.session, item, self.emit, speculative, after))

    # -- responses ---------------------------------------------------------------

    def responding(self) -> bool:
        return self.active is not None and not self.active.finished.is_set()

    def response_config(self, overrides: dict[str, Any]) -> ResponseConfig:
        """The session's response settings with ``response.create``'s ``response`` overrides."""
        context = None
        if overrides.get("input") is not None:
            context = [self._input_item(raw, k) for k, raw in enumerate(overrides["input"])]
        return response_config(self.session, overrides, context)

    def _input_item(self, raw: dict[str, Any], index: int) -> Item:
        if raw.get("type") == "item_reference":
            return self.conversation.get(str(raw.get("id")), "response.create")
        return item_from_client(raw, f"response.input[{index}]", self.transcribe_later)

    def start_response(self, overrides: dict[str, Any], head_start: HeadStart | None = None,
                       clock: TurnClock | None = None) -> ResponseRun:
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
        run = ResponseRun(self.engines, self.conversation, self.response_config(overrides), self.emit, head_start,
                          clock)
        self.active = run
        run.announce()
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

    async def respond_after_active(self, overrides: dict[str, Any], head_start: HeadStart | None = None,
                                   clock: TurnClock | None = None) -> None:
        """VAD's automatic response: waits for the running response (a cancelled one winding
        down, or one the client started meanwhile), then starts, unless the user is talking again."""
        try:
            while self.active_task is not None and not self.active_task.done():
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.active_task)
        except asyncio.CancelledError:  # replaced by a newer turn's response
            if head_start is not None:
                head_start.close()
            raise
        timing = self.detector.timing if self.detector is not None else None
        if self._closing or self.responding() or (
                self.speech_item_id is not None and (timing is None or timing.interrupt_response)):
            if head_start is not None:
                head_start.close()
            return
        self.start_response(overrides, head_start, clock)

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
