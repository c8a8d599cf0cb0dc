"""``use_standin``: backend choice through the SDK's own environment variables."""

from __future__ import annotations

import os

from openai import OpenAI

import voicekit
from voicekit.backend import STANDIN_API_KEY


def test_real_key_leaves_everything_alone(monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "fake-test-key-not-real")
    assert voicekit.use_standin() == "openai"
    out = capsys.readouterr().out
    assert "OpenAI" in out and "fake-test-key" not in out
    assert "OPENAI_BASE_URL" not in os.environ


def test_no_key_points_the_sdk_at_a_running_standin(standin_server, monkeypatch, capsys):
    from voicekit import backend

    port = standin_server.port
    started = len(backend._children)
    assert voicekit.use_standin(port=port) == "standin"
    assert len(backend._children) == started  # reused, not started
    assert os.environ["OPENAI_BASE_URL"] == f"http://127.0.0.1:{port}/v1"
    assert os.environ["OPENAI_API_KEY"] == STANDIN_API_KEY
    out = capsys.readouterr().out
    assert "stand-in" in out and STANDIN_API_KEY not in out
    with OpenAI() as client:  # a plain client, configured only by the environment
        assert any(m.id == "gpt-4o-mini-transcribe" for m in client.models.list())
    # A second call sees the placeholder key and reuses the stand-in OPENAI_BASE_URL names.
    assert voicekit.use_standin(quiet=True) == "standin"
    assert len(backend._children) == started


def test_starts_a_standin_process_when_none_answers(monkeypatch):
    from voicekit import backend
    before = len(backend._children)
    try:
        assert voicekit.use_standin(quiet=True) == "standin"
        assert len(backend._children) == before + 1 and backend._children[-1].poll() is None
        with OpenAI() as client:
            text = client.audio.transcriptions.create(
                model="gpt-4o-mini-transcribe", file=voicekit.load_sample("cards_001.wav").to_file_tuple()
            ).text
        assert "clubs" in text.lower()
    finally:
        backend._stop_children()
    assert all(p.poll() is not None for p in backend._children)
