"""Transports: how a voice session's events reach the server and come back.

A session (:mod:`voicekit.session.base`) holds its protocol logic once and talks to the
server through a :class:`Transport`, an object passed in (httpx's ``Client`` over
``BaseTransport``; the Agents SDK's ``RealtimeSession`` over ``OpenAIRealtimeWebSocket``
or ``OpenAIRealtimeWebRTC``). The protocol is the same over each:

- :class:`WebSocketTransport`: the kernel holds the WebSocket
  (``client.realtime.connect(model=...)`` or ``client.live.connect()``), sends the
  microphone as base64 PCM16 appends and receives the reply audio as deltas;
- a WebRTC call (:class:`voicekit.webrtc.Call`): the browser's peer carries the media,
  and the kernel joins the same session over a *sideband* WebSocket
  (``client.realtime.connect(call_id=...)``, ``client.live.sideband.connect(session_id=...)``;
  OpenAI guides "WebRTC" and "Server controls"). Such a transport is a
  :class:`WebSocketTransport` with that ``connect`` and ``carries_audio=False``: the
  kernel sends no input audio; a Realtime sideband receives no output audio (only
  ``output_audio_buffer.started``/``stopped`` say when the peer sends it), a GPT-Live
  sideband receives it reflected (``session.output_audio.delta``, PCM16 24 kHz with
  ``end_ms``; ``openai.types.live.OutputAudioDeltaEvent``). Every other event flows
  as on the kernel's WebSocket.

:class:`voicekit.testing.FakeConnection` plugs a scripted server in through ``connect``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..errors import RealtimeError
from ..formats import REALTIME_SAMPLE_RATE
from .events import EventRecord

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

__all__ = ["Transport", "WebSocketTransport", "async_client"]

logger = logging.getLogger("voicekit.session")

T = TypeVar("T")


class Transport(Protocol):
    """What a session needs from its connection.

    Attributes
    ----------
    record : EventRecord
        Where every event sent and received is recorded.
    carries_audio : bool
        True when the kernel sends the input audio and receives the output audio on this
        connection (a WebSocket); False when a WebRTC peer carries the media and this is
        the sideband (``send_audio`` then refuses; a Realtime sideband receives no audio
        delta, a GPT-Live one the output audio reflected, see the module docstring).
    """

    record: EventRecord
    carries_audio: bool

    def bind(self, handle: Callable[[dict[str, Any]], None],
             before_send: Callable[[dict[str, Any]], None] | None = None) -> None:
        """``handle(event)`` runs with each server event (a dict) on the transport's
        thread before it is recorded; ``before_send(event)`` before each client event."""

    def open(self, timeout: float) -> None: ...
    def close(self, timeout: float) -> None: ...
    @property
    def opened(self) -> bool: ...
    @property
    def connected(self) -> bool: ...
    def put(self, kind: str, payload: Any) -> Future[None]: ...
    async def send_event(self, event: dict[str, Any]) -> None: ...
    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]: ...
    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T: ...


def async_client(client: AsyncOpenAI | OpenAI) -> tuple[AsyncOpenAI, bool]:
    """The async client a socket needs, and whether it was made here (then close it).

    A sync ``OpenAI`` client is copied into an ``AsyncOpenAI`` with the same key, base
    URL, organization, project and retries.
    """
    from openai import AsyncOpenAI

    if isinstance(client, AsyncOpenAI):
        return client, False
    return AsyncOpenAI(api_key=client.api_key, base_url=client.base_url, organization=client.organization,
                       project=client.project, max_retries=client.max_retries), True


class WebSocketTransport:
    """A WebSocket owned by a background thread with its own asyncio loop.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI or None
        Connects with ``connect(client)``; a sync client is copied (:func:`async_client`)
        and the copy closed with the transport (None: ``connect`` needs none, as
        :mod:`voicekit.testing`'s fake server).
    connect : callable
        ``connect(client)`` returns an awaitable of the SDK's open connection, for example
        ``lambda c: c.realtime.connect(model=m).enter()`` or
        ``lambda c: c.live.connect().__aenter__()``.
    append_type : str
        The client event that carries microphone audio (base64 PCM16 24 kHz in
        ``audio``): ``input_audio_buffer.append`` (Realtime) or
        ``session.input_audio.append`` (GPT-Live).
    carries_audio : bool
        False for a sideband beside a WebRTC peer (see the module docstring).
    name : str
        The owner's name, for messages.
    """

    def __init__(self, client: AsyncOpenAI | OpenAI | None, connect: Callable[[Any], Any], *,
                 append_type: str = "input_audio_buffer.append", carries_audio: bool = True,
                 name: str = "session") -> None:
        self.client: AsyncOpenAI | None = None
        self._close_client = False
        if client is not None:
            self.client, self._close_client = async_client(client)
        self._connect = connect
        self.append_type = append_type
        self.carries_audio = carries_audio
        self.name = name
        self.record = EventRecord()
        self._handle: Callable[[dict[str, Any]], None] = lambda data: None
        self._before_send: Callable[[dict[str, Any]], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._conn: Any = None
        self._queue: asyncio.Queue[tuple[str, Any]] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def bind(self, handle: Callable[[dict[str, Any]], None],
             before_send: Callable[[dict[str, Any]], None] | None = None) -> None:
        self._handle, self._before_send = handle, before_send

    # ------------------------------------------------------------ lifecycle
    def open(self, timeout: float) -> None:
        """Start the thread and connect. Raises RuntimeError if already opened."""
        if self._thread is not None:
            raise RuntimeError(f"this {self.name} was already started; make a new one")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="voicekit-session", daemon=True)
        self._thread.start()
        self.record.restart_clock()
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
        return self._conn is not None and self.record.closed is None

    # --------------------------------------------------------------- sending
    def submit(self, coro: Coroutine[Any, Any, Any]) -> Future[Any]:
        """Run ``coro`` on the transport's loop (from any thread)."""
        if self._loop is None:
            coro.close()
            raise RuntimeError("call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """``fn()`` run on the transport's thread, in turn with the handling of server
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
        it was sent.

        Raises
        ------
        RealtimeError
            If the socket closed, or audio is given to a transport that carries none.
        """
        if self._loop is None or self._queue is None:
            raise RuntimeError("call start() first")
        if self.record.closed is not None:
            raise RealtimeError(f"the {self.name}'s connection is closed ({self.record.closed})")
        if kind != "event" and not self.carries_audio:
            raise RealtimeError(f"this {self.name} is a sideband: the audio goes over the WebRTC peer")
        done: Future[None] = Future()
        self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, (payload, done)))
        return done

    async def send_event(self, event: dict[str, Any]) -> None:
        """Send one client event now (on the transport's loop), recording it first."""
        if self._before_send is not None:
            self._before_send(event)
        self.record.record("client", event)
        await self._conn.send(event)

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
        if self._close_client and self.client is not None:
            await self.client.close()
        self.record.set_closed("closed by the client")

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
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(0, pcm.size, step):
            if realtime:
                await asyncio.sleep(max(0.0, start + i / REALTIME_SAMPLE_RATE - loop.time()))
            await self._send_pcm(pcm[i:i + step])

    async def _send_pcm(self, pcm: npt.NDArray[np.int16]) -> None:
        await self.send_event({"type": self.append_type,
                               "audio": Clip(pcm, REALTIME_SAMPLE_RATE).to_realtime_base64()})

    async def _reader(self) -> None:
        try:
            async for event in self._conn:
                data = event if isinstance(event, dict) else event.model_dump(mode="json", exclude_unset=True)
                try:
                    self._handle(data)
                except Exception:  # a failing widget or callback must not end the session
                    logger.exception("handling a %s event failed", data.get("type"))
                self.record.record("server", data)
        except Exception as exc:  # noqa: BLE001 -- a lost socket: waiters are told why
            self.record.set_closed(f"{type(exc).__name__}: {exc}")
        else:
            self.record.set_closed("closed by the server")
