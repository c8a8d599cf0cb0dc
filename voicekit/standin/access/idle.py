"""Stop the stand-in when nobody uses it: an ASGI middleware that watches for idleness.

Idle means no HTTP request in progress, no WebSocket open, and none of either
begun or ended for ``timeout`` seconds. Then ``on_idle()`` is called once (the
server sets uvicorn's ``should_exit``, a graceful shutdown).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["IdleWatch"]

log = logging.getLogger("voicekit.standin")


class IdleWatch:
    """ASGI middleware counting open requests and WebSockets; calls ``on_idle`` after ``timeout`` s idle.

    Parameters
    ----------
    app : ASGI app
        The wrapped application.
    timeout : float
        Seconds of idleness (> 0).
    on_idle : callable
        Called once, from a watcher thread.
    """

    def __init__(self, app: ASGIApp, timeout: float, on_idle: Callable[[], None]) -> None:
        if timeout <= 0:
            raise ValueError(f"expected an idle timeout > 0 s, got {timeout}")
        self.app = app
        self.timeout = timeout
        self.on_idle = on_idle
        self.active = 0
        self.started = False
        self.last_activity = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="voicekit-idle", daemon=True)
        self._thread.start()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # the clock starts once the engines are loaded
            async def watch_startup(message: Message) -> None:
                if message["type"] == "lifespan.startup.complete":
                    self.last_activity = time.monotonic()
                    self.started = True
                await send(message)

            await self.app(scope, receive, watch_startup)
            return
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        self.active += 1
        self.last_activity = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1
            self.last_activity = time.monotonic()

    def _watch(self) -> None:
        step = min(1.0, self.timeout / 4)
        while True:
            time.sleep(step)
            if self.started and self.active == 0 and time.monotonic() - self.last_activity >= self.timeout:
                log.warning("stand-in idle for %.0f s: stopping", self.timeout)
                self.on_idle()
                return
