"""Choosing the backend: real OpenAI, or the offline stand-in shared by all your kernels.

The only switches are the SDK's own environment variables, ``OPENAI_API_KEY``
and ``OPENAI_BASE_URL`` (read by ``openai.OpenAI()``). :func:`use_standin`
sets them when no real key is present, so a plain ``client = OpenAI()`` in a
notebook reaches the stand-in; with a real key it changes nothing.

One stand-in runs per user per machine, shared by every kernel: it is found
through a runtime file in Jupyter's runtime directory and an identity check
(:mod:`voicekit._runtime`), started detached if none runs, and stops by itself
after 30 idle minutes (``VOICEKIT_IDLE_TIMEOUT``). Its token (``vk-standin-...``)
becomes ``OPENAI_API_KEY``.

This module imports nothing from :mod:`voicekit.standin` (uvicorn, engines):
reusing a running stand-in stays light.
"""

from __future__ import annotations

import os
import secrets
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from . import _runtime
from ._runtime import TOKEN_PREFIX
from .errors import StandinError

__all__ = ["AGENTS_TRACING_ENV", "STANDIN_API_KEY", "TOKEN_PREFIX", "use_standin"]

STANDIN_API_KEY = "voicekit-standin-no-key"
"""The placeholder key for a stand-in without authentication (the SDK insists on some key)."""

AGENTS_TRACING_ENV = "OPENAI_AGENTS_DISABLE_TRACING"
"""Set to ``1`` on the stand-in (unless already set): the Agents SDK would otherwise export every
run's trace (inputs, outputs, transcripts) to ``https://api.openai.com/v1/traces/ingest``,
whatever ``OPENAI_BASE_URL`` says, with the stand-in's token as its key. The SDK reads it once,
at its first trace (``agents/tracing/provider.py``)."""

NO_LOCAL_ENV = "VOICEKIT_NO_LOCAL_STANDIN"
"""Set to ``1`` (JupyterHub's spawner does) when the stand-in ``OPENAI_BASE_URL`` names is the
only one to use: :func:`use_standin` then waits for it instead of starting one of its own."""


def _in_kernel() -> bool:
    """True in a running IPython kernel: an ``IPKernelApp`` exists. ``ipykernel`` imported is not
    enough (pytest plugins such as nbval import it, and a process that only imports it ends soon)."""
    if "ipykernel" not in sys.modules:
        return False
    try:
        from ipykernel.kernelapp import IPKernelApp
    except ImportError:
        return False
    return bool(IPKernelApp.initialized())


KERNEL_ID = secrets.token_hex(8)
"""This process's id in the keep-alive pings (``GET /v1/voicekit/status?kernel=...``): the
stand-in counts the kernels that use it, so a stand-in of another checkout that no other
kernel uses can be restarted from this one (:func:`use_standin`)."""


class _KeepAlive:
    """While a notebook kernel lives, it keeps the stand-in it uses from stopping as idle.

    The shared stand-in stops after ``VOICEKIT_IDLE_TIMEOUT`` seconds with no request. A
    learner back from a break must not find that the stand-in under an open notebook has
    gone, so a kernel pings ``GET /v1/voicekit/status`` every third of that time (at most
    every 300 s): the stand-in stops only once every kernel that used it is gone. One daemon
    thread per process; a later :func:`use_standin` re-targets it. Only in an IPython kernel
    (a script or test process that ends soon needs none). The first ping goes at once, and
    each carries :data:`KERNEL_ID`, so the stand-in knows this kernel uses it.
    """

    def __init__(self) -> None:
        self.target: tuple[str, str] | None = None
        self._thread: threading.Thread | None = None

    def follow(self, base_url: str, key: str) -> None:
        if not _in_kernel():
            return
        self.target = (base_url, key)
        self.ping()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voicekit-standin-keepalive", daemon=True)
            self._thread.start()

    @staticmethod
    def interval() -> float:
        """Seconds between pings: a third of the idle timeout, between 1 and 300."""
        try:
            idle = float(os.environ.get("VOICEKIT_IDLE_TIMEOUT") or _runtime.DEFAULT_IDLE_TIMEOUT)
        except ValueError:
            idle = _runtime.DEFAULT_IDLE_TIMEOUT
        return max(1.0, min(300.0, idle / 3)) if idle > 0 else 300.0

    def ping(self) -> None:
        if self.target is not None:
            base_url, key = self.target
            _runtime.get_json(f"{base_url}{_runtime.STATUS_PATH}?kernel={KERNEL_ID}", key)  # any answer is fine

    def _run(self) -> None:
        while True:
            time.sleep(self.interval())
            self.ping()


_keep_alive = _KeepAlive()


def _wait_for(base_url: str, key: str, timeout: float) -> dict[str, object]:
    """Wait until the stand-in at ``base_url`` answers; its status. Raises StandinError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while (status := _answering(base_url, key)) is None:
        if (problem := _certificate_problem(base_url)) is not None:
            raise StandinError(problem)
        if time.monotonic() > deadline:
            raise StandinError(
                f"the shared stand-in at {base_url} (OPENAI_BASE_URL) did not answer within {timeout:.0f} s, "
                f"and {NO_LOCAL_ENV}=1 says not to start one here: ask whoever runs the hub to check its "
                "voicekit service (JupyterHub restarts a stopped service), then run this cell again"
            )
        time.sleep(0.5)
    return status


def _certificate_problem(base_url: str, timeout: float = 5.0) -> str | None:
    """What to say if ``base_url`` is ``https://`` and its certificate is not trusted here; else None.

    The probe uses Python's default TLS context, which reads the system's CAs and
    ``SSL_CERT_FILE``/``SSL_CERT_DIR``, as the ``openai`` SDK's HTTP client does on Linux
    (``httpcore2/_ssl.py``). Any other failure (refused, timeout, an HTTP status) is None:
    the caller keeps waiting for a service that may be starting.
    """
    if not base_url.startswith("https://"):
        return None
    try:
        urllib.request.urlopen(f"{base_url}/models", timeout=timeout, context=ssl.create_default_context()).close()
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, ssl.SSLError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        if not isinstance(reason, ssl.SSLCertVerificationError):
            return None
        host = urllib.parse.urlsplit(base_url).hostname
        return (
            f"the stand-in at {base_url} (OPENAI_BASE_URL) cannot be reached: this kernel does not trust "
            f"the TLS certificate of {host} ({reason.verify_message or reason}; CERTIFICATE_VERIFY_FAILED). "
            "On JupyterHub, ask whoever runs the hub to give the kernels the stand-in's internal URL (voicekit's "
            "jupyterhub_config.py sets OPENAI_BASE_URL=http://127.0.0.1:<service port>/v1), or a certificate "
            "from a CA this machine trusts (for a self-signed one: SSL_CERT_FILE=<its PEM> in the servers' "
            "environment). Then run this cell again"
        )
    except (OSError, ValueError):
        return None
    return None


def _answering(base_url: str, key: str) -> dict[str, object] | None:
    """The status of the voicekit stand-in at ``base_url`` (reached with ``key``), or None.

    A stand-in is recognised by ``GET /models`` listing models owned by ``voicekit-standin``.
    """
    body = _runtime.get_json(f"{base_url}/models", key)
    if not isinstance(body, dict) or not any(
        isinstance(m, dict) and m.get("owned_by") == "voicekit-standin" for m in body.get("data", [])
    ):
        return None
    status = _runtime.get_json(base_url + _runtime.STATUS_PATH, key)
    return status if isinstance(status, dict) else {}


def _refuses_key(base_url: str, key: str) -> bool:
    """True if a voicekit stand-in runs at ``base_url`` but answers ``key`` with a 401.

    The stand-in is recognised by its token-free identity probe
    (``GET /voicekit/identity``, object ``voicekit.identity``); the 401 is OpenAI's
    ``invalid_api_key`` of :mod:`voicekit.standin.access.auth`.
    """
    req = urllib.request.Request(f"{base_url}/models", headers={"Authorization": f"Bearer {key}"})
    try:
        urllib.request.urlopen(req, timeout=2.0).close()
        return False
    except urllib.error.HTTPError as exc:
        if exc.code != 401:
            return False
    except (OSError, ValueError):
        return False
    probe = _runtime.get_json(f"{base_url}{_runtime.IDENTITY_PATH}?nonce={secrets.token_hex(8)}")
    return isinstance(probe, dict) and probe.get("object") == "voicekit.identity"


def _is_standin_key(key: str, base_url: str) -> bool:
    """True if ``key`` is a stand-in's (placeholder, ``vk-standin-`` token, or the running one's token)."""
    if key == STANDIN_API_KEY or key.startswith(TOKEN_PREFIX):
        return True
    if not base_url or "api.openai.com" in base_url:
        return False
    rt = _runtime.find_running()
    return rt is not None and rt.token == key and rt.base_url == base_url


def use_standin(*, port: int | None = None, timeout: float = 120.0, quiet: bool = False) -> str:
    """Point the ``openai`` SDK at the offline stand-in, unless a real key is set.

    - ``OPENAI_API_KEY`` holds a real key: nothing changes; returns ``"openai"``.
      Stand-in keys are told apart: the placeholder :data:`STANDIN_API_KEY` and
      tokens starting ``vk-standin-`` (OpenAI's keys start ``sk-``).
    - Otherwise the stand-in ``OPENAI_BASE_URL`` names is reused if it answers
      (``scripts/with_standin.py``, or a ``voicekit serve`` you started), then the
      one on ``127.0.0.1:port`` if ``port`` is given; then this user's shared
      stand-in (runtime file ``voicekit-standin-<hostname>.json`` in Jupyter's
      runtime directory, verified by an HMAC identity check). If none runs, one
      starts detached (its own session: it outlives this kernel and serves
      every other kernel), under a file lock so concurrent first calls start
      exactly one, on ``port`` or a free port; it stops after
      ``VOICEKIT_IDLE_TIMEOUT`` seconds idle (default 1800).
    - Sets ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` (the stand-in's token, or
      the placeholder for one without authentication), and
      ``OPENAI_AGENTS_DISABLE_TRACING=1`` unless set (:data:`AGENTS_TRACING_ENV`);
      returns ``"standin"``.

    It prints which stand-in is in use (URL, reused or started, pid, LLM),
    unless ``quiet``, and never the key.

    Raises
    ------
    StandinError
        If a new stand-in does not answer within ``timeout`` seconds; the
        message includes the end of its log. Also if the stand-in
        ``OPENAI_BASE_URL`` names has a token and no key (or the placeholder)
        was given: it answers 401, and none of its own is started instead.
        At once (not after ``timeout``) if that URL is ``https://`` and this
        machine does not trust its certificate (CERTIFICATE_VERIFY_FAILED): the
        message says what to do.
    MissingDependencyError
        If a stand-in must start but the ``standin`` extra is not installed.
    """
    key = os.environ.get("OPENAI_API_KEY", "")
    env_base = os.environ.get("OPENAI_BASE_URL", "").rstrip("/")
    if key and not _is_standin_key(key, env_base):
        base = env_base or "https://api.openai.com/v1"
        if not quiet:
            print(f"Backend: OpenAI at {base} (key from OPENAI_API_KEY)")
        return "openai"

    if env_base and os.environ.get(NO_LOCAL_ENV) == "1":
        shared = _wait_for(env_base, key or STANDIN_API_KEY, timeout)
        _announce(env_base, "shared", shared, None, quiet)
        os.environ["OPENAI_API_KEY"] = key or STANDIN_API_KEY
        os.environ.setdefault(AGENTS_TRACING_ENV, "1")
        _keep_alive.follow(env_base, key or STANDIN_API_KEY)
        return "standin"

    rt = _runtime.find_running()
    candidates = [(env_base, key or STANDIN_API_KEY)] if env_base else []
    if port is not None:
        candidates.append((f"http://127.0.0.1:{port}/v1", key or STANDIN_API_KEY))
    how, status = "reused", None
    for url, candidate_key in candidates:
        if rt is not None and url == rt.base_url:
            base_url, api_key = rt.base_url, rt.token
            break
        status = _answering(url, candidate_key)
        if status is not None:
            base_url, api_key = url, candidate_key
            break
        if url == env_base and (problem := _certificate_problem(url)) is not None:
            raise StandinError(problem)
        if url == env_base and not candidate_key.startswith(TOKEN_PREFIX) and _refuses_key(url, candidate_key):
            raise StandinError(  # a stale vk-standin- key (a restarted shared stand-in) falls through instead
                f"the stand-in at {url} (OPENAI_BASE_URL) answers 401: it has a token. Set OPENAI_API_KEY to "
                "that token (voicekit serve printed it, or ask whoever runs it), then run this cell again; "
                "or unset OPENAI_BASE_URL to use your own stand-in"
            )
    else:
        rt, started = _runtime.find_or_start(port=port, timeout=timeout)
        base_url, api_key, how = rt.base_url, rt.token, "started" if started else "reused"
    ours = rt if rt is not None and rt.base_url == base_url else None
    restarted = None
    if ours is not None and (differs := ours.differs()) is not None and (
            new := _runtime.replace_if_unused(ours, port=port, timeout=timeout)) is not None:
        rt = ours = new
        base_url, api_key, how, status, restarted = new.base_url, new.token, "started", None, differs
    if status is None:
        status = _runtime.get_json(base_url + _runtime.STATUS_PATH, api_key) or {}
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = api_key
    os.environ.setdefault(AGENTS_TRACING_ENV, "1")
    _keep_alive.follow(base_url, api_key)
    _announce(base_url, how, status, ours, quiet)
    if restarted is not None:
        print(f"The shared stand-in was restarted from this checkout: {restarted.replace('it runs', 'the old one ran', 1)}, "
              "and no other kernel used it.")  # even when quiet: a process was stopped
    elif ours is not None and (other := _other_checkout(ours)):
        print(other)  # even when quiet: the answers come from other code
    return "standin"


def _other_checkout(rt: _runtime.Runtime) -> str | None:
    """What to tell a learner whose shared stand-in runs another voicekit; None if it runs this one.

    One stand-in per user per machine is shared by every kernel, so a kernel of a
    second clone (or after an upgrade) finds the stand-in the first one started.
    Reusing it silently would serve the other code's answers: this says so, and how
    to restart it (``voicekit stop``, then run the cell again).
    """
    differs = rt.differs()
    if differs is None:
        return None
    status = _runtime.get_json(rt.base_url + _runtime.STATUS_PATH, rt.token) or {}
    users = status.get("kernels")
    used = f" ({users} other kernel{'s' if users != 1 else ''} use{'s' if users == 1 else ''} it)" if users else ""
    return (f"WARNING: the shared stand-in (pid {rt.pid}{used}) is reused, but {differs}; its answers come from "
            f"that code. To restart it from this checkout: run `{sys.executable} -m voicekit stop` in a "
            "terminal (or `!voicekit stop` in a cell), then run this cell again. Kernels of the other checkout "
            "then warn the other way round.")


def _announce(base_url: str, how: str, status: dict[str, object], ours: _runtime.Runtime | None, quiet: bool) -> None:
    """Print the backend line: URL, reused/started/shared, pid and LLM (never the key)."""
    if quiet:
        return
    pid = status.get("pid") or (ours.pid if ours else None)
    llm = status.get("llm") or (ours.llm if ours else None) or "unknown"
    print(f"Backend: voicekit offline stand-in at {base_url} "
          f"({how} stand-in{f', pid {pid}' if pid else ''}; LLM: {llm})")
