"""One stand-in per user per machine (``voicekit._runtime``), shared by every kernel.

Real Python processes ("kernels") call ``voicekit.use_standin()`` at once with the
runtime directory (``JUPYTER_RUNTIME_DIR``) in a temporary folder: they must
share one detached stand-in, which outlives the kernel that started it. Then
``voicekit status`` / ``voicekit stop``, the identity check against a foreign
server, and the idle stop. Two stand-ins start in this module; both are
stopped in teardown.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psutil
import pytest

import voicekit
from voicekit import _runtime

N_KERNELS = 3
WORKER = r"""
import json, os, sys
import voicekit
from voicekit import _runtime
voicekit.use_standin(quiet=True)
from openai import OpenAI
base, key = os.environ["OPENAI_BASE_URL"], os.environ["OPENAI_API_KEY"]
status = _runtime.get_json(base + _runtime.STATUS_PATH, key)
print(json.dumps({"base_url": base, "pid": status["pid"], "prefix": key[:11],
                  "light": not any(m.startswith(("voicekit.standin", "uvicorn")) for m in sys.modules)}), flush=True)
for line in sys.stdin:
    with OpenAI(max_retries=0) as client:
        text = client.audio.transcriptions.create(
            model="gpt-4o-mini-transcribe", file=voicekit.load_sample("cards_001.wav").to_file_tuple()).text
    print(json.dumps({"text": text}), flush=True)
"""


@pytest.fixture(scope="module")
def runtime_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("jupyter-runtime")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_RUNTIME_DIR", str(path))
        mp.setenv("VOICEKIT_IDLE_TIMEOUT", "600")
        yield path
        _runtime.stop()
        for proc in _standins(path):  # any left by a failed test: only those this module started
            proc.kill()


def _standins(runtime_dir: Path) -> list[psutil.Process]:
    """Managed stand-in processes whose runtime directory is ``runtime_dir``."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if "--managed" in (proc.info["cmdline"] or []) and proc.environ().get("JUPYTER_RUNTIME_DIR") == str(runtime_dir):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.fixture(scope="module")
def kernels(runtime_dir: Path) -> Iterator[list[tuple[subprocess.Popen[str], dict[str, Any]]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env=env, text=True) for _ in range(N_KERNELS)]  # all at once: a race to start
    try:
        hellos = []
        for p in procs:
            assert p.stdout is not None
            line = p.stdout.readline()
            assert line, f"kernel exited with {p.wait()}"
            hellos.append(json.loads(line))
        yield list(zip(procs, hellos, strict=True))
    finally:
        for p in procs:
            if p.stdin is not None and not p.stdin.closed:
                p.stdin.close()
            p.wait(timeout=30)
            if p.stdout is not None:
                p.stdout.close()


def test_concurrent_kernels_start_exactly_one_standin(kernels, runtime_dir: Path) -> None:
    hellos = [h for _, h in kernels]
    assert len({h["base_url"] for h in hellos}) == 1 and len({h["pid"] for h in hellos}) == 1
    assert all(h["prefix"] == _runtime.TOKEN_PREFIX for h in hellos)  # the token, not the placeholder
    assert all(h["light"] for h in hellos)  # use_standin() never imports the server into a kernel
    assert [p.pid for p in _standins(runtime_dir)] == [hellos[0]["pid"]]
    rt = _runtime.read()
    assert rt is not None and rt.pid == hellos[0]["pid"] and rt.base_url == hellos[0]["base_url"]
    assert (runtime_dir / _runtime.runtime_path().name).stat().st_mode & 0o777 == 0o600


def test_first_kernel_exiting_leaves_it_serving(kernels) -> None:
    (first, hello), *others = kernels
    assert first.stdin is not None
    first.stdin.close()  # a normal exit: atexit handlers run
    assert first.wait(timeout=30) == 0
    assert psutil.pid_exists(hello["pid"])
    for proc, _ in others:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("transcribe\n")
        proc.stdin.flush()
        assert "clubs" in json.loads(proc.stdout.readline())["text"].lower()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "voicekit", *args], capture_output=True, text=True, timeout=60,
                          check=False)


RUN_CLIENT = """
import os
from openai import OpenAI
import voicekit
with OpenAI(max_retries=0) as client:  # configured by voicekit run's environment only
    text = client.audio.transcriptions.create(
        model="gpt-4o-mini-transcribe", file=voicekit.load_sample("cards_001.wav").to_file_tuple()).text
print(os.environ["OPENAI_BASE_URL"], text)
"""


def test_run_gives_a_plain_sdk_program_the_standin_without_showing_the_token(kernels, runtime_dir: Path) -> None:
    rt = _runtime.read()
    assert rt is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    proc = subprocess.run([sys.executable, "-m", "voicekit", "run", "--", sys.executable, "-c", RUN_CLIENT],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith(rt.base_url) and "clubs" in proc.stdout.lower()
    assert rt.token not in proc.stdout + proc.stderr
    assert _cli("run").returncode == 2
    assert _cli("run", "no-such-command-here").returncode == 127


def test_status_and_stop(kernels, runtime_dir: Path) -> None:
    rt = _runtime.read()
    assert rt is not None
    status = _cli("status")
    assert status.returncode == 0, status.stderr
    assert rt.base_url in status.stdout and f"pid {rt.pid}" in status.stdout and "RSS" in status.stdout
    assert "LLM: " in status.stdout and "unknown" not in status.stdout
    assert rt.token not in status.stdout + status.stderr
    stop = _cli("stop")
    assert stop.returncode == 0 and f"pid {rt.pid}" in stop.stdout, stop.stderr
    assert not psutil.pid_exists(rt.pid) or psutil.Process(rt.pid).status() == psutil.STATUS_ZOMBIE
    assert not _runtime.runtime_path().exists()
    assert _cli("status").returncode == 1
    again = _cli("stop")
    assert again.returncode == 1 and "nothing to stop" in again.stdout


class _Foreign(BaseHTTPRequestHandler):
    """A server that is not the stand-in but answers everything it can guess (and records what it hears)."""

    heard: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.heard.append(f"{self.path} {self.headers}")
        body = json.dumps({"object": "voicekit.identity", "instance_id": "0123456789abcdef", "proof": "0" * 64,
                           "pid": os.getpid(), "data": [{"id": "whisper-1", "owned_by": "voicekit-standin"}]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_foreign_server_is_not_taken_then_the_stale_file_is_replaced_and_idle_stops(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    foreign = ThreadingHTTPServer(("127.0.0.1", 0), _Foreign)
    threading.Thread(target=foreign.serve_forever, daemon=True).start()
    try:
        port = foreign.server_address[1]
        stale = _runtime.Runtime(
            pid=os.getpid(), host="127.0.0.1", port=port, base_url=f"http://127.0.0.1:{port}/v1",
            token=_runtime.new_token(), instance_id="0123456789abcdef", started_at=0.0,
            hostname=__import__("socket").gethostname())
        _runtime.write(stale)
        assert _runtime.find_running() is None  # alive pid, right instance id, but no proof
        assert _Foreign.heard and not any(stale.token in h for h in _Foreign.heard)  # it never saw the token

        monkeypatch.setenv("VOICEKIT_IDLE_TIMEOUT", "2")
        monkeypatch.setenv("OPENAI_API_KEY", "")  # restored (absent) after the test
        monkeypatch.setenv("OPENAI_BASE_URL", "")
        assert voicekit.use_standin(quiet=True) == "standin"
        assert os.environ["OPENAI_BASE_URL"] != stale.base_url
        assert not any(stale.token in h for h in _Foreign.heard)
    finally:
        foreign.shutdown()
        foreign.server_close()
    rt = _runtime.read()
    assert rt is not None and rt.instance_id != stale.instance_id and _runtime.verify(rt)
    child = _runtime._spawned[-1]
    assert child.pid == rt.pid
    assert child.wait(timeout=90) == 0  # stopped by itself, gracefully, after 2 s idle
    assert not _runtime.runtime_path().exists()  # and removed its runtime file
