"""One JSON event channel of a session: a WebSocket, or a WebRTC data channel.

A session's events travel on *links*. The primary link is the connection
that opened the session (the Realtime or Live WebSocket, or the
``oai-events`` data channel of a WebRTC call); a sideband link is a second
WebSocket that a server attaches to a running call (OpenAI guide "Server
controls", ``voice-server-controls``). Every link carries JSON text frames,
one event each, in both directions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from aiortc.exceptions import InvalidStateError
from starlette.websockets import WebSocket, WebSocketDisconnect

__all__ = ["BINARY", "DataChannelLink", "Link", "MessageTooLarge", "WebSocketLink"]

log = logging.getLogger("voicekit.standin.webrtc")

BINARY = object()
"""What :meth:`Link.receive` returns for a binary frame (the protocols carry JSON text only)."""


class MessageTooLarge(ValueError):
    """A frame larger than the link can carry: a WebRTC data channel takes messages up to the
    remote peer's SDP ``a=max-message-size`` (Chromium: 262,144 bytes; aiortc assumes 65,536
    when the offer names none). The link stays open; the frame was not sent."""


class Link(Protocol):
    """A bidirectional channel of JSON text events."""

    name: str
    """What the link is, for errors and logs: ``websocket``, ``data channel`` or ``sideband``."""

    async def receive(self) -> str | object | None:
        """The next text frame; :data:`BINARY` for a binary one; None once the link has closed."""
        ...

    async def send(self, text: str) -> bool:
        """Send one text frame; False if the link has closed.

        Raises
        ------
        MessageTooLarge
            If the frame is larger than the link carries (the link stays usable).
        """
        ...

    async def close(self, code: int = 1000) -> None:
        """Close the link (idempotent)."""
        ...


class WebSocketLink:
    """A Starlette WebSocket, already accepted."""

    def __init__(self, websocket: WebSocket, name: str = "websocket") -> None:
        self.websocket = websocket
        self.name = name
        self.closed = False

    async def receive(self) -> str | object | None:
        if self.closed:
            return None
        try:
            message = await self.websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            self.closed = True
            return None
        if message["type"] == "websocket.disconnect":
            self.closed = True
            return None
        text = message.get("text")
        return BINARY if text is None else text

    async def send(self, text: str) -> bool:
        if self.closed:
            return False
        try:
            await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            self.closed = True
            return False
        return True

    async def close(self, code: int = 1000) -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.websocket.close(code=code)


class DataChannelLink:
    """An aiortc ``RTCDataChannel`` (the ``oai-events`` channel of a WebRTC call).

    The link exists before the channel does: a call's first events
    (``session.created``, ``session.started``) are made when the SDP answer
    goes out, before the browser has opened its channel. They wait in a
    backlog (at most :data:`MAX_BACKLOG` events) and go out, in order, once
    :meth:`bind` has the open channel.
    """

    MAX_BACKLOG = 10_000

    def __init__(self, name: str = "data channel") -> None:
        self.name = name
        self.channel: Any = None
        self.closed = False
        self._backlog: list[str] = []
        self._inbox: asyncio.Queue[str | object | None] = asyncio.Queue()

    def bind(self, channel: Any) -> None:
        """Use ``channel`` (an ``RTCDataChannel``), sending the backlog once it is open."""
        self.channel = channel
        channel.on("message", self._on_message)
        channel.on("close", self._on_close)
        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _flush(self) -> None:
        backlog, self._backlog = self._backlog, []
        for text in backlog:
            try:
                self._send_now(text)
            except MessageTooLarge as exc:  # a session's first events; the rest of the backlog still goes
                log.warning("an event made before the data channel opened was not sent: %s", exc)

    def _on_message(self, message: str | bytes) -> None:
        self._inbox.put_nowait(message if isinstance(message, str) else BINARY)

    def _on_close(self) -> None:
        self.closed = True
        self._inbox.put_nowait(None)

    def _send_now(self, text: str) -> bool:
        try:
            self.channel.send(text)
        except (InvalidStateError, ConnectionError):  # the transport is gone
            self.closed = True
            return False
        except ValueError as exc:  # aiortc: larger than the remote's max-message-size; nothing was queued
            raise MessageTooLarge(str(exc)) from None
        return True

    async def receive(self) -> str | object | None:
        if self.closed and self._inbox.empty():
            return None
        return await self._inbox.get()

    async def send(self, text: str) -> bool:
        if self.closed:
            return False
        if self.channel is None or self.channel.readyState != "open":
            if len(self._backlog) < self.MAX_BACKLOG:
                self._backlog.append(text)
            return True
        return self._send_now(text)

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            if self.channel is not None:
                with contextlib.suppress(Exception):
                    self.channel.close()
        self._inbox.put_nowait(None)
