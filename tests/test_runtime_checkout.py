"""A shared stand-in started from another checkout or version is not reused silently (issue 25, item 10).

One stand-in per user per machine is found through one runtime file, so a kernel of a
second clone finds the stand-in the first clone started. The runtime file and the
status endpoint record which voicekit runs (version and package directory), and
``use_standin()`` says when that is not this kernel's, with the command that restarts it.

The stand-in here is a real :class:`StandinServer` in this process (its pid is ours, as
the identity check wants), with no engines: only the identity and status routes are used.
"""

from __future__ import annotations

import os
import socket
import time
import types
from collections.abc import Iterator
from pathlib import Path

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
    """Write the runtime file as a stand-in of the given build would have (no build: an older voicekit)."""
    status = _runtime.get_json(server.base_url + _runtime.STATUS_PATH, TOKEN)
    assert isinstance(status, dict)
    _runtime.write(_runtime.Runtime(
        pid=os.getpid(), host="127.0.0.1", port=server.port, base_url=server.base_url, token=TOKEN,
        instance_id=status["instance_id"], started_at=time.time(), hostname=socket.gethostname(), **build))


def test_status_says_which_voicekit_runs(server: StandinServer) -> None:
    status = _runtime.get_json(server.base_url + _runtime.STATUS_PATH, TOKEN)
    assert isinstance(status, dict)
    assert status.get("version") == voicekit.__version__
    assert status.get("source") == str(Path(voicekit.__file__).resolve().parent)


def test_another_checkouts_standin_is_named_with_the_restart_command(
    server: StandinServer, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    old = str(tmp_path / "old-clone" / "voicekit")
    _register(server, version="0.0.9", source=old)
    assert voicekit.use_standin() == "standin"
    assert os.environ["OPENAI_BASE_URL"] == server.base_url
    out = capsys.readouterr().out
    assert "reused" in out and old in out and "0.0.9" in out
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
