"""Shared fixtures: a clean OpenAI environment, real recordings, synthetic signals."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from voicekit.audio import Clip

SHARED_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "audio"


@pytest.fixture(autouse=True)
def _no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach OpenAI: remove every OPENAI_* variable."""
    for name in list(os.environ):
        if name.startswith("OPENAI_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def shared_audio() -> Path:
    """``../shared/audio``: real recordings, reference transcripts and broken WAVs."""
    if not (SHARED_AUDIO / "transcripts.tsv").is_file():
        pytest.skip(f"real recordings not found at {SHARED_AUDIO} (the repo's sibling shared/)")
    return SHARED_AUDIO


def sine(freq: float = 440.0, seconds: float = 1.0, sample_rate: int = 16_000, amp: float = 0.5) -> Clip:
    """A float32 mono sine of ``freq`` Hz."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return Clip((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32), sample_rate)


def silence(seconds: float = 1.0, sample_rate: int = 16_000) -> Clip:
    """An int16 mono clip of zeros."""
    return Clip(np.zeros(int(seconds * sample_rate), np.int16), sample_rate)


def click(seconds: float = 1.0, sample_rate: int = 16_000, at: float = 0.5) -> Clip:
    """An int16 mono clip of zeros with one full-scale sample at ``at`` seconds."""
    x = np.zeros(int(seconds * sample_rate), np.int16)
    x[int(at * sample_rate)] = 32767
    return Clip(x, sample_rate)


@pytest.fixture
def sine_clip() -> Clip:
    return sine()


@pytest.fixture
def silence_clip() -> Clip:
    return silence()


@pytest.fixture
def click_clip() -> Clip:
    return click()


@pytest.fixture(scope="session")
def standin_server():
    """One real stand-in (uvicorn on a free 127.0.0.1 port, real engines) per test session."""
    from voicekit.standin import StandinServer

    with StandinServer() as server:
        yield server


@pytest.fixture
def client(standin_server):
    """An unchanged ``openai.OpenAI`` client pointed at the stand-in."""
    from openai import OpenAI

    with OpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0) as c:
        yield c
