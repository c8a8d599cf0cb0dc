"""``use_standin``: backend choice through the SDK's own environment variables.

Starting and sharing the per-user stand-in is tested in test_shared_standin.py.
"""

from __future__ import annotations

import os

import pytest
from openai import OpenAI

import voicekit
from voicekit.backend import STANDIN_API_KEY


@pytest.fixture(autouse=True)
def _own_runtime_dir(tmp_path, monkeypatch) -> None:
    """No real per-user stand-in is found or started by these tests."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))


def test_real_key_leaves_everything_alone(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "fake-test-key-not-real")
    assert voicekit.use_standin() == "openai"
    out = capsys.readouterr().out
    assert "OpenAI" in out and "fake-test-key" not in out
    assert "OPENAI_BASE_URL" not in os.environ


def test_no_key_points_the_sdk_at_a_running_standin(standin_server, monkeypatch, capsys, tmp_path):
    port = standin_server.port
    assert voicekit.use_standin(port=port) == "standin"
    assert not list(tmp_path.iterdir())  # reused: nothing started, no runtime file
    assert os.environ["OPENAI_BASE_URL"] == f"http://127.0.0.1:{port}/v1"
    assert os.environ["OPENAI_API_KEY"] == STANDIN_API_KEY  # this stand-in has no token
    out = capsys.readouterr().out
    assert "stand-in" in out and "reused" in out and STANDIN_API_KEY not in out
    assert "LLM: " in out and "unknown" not in out
    with OpenAI() as client:  # a plain client, configured only by the environment
        assert any(m.id == "gpt-4o-mini-transcribe" for m in client.models.list())
    # A second call sees the placeholder key and reuses the stand-in OPENAI_BASE_URL names.
    assert voicekit.use_standin(quiet=True) == "standin"
    assert not list(tmp_path.iterdir())


def test_a_standin_token_is_not_taken_for_an_openai_key(standin_server, monkeypatch, tmp_path):
    monkeypatch.setenv("OPENAI_API_KEY", "vk-standin-from-an-earlier-call")
    monkeypatch.setenv("OPENAI_BASE_URL", standin_server.base_url)
    assert voicekit.use_standin(quiet=True) == "standin"
    assert os.environ["OPENAI_BASE_URL"] == standin_server.base_url
    assert not list(tmp_path.iterdir())


def test_no_local_standin_waits_for_the_named_one_and_never_starts_its_own(standin_server, monkeypatch, capsys, tmp_path):
    """JupyterHub's spawner sets VOICEKIT_NO_LOCAL_STANDIN=1: the hub's service is the only stand-in."""
    monkeypatch.setenv("VOICEKIT_NO_LOCAL_STANDIN", "1")
    monkeypatch.setenv("OPENAI_BASE_URL", standin_server.base_url)
    assert voicekit.use_standin() == "standin"
    assert "shared stand-in" in capsys.readouterr().out
    assert os.environ["OPENAI_API_KEY"] == STANDIN_API_KEY
    assert not list(tmp_path.iterdir())  # no runtime file: nothing started here


def test_no_local_standin_says_what_to_do_when_the_named_one_is_down(monkeypatch, tmp_path):
    from voicekit._runtime import _free_port
    from voicekit.errors import StandinError

    monkeypatch.setenv("VOICEKIT_NO_LOCAL_STANDIN", "1")
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{_free_port()}/v1")
    with pytest.raises(StandinError, match="did not answer within 1 s.*VOICEKIT_NO_LOCAL_STANDIN=1"):
        voicekit.use_standin(timeout=1.0)
    assert not list(tmp_path.iterdir())
