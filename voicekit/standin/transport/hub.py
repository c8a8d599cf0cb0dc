"""The event plumbing every session shares, whatever carries it: :class:`EventHub`.

A Realtime or Live session makes server events on the event loop and on
engine worker threads, and takes client events from one or more links
(:mod:`.links`): the WebSocket that opened it, or a WebRTC call's data
channel plus an optional sideband WebSocket. The hub

- queues server events from any thread and sends them in the order they were
  made, to every link that accepts them (:meth:`EventHub.add_link`); an event a
  link cannot carry (larger than a data channel's max-message-size) is replaced
  on that link by what :meth:`EventHub.fitted` gives, and the events after it
  still go out;
- lets a transport *tap* the stream first: a WebRTC peer takes the output
  audio deltas off it and plays them on its media track (:mod:`.webrtc`);
- reads a link's frames, refusing binary and oversized ones with an error
  event (the session goes on), and hands each JSON text to the session;
- runs the session's background work as tasks it waits for at shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ..access.guards import MAX_WS_EVENT_BYTES
from .links import BINARY, Link, MessageTooLarge

__all__ = ["Accepts", "EventHub", "Tap"]

log = logging.getLogger("voicekit.standin")

Accepts = Callable[[dict[str, Any]], bool]
"""Whether a link carries a server event (e.g. a data channel carries no output audio deltas)."""

Tap = Callable[[dict[str, Any]], None]
"""Sees every server event before the links do, on the event loop, in order."""


class EventHub:
    """Server events out to the links, client events in from them, and the session's tasks."""

    def __init__(self) -> None:
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._links: dict[Link, Accepts | None] = {}
        self._taps: list[Tap] = []
        self._sender: asyncio.Task[None] | None = None

    # -- out ----------------------------------------------------------------------------

    def post(self, event: dict[str, Any]) -> None:
        """Queue a finished server event (from any thread)."""
        if threading.get_ident() == self._loop_thread:
            self._out.put_nowait(event)
        else:
            self._loop.call_soon_threadsafe(self._out.put_nowait, event)

    def add_link(self, link: Link, accepts: Accepts | None = None) -> None:
        """Send every later event that ``accepts`` lets through (all, if None) on ``link``."""
        self._links[link] = accepts

    def remove_link(self, link: Link) -> None:
        self._links.pop(link, None)

    @property
    def links(self) -> list[Link]:
        return list(self._links)

    def add_tap(self, tap: Tap) -> None:
        self._taps.append(tap)

    def start_sending(self) -> None:
        """Start the sender task (idempotent)."""
        if self._sender is None:
            self._sender = asyncio.ensure_future(self._send_loop())

    async def _send_loop(self) -> None:
        while (event := await self._out.get()) is not None:
            for tap in self._taps:
                tap(event)
            text: str | None = None
            for link, accepts in list(self._links.items()):
                if accepts is not None and not accepts(event):
                    continue
                if text is None:
                    text = json.dumps(event)
                if not await self._send(link, event, text):
                    self._links.pop(link, None)

    async def _send(self, link: Link, event: dict[str, Any], text: str) -> bool:
        """Send ``text`` (``event``) on ``link``; False once the link has closed. Never raises: the
        sender serves every link and tap, so one failed frame must not stop the session's events."""
        try:
            try:
                return await link.send(text)
            except MessageTooLarge as exc:
                instead = self.fitted(event, str(exc))
                log.warning("the %s could not carry %s (%d bytes): %s; sent %s instead", link.name,
                            event.get("type"), len(text), exc, None if instead is None else instead.get("type"))
                return True if instead is None else await link.send(json.dumps(instead))
        except Exception:
            log.exception("sending %s on the %s failed", event.get("type"), link.name)
            return True

    def fitted(self, event: dict[str, Any], refusal: str) -> dict[str, Any] | None:
        """What goes on a link instead of ``event`` when the link refused it as too large
        (``refusal`` says why): a smaller form of it, an ``error`` event, or None (nothing).
        Sessions override it; the hub's own answer is None."""
        return None

    async def stop_sending(self) -> None:
        """Send what is queued, then stop the sender."""
        self._out.put_nowait(None)
        if self._sender is not None:
            with contextlib.suppress(Exception):
                await self._sender

    # -- in -----------------------------------------------------------------------------

    def reading(self) -> bool:
        """Whether to keep reading client events (a Live session stops once it has closed)."""
        return True

    async def read(self, link: Link, dispatch: Callable[[str, Link], Awaitable[None]],
                   reject: Callable[[str, str], None], too_large_hint: str) -> None:
        """Read ``link`` until it closes or :meth:`reading` turns False.

        ``dispatch(text, link)`` handles one JSON text frame; ``reject(message, code)``
        sends the session's ``error`` event for a binary frame (``invalid_json``) or one
        over :data:`~voicekit.standin.access.guards.MAX_WS_EVENT_BYTES` (``event_too_large``).
        """
        while self.reading():
            frame = await link.receive()
            if frame is None:
                return
            if frame is BINARY or not isinstance(frame, str):
                reject("expected a text frame holding one JSON event, got a binary frame", "invalid_json")
                continue
            if len(frame) > MAX_WS_EVENT_BYTES:  # an error event, not a close: the session goes on
                reject(f"The event is too large: {len(frame)} bytes, the limit is {MAX_WS_EVENT_BYTES} bytes "
                       f"(15 MiB). {too_large_hint}", "event_too_large")
                continue
            await dispatch(frame, link)

    # -- tasks --------------------------------------------------------------------------

    def spawn(self, work: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run ``work`` as a task the session waits for (or ends) when it closes."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close_links(self, code: int = 1000) -> None:
        for link in list(self._links):
            await link.close(code)
        self._links.clear()
