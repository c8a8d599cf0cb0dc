"""A notebook kernel keeps the shared stand-in it uses from stopping as idle.

The shared stand-in stops after ``VOICEKIT_IDLE_TIMEOUT`` seconds with no request; a
learner back from a break must still find it under an open notebook. A real ipykernel
(jupyter_client) calls ``use_standin()`` with a 3 s idle timeout, then does nothing:
the stand-in must still be serving after three idle timeouts, and must stop by itself
once the kernel has shut down.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from jupyter_client.manager import start_new_kernel

from voicekit import _runtime

IDLE_S = 3.0


def test_an_open_kernel_keeps_its_standin_and_it_stops_after_the_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("VOICEKIT_IDLE_TIMEOUT", str(IDLE_S))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    km, kc = start_new_kernel(kernel_name="python3", env=env)
    pid = None
    try:
        reply = kc.execute_interactive("import voicekit; voicekit.use_standin(quiet=True)", timeout=180)
        assert reply["content"]["status"] == "ok", reply["content"]
        rt = _runtime.find_running()
        assert rt is not None
        pid = rt.pid
        status = _runtime.get_json(rt.base_url + _runtime.STATUS_PATH, rt.token)
        assert status["kernels"] == 1, status  # the kernel's first ping counts it at once (issue 25, item 10)
        time.sleep(3 * IDLE_S + 2)  # the kernel runs nothing: only its keep-alive talks to the stand-in
        assert psutil.pid_exists(pid) and _runtime.verify(rt), "the stand-in stopped under an open kernel"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    try:
        psutil.Process(pid).wait(timeout=IDLE_S + 30)  # then idle: it stops by itself
    except psutil.NoSuchProcess:
        pass
    finally:
        if pid is not None and psutil.pid_exists(pid):
            _runtime.stop()
            pytest.fail("the stand-in did not stop after its last kernel shut down")
    assert not _runtime.runtime_path().exists()
