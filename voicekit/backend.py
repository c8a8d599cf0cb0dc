"""Choosing the backend: real OpenAI, or the offline stand-in.

The only switches are the SDK's own environment variables, ``OPENAI_API_KEY``
and ``OPENAI_BASE_URL`` (read by ``openai.OpenAI()``). :func:`use_standin`
sets them when no key is present, so a plain ``client = OpenAI()`` in a
notebook reaches the stand-in; with a real key it changes nothing.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from .errors import StandinError

__all__ = ["STANDIN_API_KEY", "use_standin"]

STANDIN_API_KEY = "voicekit-standin-no-key"
"""The placeholder key set for the stand-in (the SDK insists on some key)."""

_children: list[subprocess.Popen[bytes]] = []


def _standin_models(base_url: str, timeout: float = 2.0) -> bool:
    """True if ``base_url`` answers ``GET /models`` as a voicekit stand-in."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as resp:
            body = json.load(resp)
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return any(m.get("owned_by") == "voicekit-standin" for m in body.get("data", []))


def _stop_children() -> None:
    for proc in _children:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


def use_standin(*, port: int | None = None, timeout: float = 120.0, quiet: bool = False) -> str:
    """Point the ``openai`` SDK at the offline stand-in, unless a real key is set.

    - ``OPENAI_API_KEY`` holds a real key: nothing changes; returns ``"openai"``.
    - Otherwise, the first stand-in found answering is reused: the one
      ``OPENAI_BASE_URL`` names (for example a ``voicekit serve`` you started
      yourself, or an earlier call's), then the one on ``127.0.0.1:port`` if
      ``port`` is given. If none answers, a new stand-in
      (``python -m voicekit serve``) starts in a background process owned by
      this Python process (it ends when this process ends), on ``port`` or on a
      free port. Each kernel owning its own server means no kernel can pull the
      stand-in out from under another.
    - Then it waits until ``GET /v1/models`` answers, sets ``OPENAI_BASE_URL``
      and a placeholder ``OPENAI_API_KEY``, and returns ``"standin"``.

    It prints which backend is in use (unless ``quiet``), never the key.

    Raises
    ------
    StandinError
        If the stand-in does not answer within ``timeout`` seconds; the message
        includes the end of its log.
    """
    key = os.environ.get("OPENAI_API_KEY", "")
    if key and key != STANDIN_API_KEY:
        base = os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        if not quiet:
            print(f"Backend: OpenAI at {base} (key from OPENAI_API_KEY)")
        return "openai"

    candidates = [os.environ.get("OPENAI_BASE_URL", "").rstrip("/")]
    if port is not None:
        candidates.append(f"http://127.0.0.1:{port}/v1")
    base_url = next((url for url in candidates if url and _standin_models(url)), None)
    if base_url is None:
        if port is None:
            from .standin.server import free_port

            port = free_port()
        base_url = _start_standin(port, timeout)
    os.environ["OPENAI_BASE_URL"] = base_url
    os.environ["OPENAI_API_KEY"] = STANDIN_API_KEY
    if not quiet:
        print(f"Backend: voicekit offline stand-in at {base_url} (no OpenAI key set)")
    return "standin"


def _start_standin(port: int, timeout: float) -> str:
    """Start ``python -m voicekit serve`` on ``port``; return its base URL once it answers."""
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = Path(tempfile.gettempdir()) / f"voicekit-standin-{port}.log"
    with open(log_path, "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "voicekit", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    if not _children:
        atexit.register(_stop_children)
    _children.append(proc)
    deadline = time.monotonic() + timeout
    while not _standin_models(base_url, timeout=1.0):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace")[-2000:]
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=5)
            raise StandinError(
                f"the stand-in on {base_url} did not answer within {timeout:.0f} s "
                f"(exit code {proc.poll()}); its log {log_path} ends:\n{tail}"
            )
        time.sleep(0.1)
    return base_url
