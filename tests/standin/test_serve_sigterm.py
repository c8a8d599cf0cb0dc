"""``voicekit serve`` stopped with SIGTERM (``kill <pid>``) removes the runtime file it registered.

uvicorn re-raises a captured SIGTERM after its graceful shutdown; with Python's default
disposition that killed the process before ``serve()``'s clean-up, so the file (with the
token) stayed behind as a stale entry. One real ``voicekit serve`` on loopback (registering
itself, generated token) runs here in a subprocess, runtime dir in tmp.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from voicekit.standin.server import free_port


def test_sigterm_removes_the_registered_runtime_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICEKIT_"))}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "voicekit", "serve", "--port", str(free_port()),
                             "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("voicekit-standin-*.json")):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "voicekit serve did not register within 120 s"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        assert not list(tmp_path.glob("voicekit-standin-*.json")), "the runtime file outlived the stand-in"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
