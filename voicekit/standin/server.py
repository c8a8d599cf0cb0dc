"""Running the stand-in: in the foreground (CLI), or in a background thread.

The background :class:`StandinServer` is what tests use: a real uvicorn server
on a free loopback port, reached only through the ``openai`` SDK.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

import uvicorn

from ..errors import StandinError
from .app import create_app
from .auth import static_token
from .engines import Engines
from .identity import Identity

__all__ = ["StandinServer", "free_port", "serve"]

log = logging.getLogger("voicekit.standin")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info") -> None:
    """Run the stand-in in the foreground until interrupted (``voicekit serve``)."""
    if not _is_loopback(host):
        log.warning("binding %s: the stand-in has no authentication; anyone who reaches this address can use it", host)
    uvicorn.run(create_app(), host=host, port=port, log_level=log_level, ws="websockets-sansio")


class StandinServer:
    """The stand-in on a background thread: ``with StandinServer() as s: s.base_url``.

    Parameters
    ----------
    host, port : str, int
        Where to listen; ``port=0`` picks a free port.
    load_engines : callable
        Passed to :func:`~voicekit.standin.app.create_app`.
    token : str, optional
        If given, every request must carry ``Authorization: Bearer <token>``
        (:func:`~voicekit.standin.auth.static_token`); default: no authentication.
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0,
        load_engines: Callable[[], Engines] = Engines.load, *, startup_timeout: float = 120.0,
        token: str | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        app = create_app(load_engines, token_check=static_token(token) if token else None, identity=Identity(token=token))
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", lifespan="on", ws="websockets-sansio"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="voicekit-standin", daemon=True)
        self._timeout = startup_timeout

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``, the value for ``OPENAI_BASE_URL``."""
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> Self:
        """Start and wait until the server accepts connections (engines loaded)."""
        self._thread.start()
        deadline = time.monotonic() + self._timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise StandinError(f"the stand-in on {self.base_url} stopped during startup; see the log above")
            if time.monotonic() > deadline:
                raise StandinError(f"the stand-in on {self.base_url} did not start within {self._timeout:.0f} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to exit and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
