"""The per-user stand-in: its runtime file, the find-or-start lock, the identity check.

One stand-in per user per machine is shared by every kernel. It is described by
a JSON file in Jupyter's runtime directory
(``jupyter_core.paths.jupyter_runtime_dir()``, which ``JUPYTER_RUNTIME_DIR``
overrides), ``voicekit-standin-<hostname>.json``, mode 0600::

    {"pid": 1234, "host": "127.0.0.1", "port": 40123, "base_url": "http://127.0.0.1:40123/v1",
     "token": "vk-standin-...", "instance_id": "...", "started_at": 1796147673.9,
     "hostname": "...", "llm": "SmolLM2-135M ...", "version": "0.1.0", "source": "/home/me/voicekit/voicekit"}

``version`` and ``source`` (the stand-in's ``voicekit.__version__`` and the resolved
directory of the ``voicekit`` package it runs) tell checkouts apart: a kernel of
another clone or version finds the same file, and :meth:`Runtime.differs` says
what differs, so the caller can say so instead of silently serving the other
code's answers. A file without them comes from an older voicekit.

A file is trusted only after the identity check (:func:`verify`): the pid is
alive and ``GET /v1/voicekit/identity?nonce=N`` answers this instance's id and
HMAC-SHA256(token, ``N:instance_id``). The client sends only the random nonce,
never the token, so a foreign server on that port (or a stale file) can neither
pass nor learn the token. Find-or-start runs under a file lock (``filelock``)
next to the runtime file, so concurrent first calls start exactly one stand-in.

This module imports nothing from :mod:`voicekit.standin` (uvicorn, engines):
reusing a running stand-in stays light.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock
from jupyter_core.paths import jupyter_runtime_dir

from .errors import StandinError

__all__ = [
    "DEFAULT_IDLE_TIMEOUT", "STATUS_PATH", "TOKEN_PREFIX", "Runtime", "find_or_start", "find_running",
    "get_json", "lock", "new_token", "read", "remove", "replace_if_unused", "runtime_path", "stop", "this_build",
    "verify", "write",
]

TOKEN_PREFIX = "vk-standin-"
"""Stand-in tokens start with this; OpenAI's keys (``sk-...``) never do."""

DEFAULT_IDLE_TIMEOUT = 1800.0
"""Seconds without a request or an open WebSocket before the managed stand-in stops (30 min)."""

_spawned: list[subprocess.Popen[bytes]] = []  # kept referenced: no "still running" warning when collected

IDENTITY_PATH = "/voicekit/identity"  # under base_url (/v1); the server's identity.IDENTITY_PATH
STATUS_PATH = "/voicekit/status"


def new_token() -> str:
    """A fresh stand-in token: ``vk-standin-`` and 43 URL-safe characters (256 random bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def this_build() -> dict[str, str]:
    """This process's voicekit: ``{"version": voicekit.__version__, "source": <package dir, resolved>}``."""
    package = sys.modules.get(__package__ or "voicekit")
    version = str(getattr(package, "__version__", "unknown"))
    return {"version": version, "source": str(Path(__file__).resolve().parent)}


def runtime_path() -> Path:
    """``<jupyter runtime dir>/voicekit-standin-<hostname>.json`` (one per machine, even on a shared home)."""
    return Path(jupyter_runtime_dir()) / f"voicekit-standin-{socket.gethostname()}.json"


def lock(timeout: float = 180.0) -> FileLock:
    """The lock around find-or-start (a ``.lock`` file beside the runtime file)."""
    path = runtime_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path.with_suffix(".lock")), timeout=timeout)


@dataclass(frozen=True)
class Runtime:
    """What the runtime file holds about one managed stand-in."""

    pid: int
    host: str
    port: int
    base_url: str
    token: str
    instance_id: str
    started_at: float
    hostname: str
    llm: str | None = None
    version: str | None = None
    source: str | None = None

    def differs(self) -> str | None:
        """None if this stand-in runs this process's voicekit (same version, same checkout);
        otherwise a sentence saying which voicekit each runs."""
        mine = this_build()
        if (self.version, self.source) == (mine["version"], mine["source"]):
            return None
        theirs = (f"voicekit {self.version} from {self.source}" if self.version and self.source
                  else "an older voicekit (its runtime file records no version or checkout)")
        return f"it runs {theirs}, not this kernel's voicekit {mine['version']} from {mine['source']}"

    def __repr__(self) -> str:  # never show the token
        return f"Runtime(pid={self.pid}, base_url={self.base_url!r}, instance_id={self.instance_id!r})"


_FIELDS = {"pid", "host", "port", "base_url", "token", "instance_id", "started_at", "hostname", "llm", "version",
           "source"}


def read() -> Runtime | None:
    """The runtime file's content, or None if absent or unreadable (not yet verified)."""
    try:
        data = json.loads(runtime_path().read_text())
        return Runtime(**{k: v for k, v in data.items() if k in _FIELDS})
    except (OSError, ValueError, TypeError):
        return None


def write(rt: Runtime) -> Path:
    """Write the runtime file atomically, mode 0600 from the start; returns its path."""
    path = runtime_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(rt), f, indent=1)
    os.replace(tmp, path)
    return path


def remove(instance_id: str) -> None:
    """Remove the runtime file if it still describes ``instance_id`` (a newer one stays)."""
    rt = read()
    if rt is not None and rt.instance_id == instance_id:
        runtime_path().unlink(missing_ok=True)


def get_json(url: str, token: str | None = None, timeout: float = 2.0) -> Any:
    """GET ``url`` (with ``Authorization: Bearer token`` if given); the JSON, or None on any failure."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.load(resp)
    except (OSError, ValueError, urllib.error.URLError):
        return None


def verify(rt: Runtime, timeout: float = 2.0) -> bool:
    """True if ``rt``'s process is alive and its server proves it holds ``rt.token`` (see module doc)."""
    if rt.hostname != socket.gethostname() or not psutil.pid_exists(rt.pid):
        return False
    nonce = secrets.token_hex(16)
    body = get_json(f"{rt.base_url}{IDENTITY_PATH}?nonce={nonce}", timeout=timeout)
    if not isinstance(body, dict) or body.get("instance_id") != rt.instance_id:
        return False
    expected = hmac.new(rt.token.encode(), f"{nonce}:{rt.instance_id}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(str(body.get("proof")), expected)


def find_running() -> Runtime | None:
    """The user's running stand-in, verified; None if there is none (or only a stale file)."""
    rt = read()
    return rt if rt is not None and verify(rt) else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(port: int | None, idle_timeout: float, timeout: float) -> Runtime:
    """Start a detached ``python -m voicekit serve --managed``; return it once it proves its identity."""
    try:
        from ._deps import require_standin
    except ImportError:  # pragma: no cover - before the light install lands
        pass
    else:
        require_standin()
    port = port or _free_port()
    token, instance_id = new_token(), secrets.token_hex(8)
    log_path = runtime_path().with_suffix(".log")
    env = {**os.environ, "VOICEKIT_TOKEN": token, "VOICEKIT_INSTANCE_ID": instance_id}  # not argv: ps shows argv
    env = {k: v for k, v in env.items() if not k.startswith("OPENAI_")}
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicekit", "serve", "--managed", "--host", "127.0.0.1", "--port", str(port),
             "--idle-timeout", str(idle_timeout), "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own session: outlives this kernel, no SIGINT/SIGHUP from it
        )
    _spawned.append(proc)
    # reap it whenever it stops (voicekit stop elsewhere, idle stop): no zombie while this process lives
    threading.Thread(target=proc.wait, name="voicekit-standin-reaper", daemon=True).start()
    rt = Runtime(pid=proc.pid, host="127.0.0.1", port=port, base_url=f"http://127.0.0.1:{port}/v1", token=token,
                 instance_id=instance_id, started_at=time.time(), hostname=socket.gethostname())
    deadline = time.monotonic() + timeout
    while not verify(rt, timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
            tail = log_path.read_text(errors="replace")[-2000:]
            raise StandinError(
                f"the stand-in on {rt.base_url} did not answer within {timeout:.0f} s "
                f"(exit code {proc.poll()}); its log {log_path} ends:\n{tail}"
            )
        time.sleep(0.1)
    status = get_json(rt.base_url + STATUS_PATH, token) or {}
    build = this_build()  # what the new process itself says it runs, if it says (python -m may find another)
    rt = Runtime(**{**asdict(rt), "llm": status.get("llm"), "version": status.get("version") or build["version"],
                    "source": status.get("source") or build["source"]})
    write(rt)
    return rt


def find_or_start(
    *, port: int | None = None, idle_timeout: float | None = None, timeout: float = 120.0,
) -> tuple[Runtime, bool]:
    """The user's stand-in, started detached if none runs; ``(runtime, started)``.

    Parameters
    ----------
    port : int, optional
        Port for a new stand-in (default: a free one).
    idle_timeout : float, optional
        Seconds idle before a new stand-in stops; default ``VOICEKIT_IDLE_TIMEOUT``
        or :data:`DEFAULT_IDLE_TIMEOUT`; 0 means never.
    timeout : float
        Seconds to wait for a new stand-in to answer.

    Raises
    ------
    StandinError
        If the new stand-in does not answer within ``timeout``.
    MissingDependencyError
        On a light install without the ``standin`` extra (only when starting).
    """
    if idle_timeout is None:
        idle_timeout = float(os.environ.get("VOICEKIT_IDLE_TIMEOUT") or DEFAULT_IDLE_TIMEOUT)
    with lock(timeout=timeout + 60):
        rt = find_running()
        if rt is not None:
            return rt, False
        return _start(port, idle_timeout, timeout), True


def replace_if_unused(
    rt: Runtime, *, port: int | None = None, idle_timeout: float | None = None, timeout: float = 120.0,
) -> Runtime | None:
    """Stop ``rt`` (another checkout's or version's stand-in) and start this one's, if no kernel uses it.

    "Uses" is the stand-in's own count of kernels whose keep-alive pinged it lately
    (``kernels`` in ``GET /v1/voicekit/status``). Returns the new stand-in, or None when
    ``rt`` was left alone: a kernel uses it, or it is too old to count (the caller then
    says how to restart it).

    Raises
    ------
    StandinError
        If the new stand-in does not answer within ``timeout``.
    """
    status = get_json(rt.base_url + STATUS_PATH, rt.token)
    if not isinstance(status, dict) or status.get("kernels") != 0:
        return None
    stop()
    new, _ = find_or_start(port=port, idle_timeout=idle_timeout, timeout=timeout)
    return new


def stop(timeout: float = 15.0) -> Runtime | None:
    """Stop the user's running stand-in gracefully (SIGTERM, then SIGKILL); the one stopped, or None."""
    with lock(timeout=timeout + 180):
        rt = find_running()
        if rt is None:
            return None
        os.kill(rt.pid, signal.SIGTERM)
        try:
            psutil.Process(rt.pid).wait(timeout=timeout)
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            os.kill(rt.pid, signal.SIGKILL)
        remove(rt.instance_id)
        return rt
