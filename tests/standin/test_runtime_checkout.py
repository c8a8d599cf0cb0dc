"""A shared stand-in started from another checkout or version is not reused silently (issue 25, item 10).

One stand-in per user per machine is found through one runtime file, so a kernel of a
second clone finds the stand-in the first clone started. The runtime file and the
status endpoint record which voicekit runs (version and package directory), and
``use_standin()`` says when that is not this kernel's, with the command that restarts it,
or restarts it itself when no other kernel uses it (the stand-in counts the kernels whose
keep-alive pinged it lately).

The stand-in here is mostly a real :class:`StandinServer` in this process (its pid is ours,
as the identity check wants), with no engines: only the identity and status routes are
used, and another kernel's ping keeps it "in use" (it must not be stopped: it is this
process). The restart itself runs with real managed stand-ins.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import voicekit
from voicekit import _runtime
from voicekit.standin import StandinServer

TOKEN = "vk-standin-checkout-test-7f3a"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinServer]:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "")  # restored (unset) afterwards: use_standin sets both
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    with StandinServer(load_engines=lambda: types.SimpleNamespace(llm=None), token=TOKEN) as s:
        yield s


def _register(server: StandinServer, **build: str | None) -> None:
    """Write the runtime file as a stand-in of the given build would have (no build: an older voicekit),
    used by another kernel (its keep-alive pinged)."""
    status = _runtime.get_json(server.base_url + _runtime.STATUS_PATH + "?kernel=another-kernel", TOKEN)
    assert isinstance(status, dict)
    _runtime.write(_runtime.Runtime(
        pid=os.getpid(), host="127.0.0.1", port=server.port, base_url=server.base_url, token=TOKEN,
        instance_id=status["instance_id"], started_at=time.time(), hostname=socket.gethostname(), **build))


def test_status_says_which_voicekit_runs_and_how_many_kernels_use_it(server: StandinServer) -> None:
    status = _runtime.get_json(server.base_url + _runtime.STATUS_PATH, TOKEN)
    assert isinstance(status, dict)
    assert status.get("version") == voicekit.__version__
    assert status.get("source") == str(Path(voicekit.__file__).resolve().parent)
    assert status.get("kernels") == 0
    for kernel in ("k1", "k2", "k1"):
        _runtime.get_json(f"{server.base_url}{_runtime.STATUS_PATH}?kernel={kernel}", TOKEN)
    assert _runtime.get_json(server.base_url + _runtime.STATUS_PATH, TOKEN)["kernels"] == 2
    assert _runtime.get_json(f"{server.base_url}{_runtime.STATUS_PATH}?kernel=k1", TOKEN)["kernels"] == 1  # not the asker


def test_another_checkouts_standin_is_named_with_the_restart_command(
    server: StandinServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    old = str(tmp_path / "old-clone" / "voicekit")
    _register(server, version="0.0.9", source=old)
    assert voicekit.use_standin() == "standin"
    assert os.environ["OPENAI_BASE_URL"] == server.base_url
    out = capsys.readouterr().out
    assert "reused" in out and old in out and "0.0.9" in out and "1 other kernel uses it" in out
    assert _runtime.this_build()["source"] in out  # which checkout this kernel runs
    assert "-m voicekit stop" in out and "run this cell again" in out
    assert TOKEN not in out


def test_an_older_voicekits_runtime_file_is_named_too(server: StandinServer, capsys: pytest.CaptureFixture[str]) -> None:
    _register(server)
    assert voicekit.use_standin(quiet=True) == "standin"
    out = capsys.readouterr().out  # said even when quiet: the answers come from other code
    assert "older voicekit" in out and "voicekit stop" in out


def test_this_checkouts_standin_is_reused_without_a_warning(
    server: StandinServer, capsys: pytest.CaptureFixture[str],
) -> None:
    _register(server, **_runtime.this_build())
    assert voicekit.use_standin() == "standin"
    out = capsys.readouterr().out
    assert "reused" in out and "WARNING" not in out


def test_an_unused_standin_of_another_checkout_is_restarted_from_this_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("OPENAI_BASE_URL", "")
    old, _ = _runtime.find_or_start(timeout=240)
    try:
        other = str(tmp_path / "old-clone" / "voicekit")
        _runtime.write(dataclasses.replace(old, source=other))  # as an older clone would have started it
        assert voicekit.use_standin(timeout=240) == "standin"
        out = capsys.readouterr().out
        assert "restarted" in out and other in out and "no other kernel used it" in out
        new = _runtime.read()
        assert new is not None and new.pid != old.pid and new.differs() is None
        assert os.environ["OPENAI_BASE_URL"] == new.base_url
        assert not psutil.pid_exists(old.pid) or psutil.Process(old.pid).status() == psutil.STATUS_ZOMBIE
    finally:
        _runtime.stop()
        if psutil.pid_exists(old.pid):
            psutil.Process(old.pid).kill()


def test_make_labs_detach_restarts_an_unused_standin_of_another_checkout(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """``voicekit serve --detach`` (what ``make lab`` runs first) does the same as use_standin()."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    old, _ = _runtime.find_or_start(timeout=240)
    try:
        other = str(tmp_path / "old-clone" / "voicekit")
        _runtime.write(dataclasses.replace(old, source=other))
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        done = subprocess.run([sys.executable, "-m", "voicekit", "serve", "--detach"], capture_output=True, text=True,
                              timeout=300, env=env, check=False)
        assert done.returncode == 0, done.stderr
        assert "restarted from this checkout" in done.stdout and other in done.stdout, done.stdout
        new = _runtime.read()
        assert new is not None and new.pid != old.pid and new.differs() is None
    finally:
        _runtime.stop()
        if psutil.pid_exists(old.pid):
            psutil.Process(old.pid).kill()
