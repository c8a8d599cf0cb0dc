"""The plumbing under :class:`voicekit.realtime.RealtimeSession`: one Realtime WebSocket
on an asyncio loop in a daemon thread, an ordered send queue, the record of every
event both ways, and waits on it from other threads.

Protocol facts come from the SDK: ``AsyncOpenAI().realtime.connect(model=...)``
(``openai.resources.realtime``) yields ``openai.types.realtime`` server events.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..errors import RealtimeError
from ..formats import REALTIME_SAMPLE_RATE
from .turns import RealtimeEvent, elide_audio

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["RACE_EVENT_PREFIX", "RealtimeSocket"]

RACE_EVENT_PREFIX = "evt_vk_race_"
"""``event_id`` prefix of client events that may lose a race (a ``response.cancel`` sent
as the response ends): an ``error`` event naming one does not make waits raise."""

logger = logging.getLogger("voicekit.realtime")

T = TypeVar("T")


class RealtimeSocket:
    """A Realtime connection owned by a background thread.

    Parameters
    ----------
    client : openai.AsyncOpenAI
        Connects with ``client.realtime.connect(model=model)``.
    model : str
        The Realtime model.
    handle : callable
        ``handle(event)`` with each server event as JSON (a dict), on the socket's
        thread, before the event is recorded.
    on_record : callable
        ``on_record(event)`` with each :class:`RealtimeEvent` once recorded (both ways).
    close_client : bool
        Close ``client`` with the socket (when the session made it).
    connect : callable, optional
        ``connect(client)`` returns an awaitable of the SDK's open connection; default
        ``client.realtime.connect(model=model).enter()``. Others: a Realtime
        transcription session (``extra_query={"intent": "transcription"}``), GPT-Live
        (``client.live.connect().__aenter__()``).
    append_type : str
        The client event that carries microphone audio (base64 PCM16 24 kHz in
        ``audio``): ``input_audio_buffer.append`` (Realtime) or
        ``session.input_audio.append`` (GPT-Live).
    """

    def __init__(self, client: AsyncOpenAI, model: str, *, handle: Callable[[dict[str, Any]], None],
                 on_record: Callable[[RealtimeEvent], None], close_client: bool = False,
                 connect: Callable[[AsyncOpenAI], Any] | None = None,
                 append_type: str = "input_audio_buffer.append") -> None:
        self.client = client
        self.model = model
        self._connect = connect or (lambda c: c.realtime.connect(model=model).enter())
        self.append_type = append_type
        self.events: list[RealtimeEvent] = []
        self.before_send: Callable[[dict[str, Any]], None] | None = None
        self._handle = handle
        self._on_record = on_record
        self._close_client = close_client
        self._cond = threading.Condition()
        self._mark = 0
        self._t0 = time.monotonic()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.closed: str | None = None
        """Why the socket closed, or None while it is open (or not yet opened)."""

    # ------------------------------------------------------------ lifecycle
    def open(self, timeout: float) -> None:
        """Start the thread and connect. Raises RuntimeError if already opened."""
        if self._thread is not None:
            raise RuntimeError("this RealtimeSession was already started; make a new one")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="voicekit-realtime", daemon=True)
        self._thread.start()
        self._t0 = time.monotonic()
        self.submit(self._open()).result(timeout)

    def close(self, timeout: float) -> None:
        """Close the socket (and the client if owned), stop the thread. Idempotent."""
        if self._loop is None or self._thread is None or not self._thread.is_alive():
            return
        try:
            self.submit(self._shutdown()).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()

    @property
    def opened(self) -> bool:
        """True once :meth:`open` was called (whether or not the socket is still open)."""
        return self._thread is not None

    @property
    def connected(self) -> bool:
        return self._conn is not None and self.closed is None

    def now(self) -> float:
        """Seconds since the socket opened (monotonic clock)."""
        return time.monotonic() - self._t0

    # --------------------------------------------------------------- sending
    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run ``coro`` on the socket's loop (from any thread)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """``fn()`` run on the socket's thread, in turn with the handling of server
        events (so it never interleaves with one); directly when already there."""
        if self._loop is None or self._thread is None:
            raise RuntimeError("call start() first")
        if threading.get_ident() == self._thread.ident or not self._thread.is_alive():
            return fn()

        async def run() -> T:
            return fn()

        return self.submit(run()).result(timeout)

    def put(self, kind: str, payload: Any) -> Future[None]:
        """Queue ``("event", dict)``, ``("audio", pcm16)`` or ``("clip", (pcm16, step,
        realtime))``; everything goes out in the order queued. The Future is done when
        it was sent."""
        if self._loop is None or self._queue is None:
            raise RuntimeError("call start() first")
        if self.closed is not None:
            raise RealtimeError(f"the Realtime socket is closed ({self.closed})")
        done: Future[None] = Future()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, (payload, done)))
        return done

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send one client event now (on the socket's loop), recording it first."""
        if self.before_send is not None:
            self.before_send(event)
        self.record("client", event)
        await self._conn.send(event)

    # ------------------------------------------------------------ waiting
    def mark(self) -> int:
        with self._cond:
            self._mark = len(self.events)
            return self._mark

    def wait_for(self, types: set[str], since: int | None, timeout: float,
                 where: Callable[[RealtimeEvent], bool] | None, raise_on_error: bool) -> RealtimeEvent:
        """See :meth:`voicekit.realtime.RealtimeSession.wait_for`."""
        start = self._mark if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if event.source != "server":
                        continue
                    if event.type in types and (where is None or where(event)):
                        return event
                    err = event.data.get("error") or {}
                    if (raise_on_error and event.type == "error" and "error" not in types
                            and not str(err.get("event_id") or "").startswith(RACE_EVENT_PREFIX)):
                        raise RealtimeError(f"the server sent an error while waiting for {sorted(types)}: "
                                            f"{err.get('code')}: {err.get('message')}", err)
                start = len(self.events)
                if self.closed is not None:
                    raise RealtimeError(f"the Realtime socket closed ({self.closed}) while waiting for "
                                        f"{sorted(types)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    last = ", ".join(e.type for e in self.events[-8:])
                    raise TimeoutError(f"no {sorted(types)} within {timeout:g} s; last events: {last}")
                self._cond.wait(left)

    def record(self, source: str, data: dict[str, Any]) -> None:
        """Append a :class:`RealtimeEvent` (audio elided), wake waiters, call ``on_record``."""
        event = RealtimeEvent(self.now(), source, data.get("type", ""), elide_audio(data))  # type: ignore[arg-type]
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        self._on_record(event)

    # ------------------------------------------------------------ internals
    async def _open(self) -> None:
        self._queue = asyncio.Queue()
        self._conn = await self._connect(self.client)
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._reader()), loop.create_task(self._writer())]

    async def _shutdown(self) -> None:
        for task in self._tasks[1:]:
            task.cancel()
        if self._conn is not None:
            await self._conn.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._close_client:
            await self.client.close()
        self._set_closed("closed by the client")

    def _set_closed(self, why: str) -> None:
        with self._cond:
            if self.closed is None:
                self.closed = why
            self._cond.notify_all()

    async def _writer(self) -> None:
        assert self._queue is not None
        while True:
            kind, (payload, done) = await self._queue.get()
            try:
                if kind == "event":
                    await self.send_event(payload)
                elif kind == "audio":
                    await self._send_pcm(payload)
                else:
                    await self._stream(*payload)
                done.set_result(None)
            except Exception as exc:  # noqa: BLE001 -- handed to the caller's Future
                done.set_exception(exc)
                logger.warning("could not send a %s: %s", kind, exc)

    async def _stream(self, pcm: npt.NDArray[np.int16], step: int, realtime: bool) -> None:
        start = time.monotonic()
        for i in range(0, pcm.size, step):
            if realtime:
                await asyncio.sleep(max(0.0, start + i / REALTIME_SAMPLE_RATE - time.monotonic()))
            await self._send_pcm(pcm[i:i + step])

    async def _send_pcm(self, pcm: npt.NDArray[np.int16]) -> None:
        await self.send_event({"type": self.append_type,
                               "audio": Clip(pcm, REALTIME_SAMPLE_RATE).to_realtime_base64()})

    async def _reader(self) -> None:
        try:
            async for event in self._conn:
                data = event.model_dump(mode="json", exclude_unset=True)
                try:
                    self._handle(data)
                except Exception:  # a failing widget or callback must not end the session
                    logger.exception("handling a %s event failed", data.get("type"))
                self.record("server", data)
        except Exception as exc:  # noqa: BLE001 -- a lost socket: waiters are told why
            self._set_closed(f"{type(exc).__name__}: {exc}")
        else:
            self._set_closed("closed by the server")


def event_types(event_type: str | Iterable[str]) -> set[str]:
    return {event_type} if isinstance(event_type, str) else set(event_type)
