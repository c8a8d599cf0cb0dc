"""The state of one Live connection, shared by its parts (listener, speaker, replies, backend, handlers).

:class:`LiveState` holds the session, its timeline and what is in flight, and
sends server events; :class:`~.connection.LiveConnection` adds the socket's
read loop. The parts import this module, never the connection, so import
arrows point one way (``connection -> listener, backend -> state``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines
from ..engines.llm import N_CTX
from ..transport.hub import EventHub
from ..transport.wire import Registry
from .context import Context
from .delegation import Delegation
from .errors import WITHOUT_EVENT_ID, LiveError, error_event, new_id
from .speaker import Outcome, Utterance

__all__ = ["Backend", "Ears", "Handler", "LiveState"]

log = logging.getLogger("voicekit.standin.live")


class Ears(Protocol):
    """What the state needs of :class:`.listener.Listener`."""

    async def feed(self, pcm: npt.NDArray[np.int16]) -> None: ...

    def drop_head(self) -> None: ...

    @property
    def in_speech(self) -> bool:
        """True while the VAD hears the user speaking."""
        ...


class Backend(Protocol):
    """What the state needs of :class:`.backend.ResponsesBackend`."""

    items: list[dict[str, Any]]

    async def run(self, delegation: Delegation, *, body: dict[str, Any] | None = None) -> None: ...

    async def create(self) -> None: ...


Handler = Callable[["LiveState", dict[str, Any]], Awaitable[None]]
"""A client event handler (:mod:`.handlers`)."""


class LiveState(EventHub):
    """The state of one connection (the socket's read loop is :class:`~.connection.LiveConnection`'s).

    Attributes
    ----------
    session : dict or None
        The resolved ``SessionResource`` after ``session.start``; None before.
    input_samples : int
        PCM16 samples (24 kHz) appended since the start.
    context : Context
        What the model knows.
    """

    def __init__(self, engines: Engines, app_state: Any = None) -> None:
        EventHub.__init__(self)
        self.engines = engines
        self.app_state = app_state
        """The application's ``state`` (the Responses store lives there), or None."""
        self.session: dict[str, Any] | None = None
        self.delegation_given = False
        self.context = Context("", [])
        self.client_event_id: str | None = None
        self.closed = False
        self.muted = False
        self.heard_any = False
        """Whether an input transcript has been sent (later ones begin with a space)."""
        self.input_samples = 0
        self.listener: Ears | None = None
        self.resampler: Any = None
        """soxr's streaming resampler for 16 kHz input (made on first use)."""
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
        self.handlers = Registry()
        self.shut_down = False
        self.webrtc: Any = None
        """The WebRTC call this session runs on (:class:`.call.LiveCall`), or None on a WebSocket."""

    # -- sending and tasks ------------------------------------------------------------

    def emit(self, event: dict[str, Any], client_event_id: str | None = None) -> None:
        """Queue a server event (from any thread); it gets its ``event_id`` here, if its SDK model has one."""
        if event["type"] not in WITHOUT_EVENT_ID:
            event = {"event_id": new_id("event"), **event}
        if client_event_id is not None:
            event["client_event_id"] = client_event_id
        self.post(event)

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

    # -- session ----------------------------------------------------------------------

    def start(self, session: dict[str, Any], delegation_given: bool) -> None:
        """Begin the session with its resolved configuration (:class:`~.connection.LiveConnection` does)."""
        raise NotImplementedError

    def wall_ms(self) -> float:
        """The wall clock since ``session.started``, in ms."""
        return 1000.0 * (time.perf_counter() - self._t0)

    def now_ms(self) -> float:
        """The session timeline now, in ms: the later of the wall clock since ``session.started`` and the
        input audio received (see :mod:`.connection`, "The session timeline")."""
        return max(1000.0 * (time.perf_counter() - self._t0), 1000.0 * self.input_samples / REALTIME_SAMPLE_RATE)

    def usage(self) -> dict[str, Any]:
        """``SessionUsage``: whole seconds of session so far (the stand-in bills nothing)."""
        return {"seconds": float(int(self.now_ms() // 1000))}

    def emit_usage(self) -> None:
        """Send ``session.usage.updated``: the usage so far and the LLM's last prompt over its context window."""
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
