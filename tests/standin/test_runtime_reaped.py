"""The process that started the shared stand-in reaps it when it stops from elsewhere.

``use_standin()`` starts the stand-in as its child (in a session of its own). When it
stops without that process waiting on it (``voicekit stop`` in a terminal, or its idle
stop) it must not stay a zombie (``<defunct>`` in ``ps``) for as long as the starting
kernel or script lives. One real stand-in starts here (runtime dir in tmp) and is
stopped by ``python -m voicekit stop`` in a subprocess.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from voicekit import _runtime


def _reaped(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                time.sleep(0.2)
                continue
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.2)
    return False


def test_stopped_from_elsewhere_leaves_no_zombie(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    rt, started = _runtime.find_or_start(idle_timeout=600)
    assert started
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        out = subprocess.run([sys.executable, "-m", "voicekit", "stop"], env=env, capture_output=True, text=True,
                             timeout=60, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        assert _reaped(rt.pid, timeout=10), f"stand-in {rt.pid} is a zombie of this process"
    finally:
        if psutil.pid_exists(rt.pid) and psutil.Process(rt.pid).status() != psutil.STATUS_ZOMBIE:
            psutil.Process(rt.pid).kill()
