"""One Live WebSocket: its session, timeline, listening and speaking.

Client events are checked against the SDK's own models (``openai.types.live``,
strictly: see :func:`.config.check_strict`) and dispatched to handlers
registered by event type (:mod:`.handlers`). Server events go out through one
queue in the order they were made, each with a fresh ``event_id`` and, when
the command that caused it had one, its ``client_event_id``.

The session timeline
--------------------
Times (``start_ms``, ``end_ms``, ``offset_ms``) are ms since
``session.started``: the later of the wall clock and the input audio received
so far. With audio streamed at microphone pace, as a Live client does (it
sends silence when the user is quiet), the two agree; audio sent faster than
real time moves the timeline with it, so VAD and the reply's pacing still
line up.

Full duplex, emulated
---------------------
The stand-in listens all the time (Silero VAD over every appended chunk, while
it speaks too). A user utterance ends after :data:`.listener.END_OF_TURN_SILENCE_MS` of
silence; Whisper has usually transcribed it by then (it starts on the speech
so far once a pause reaches 96 ms, :data:`voicekit.vad.PAUSE_REPORT_MS`). The
transcript goes out as ``session.input_transcript.delta`` and the model
answers (:mod:`.replies`, :mod:`.speaker`). If the user speaks for
:data:`.listener.TALK_OVER_MS` while
the model is writing or speaking, the model stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines
from ..llm import N_CTX
from .backend import Backend
from .config import check_strict
from .context import Context
from .delegation import Delegation
from .errors import WITHOUT_EVENT_ID, LiveError, error_event, new_id
from .listener import Listener
from .speaker import Outcome, Utterance

__all__ = ["Handler", "LiveConnection"]

log = logging.getLogger("voicekit.standin.live")

Handler = Callable[["LiveConnection", dict[str, Any]], Awaitable[None]]


class LiveConnection:
    """The state of one connection; :meth:`serve` runs it until the client leaves or the session closes.

    Attributes
    ----------
    session : dict or None
        The resolved ``SessionResource`` after ``session.start``; None before.
    input_samples : int
        PCM16 samples (24 kHz) appended since the start.
    context : Context
        What the model knows.
    """

    def __init__(self, websocket: WebSocket, engines: Engines) -> None:
        self.ws = websocket
        self.engines = engines
        self.session: dict[str, Any] | None = None
        self.delegation_given = False
        self.context = Context("", [])
        self.client_event_id: str | None = None
        self.closed = False
        self.muted = False
        self.heard_any = False
        """Whether an input transcript has been sent (later ones begin with a space)."""
        self.input_samples = 0
        self.listener: Listener | None = None
        self.backend: Backend | None = None
        self.current: Utterance | None = None
        self.delegations: dict[str, Delegation] = {}
        self.acks: set[asyncio.Task[None]] = set()
        self.last_prompt_tokens = 0
        self.output_end_ms = 0.0
        self._t0 = time.perf_counter()
        self.speak_lock = asyncio.Lock()
        self.turns: list[Outcome] = []
        """Every spoken turn's outcome, in order."""
        self.acks_started: set[asyncio.Task[None]] = set()
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks: set[asyncio.Future[Any]] = set()

    # -- sending and tasks ------------------------------------------------------------

    def emit(self, event: dict[str, Any], client_event_id: str | None = None) -> None:
        """Queue a server event (from any thread); it gets its ``event_id`` here, if its SDK model has one."""
        if event["type"] not in WITHOUT_EVENT_ID:
            event = {"event_id": new_id("event"), **event}
        if client_event_id is not None:
            event["client_event_id"] = client_event_id
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
        """Run ``work`` as a task the connection ends when it closes."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("live task failed", exc_info=task.exception())
            self.emit(error_event(LiveError(f"The stand-in failed: {task.exception()!r}", code="server_error",
                                            type="server_error"), None))

    # -- the connection ---------------------------------------------------------------

    async def serve(self, handlers: dict[str, tuple[type[Any] | None, Handler]]) -> None:
        """Read client events until the socket closes or ``session.closed`` has been sent."""
        sender = asyncio.create_task(self._sender())
        try:
            while not self.closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    self.emit(error_event(LiveError("expected a text frame holding one JSON event, got a binary "
                                                    "frame", code="invalid_json"), None))
                    continue
                await self._dispatch(text, handlers)
        finally:
            await self._shutdown(sender)

    async def _dispatch(self, text: str, handlers: dict[str, tuple[type[Any] | None, Handler]]) -> None:
        client_id = None
        try:
            try:
                raw = json.loads(text)
            except json.JSONDecodeError as exc:
                raise LiveError(f"expected one JSON object per message: {exc.msg} at character {exc.pos}",
                                code="invalid_json") from None
            if not isinstance(raw, dict):
                raise LiveError(f"expected a JSON object, got {type(raw).__name__}", code="invalid_json")
            client_id = raw.get("event_id") if isinstance(raw.get("event_id"), str) else None
            kind = raw.get("type")
            if kind not in handlers:
                raise LiveError(f"Invalid value: {kind!r}. Supported values are: {', '.join(sorted(handlers))}.",
                                code="invalid_value", param="type")
            if self.session is None and kind != "session.start":
                raise LiveError(f"The session has not started: send session.start (with session.model) as the "
                                f"first event, got {kind!r}", code="session_not_started", param="type")
            model, handler = handlers[kind]
            if model is not None:
                check_strict(model, raw)
            self.client_event_id = client_id
            await handler(self, raw)
        except LiveError as err:
            self.emit(error_event(err, client_id))
        except Exception as exc:
            log.exception("live handler failed")
            self.emit(error_event(LiveError(f"The stand-in failed: {type(exc).__name__}: {exc}", code="server_error",
                                            type="server_error"), client_id))
        finally:
            self.client_event_id = None

    async def _shutdown(self, sender: asyncio.Task[None]) -> None:
        self.closed = True
        if self.current is not None:
            self.current.stop()
        if self.listener is not None:
            self.listener.drop_head()
        for task in [*self._tasks, *self.acks]:
            task.cancel()
        for task in [*self._tasks, *self.acks]:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        self._out.put_nowait(None)
        with contextlib.suppress(Exception):
            await sender
        with contextlib.suppress(Exception):
            await self.ws.close()

    # -- session ----------------------------------------------------------------------

    def start(self, session: dict[str, Any], delegation_given: bool) -> None:
        """Begin the session with its resolved configuration; the timeline starts now."""
        self.session = session
        self.delegation_given = delegation_given
        self.context = Context(session["instructions"], session["input"])
        self.listener = Listener(self)
        if session["delegation"]["type"] == "responses":
            self.backend = Backend(self)
        self._t0 = time.perf_counter()

    def now_ms(self) -> float:
        """The session timeline now, in ms (see the module docstring)."""
        return max(1000.0 * (time.perf_counter() - self._t0), 1000.0 * self.input_samples / REALTIME_SAMPLE_RATE)

    def usage(self) -> dict[str, Any]:
        """``SessionUsage``: whole seconds of session so far (the stand-in bills nothing)."""
        return {"seconds": float(int(self.now_ms() // 1000))}

    def emit_usage(self) -> None:
        self.emit({"type": "session.usage.updated", "usage": self.usage(),
                   "context_window": {"usage_ratio": round(min(1.0, self.last_prompt_tokens / N_CTX), 4)}})

    async def close(self, reason: str) -> None:
        """Stop speaking, send ``session.closed`` with ``reason`` and the final usage, and end the connection."""
        assert self.session is not None
        if self.current is not None:
            self.current.stop()
        self.emit({"type": "session.closed", "reason": reason, "session": self.session, "usage": self.usage()},
                  self.client_event_id)
        self.closed = True
