"""Fakes for testing voice sessions without a server, as the Agents SDK ships ``voice/testing.py``.

A :class:`ScriptedServer` plays the server's side of one connection: each client event
a session sends is handed to the handlers registered for its type (as the stand-in's
Realtime handlers register by event type), and the server events they return are
delivered back, each validated first with the SDK's own server event model
(``openai.types.realtime.RealtimeServerEvent``, ``openai.types.live.ServerEvent`` or
``openai.types.realtime.RealtimeTranslationServerEvent``), so
a fake cannot send what the real server could not. Plug it under any session::

    server = ScriptedServer("realtime", on_open=[{"type": "session.created", ...}])
    server.on("session.update", lambda e: [{"type": "session.updated", ...}])
    rt = RealtimeSession(client, transport=server.transport())

It answers only what the test scripted: it runs no engine, and it is not a stand-in.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import pydantic

from .session.transport import WebSocketTransport

__all__ = ["FakeConnection", "ScriptedServer"]

Handler = Callable[[dict[str, Any]], Iterable[Mapping[str, Any]]]

_APPEND = {"realtime": "input_audio_buffer.append", "live": "session.input_audio.append",
           "translation": "session.input_audio_buffer.append"}


def _adapter(protocol: str) -> pydantic.TypeAdapter[Any]:
    if protocol == "live":
        from openai.types.live import ServerEvent

        return pydantic.TypeAdapter(ServerEvent)
    if protocol == "translation":
        from openai.types.realtime import RealtimeTranslationServerEvent

        return pydantic.TypeAdapter(RealtimeTranslationServerEvent)
    from openai.types.realtime import RealtimeServerEvent

    return pydantic.TypeAdapter(RealtimeServerEvent)


class ScriptedServer:
    """The server's side of fake connections, scripted per client event type.

    Parameters
    ----------
    protocol : "realtime", "live" or "translation"
        Which SDK models validate the server events (``RealtimeServerEvent``,
        ``openai.types.live.ServerEvent`` or ``RealtimeTranslationServerEvent``).
    on_open : iterable of dict
        Server events sent as soon as a connection opens (``session.created``).

    Attributes
    ----------
    received : list of dict
        Every client event, in order, over every connection.
    connections : int
        How many connections were opened.
    """

    def __init__(self, protocol: Literal["realtime", "live", "translation"] = "realtime", *,
                 on_open: Iterable[Mapping[str, Any]] = ()) -> None:
        self.protocol = protocol
        self.on_open = [dict(e) for e in on_open]
        self.received: list[dict[str, Any]] = []
        self.connections = 0
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self._adapter = _adapter(protocol)
        self._current: FakeConnection | None = None

    def on(self, event_type: str, handler: Handler) -> None:
        """Answer each client event of ``event_type`` with the server events ``handler(event)`` returns."""
        self._handlers[event_type].append(handler)

    def push(self, event: Mapping[str, Any]) -> None:
        """Send one server event now on the open connection (from any thread)."""
        if self._current is None:
            raise RuntimeError("no connection is open")
        self._current.deliver(event)

    def transport(self, *, carries_audio: bool = True) -> WebSocketTransport:
        """A transport that connects to this server (``carries_audio=False``: a sideband)."""
        return WebSocketTransport(None, self._connect, append_type=_APPEND[self.protocol],
                                  carries_audio=carries_audio, name=f"fake {self.protocol} session")

    def answer(self, event: dict[str, Any]) -> list[Any]:
        """The validated server events for one client event."""
        self.received.append(event)
        return [self.validate(out) for h in self._handlers.get(event.get("type", ""), []) for out in h(event)]

    def validate(self, event: Mapping[str, Any]) -> Any:
        """``event`` parsed with the SDK's server event model (raises ``pydantic.ValidationError``)."""
        return self._adapter.validate_python(dict(event))

    async def _connect(self, client: Any) -> FakeConnection:
        self.connections += 1
        self._current = FakeConnection(self)
        for event in self.on_open:
            self._current.deliver(event)
        return self._current


class FakeConnection:
    """One open connection of a :class:`ScriptedServer`, shaped as the SDK's connection
    objects are where a transport uses them: ``await send(event)``, ``await close()`` and
    ``async for event in connection``."""

    _END = object()

    def __init__(self, server: ScriptedServer) -> None:
        self._server = server
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def deliver(self, event: Mapping[str, Any]) -> None:
        parsed = self._server.validate(event)
        self._loop.call_soon_threadsafe(self._queue.put_nowait, parsed)

    async def send(self, event: dict[str, Any]) -> None:
        for out in self._server.answer(event):
            self._queue.put_nowait(out)

    async def close(self) -> None:
        self._queue.put_nowait(self._END)

    def __aiter__(self) -> FakeConnection:
        return self

    async def __anext__(self) -> Any:
        event = await self._queue.get()
        if event is self._END:
            raise StopAsyncIteration
        return event
