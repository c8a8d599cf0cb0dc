"""Running the stand-in: in the foreground (CLI), or in a background thread.

The background :class:`StandinServer` is what tests use: a real uvicorn server
on a free loopback port, reached only through the ``openai`` SDK.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Self

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from .. import _runtime
from ..errors import StandinError
from .access.auth import static_token
from .access.guards import WS_MAX_FRAME_BYTES
from .access.identity import Identity, llm_description
from .access.idle import IdleWatch
from .app import create_app
from .engines import Engines

__all__ = ["StandinServer", "check_tls_files", "free_port", "serve"]

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


def serve(
    host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
    allowed_hosts: Sequence[str] = (), allowed_origins: Sequence[str] = (),
    token: str | None = None, idle_timeout: float = 0.0, register: str | None = None,
    instance_id: str | None = None, ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
) -> None:
    """Run the stand-in in the foreground until interrupted (``voicekit serve``).

    ``allowed_hosts`` / ``allowed_origins``: more ``Host`` names and browser origins to
    accept (:mod:`.guards`; ``--allowed-host`` / ``--allowed-origin``).

    ``token``: the Bearer token every request must carry (None: no authentication).
    ``idle_timeout``: seconds with no request and no open WebSocket before it exits
    gracefully (0: never). ``register``: ``"self"`` writes the per-user runtime file
    (:mod:`voicekit._runtime`) once listening, unless a managed stand-in already runs;
    ``"parent"`` means the process that started it wrote it; either way it is removed
    on exit. ``instance_id``: this instance's id (default: a random one).

    ``ssl_certfile`` / ``ssl_keyfile``: a PEM certificate (chain) and its private key;
    given both, the stand-in speaks HTTPS and WSS only (``--ssl-certfile`` /
    ``--ssl-keyfile``; see :func:`check_tls_files`). OpenAI's Node SDK always opens
    Realtime as ``wss:``, so it needs this (README, "TLS")."""
    os.environ.setdefault("VOICEKIT_WEBRTC_HOST", host)  # WebRTC media on the address served (transport.ice)
    if not _is_loopback(host) and not token:
        log.warning("binding %s: the stand-in has no authentication; anyone who reaches this address can use it", host)
    identity = Identity(token=token) if instance_id is None else Identity(token=token, instance_id=instance_id)
    app = create_app(allowed_hosts=allowed_hosts, allowed_origins=allowed_origins, bound_host=host,
                     token_check=static_token(token) if token else None, identity=identity)

    def exit_when_idle() -> None:
        server.should_exit = True

    asgi: ASGIApp = IdleWatch(app, idle_timeout, exit_when_idle) if idle_timeout > 0 else app
    server = uvicorn.Server(uvicorn.Config(asgi, host=host, port=port, log_level=log_level, ws="websockets-sansio",
                                           ws_max_size=WS_MAX_FRAME_BYTES, ssl_certfile=ssl_certfile,
                                           ssl_keyfile=ssl_keyfile))
    scheme = "https" if check_tls_files(ssl_certfile, ssl_keyfile) else "http"
    if register == "self" and token:
        threading.Thread(target=_register, args=(server, app, host, port, identity, scheme), daemon=True).start()
    if register and threading.current_thread() is threading.main_thread():
        # uvicorn re-raises a captured SIGTERM after its graceful shutdown; Python's default
        # disposition would end the process before the runtime file is removed below
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        server.run()
    finally:
        if register:
            _runtime.remove(identity.instance_id)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM, once uvicorn has shut down gracefully and re-raised it: exit through ``finally`` blocks."""
    raise SystemExit(0)


def check_tls_files(ssl_certfile: str | None, ssl_keyfile: str | None) -> bool:
    """Whether to serve TLS: True when both files are given and load together, False when neither is.

    Raises
    ------
    StandinError
        If only one is given, a file is missing, or the key does not match the certificate.
    """
    if not ssl_certfile and not ssl_keyfile:
        return False
    if not (ssl_certfile and ssl_keyfile):
        raise StandinError("TLS needs both a certificate and its key: give --ssl-certfile and --ssl-keyfile together")
    import ssl

    for flag, path in (("--ssl-certfile", ssl_certfile), ("--ssl-keyfile", ssl_keyfile)):
        if not os.path.isfile(path):
            raise StandinError(f"{flag} {path!r}: expected a PEM file, found nothing there")
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(ssl_certfile, ssl_keyfile)
    except (ssl.SSLError, ValueError) as exc:
        raise StandinError(f"--ssl-certfile {ssl_certfile!r} and --ssl-keyfile {ssl_keyfile!r}: expected a PEM "
                           f"certificate and its matching private key ({exc})") from exc
    return True


def _register(server: uvicorn.Server, app: Starlette, host: str, port: int, identity: Identity,
              scheme: str = "http") -> None:
    """Once ``server`` listens, write the runtime file so ``use_standin()`` finds it (unless one runs)."""
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.05)
    with _runtime.lock():
        running = _runtime.find_running()
        if running is not None and running.instance_id != identity.instance_id:
            log.warning("a managed stand-in already runs at %s (pid %d): this one is not registered",
                        running.base_url, running.pid)
            return
        connect = "127.0.0.1" if host in ("0.0.0.0", "localhost") else host
        assert identity.token is not None
        path = _runtime.write(_runtime.Runtime(
            pid=identity.pid, host=host, port=port, base_url=f"{scheme}://{connect}:{port}/v1", token=identity.token,
            instance_id=identity.instance_id, started_at=identity.started_at, hostname=socket.gethostname(),
            llm=llm_description(getattr(app.state, "engines", None)), **_runtime.this_build(),
        ))
    log.warning("registered as this user's stand-in in %s (voicekit.use_standin() finds it)", path)


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
        (:func:`~voicekit.standin.access.auth.static_token`); default: no authentication.
    ssl_certfile, ssl_keyfile : str, optional
        A PEM certificate and its key: the server speaks HTTPS/WSS (:func:`check_tls_files`).
    """

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0,
        load_engines: Callable[[], Engines] = Engines.load, *, startup_timeout: float = 120.0,
        token: str | None = None, ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
    ) -> None:
        self.host = host
        self.scheme = "https" if check_tls_files(ssl_certfile, ssl_keyfile) else "http"
        self.port = port or free_port(host)
        self.app = app = create_app(load_engines, token_check=static_token(token) if token else None, identity=Identity(token=token),
                         bound_host=host)
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", lifespan="on", ws="websockets-sansio",
            ws_max_size=WS_MAX_FRAME_BYTES, ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="voicekit-standin", daemon=True)
        self._timeout = startup_timeout

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1`` (``https://`` with TLS), the value for ``OPENAI_BASE_URL``."""
        return f"{self.scheme}://{self.host}:{self.port}/v1"

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
