"""Shared fixtures: a clean OpenAI environment, real recordings, synthetic signals."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from voicekit.audio import Clip

SHARED_AUDIO = Path(__file__).resolve().parents[1].parent / "shared" / "audio"

DE_LEOPARD_WORDS = frozenset(re.findall(r"\w+", "Der hinter diesem Portal liegenden Raum wurde als Leichenhalle genutzt.".lower()))
"""The distinct words of the shipped German recording's reference (``voicekit/data/multilingual/README.md``)."""


def heard_de_leopard(text: str) -> bool:
    """True when ``text``, a transcript of ``de_leopard.wav``, holds at least 7 of the 10 distinct
    words of its German reference.

    Not one given word: Whisper ``base`` int8 decodes this clip differently on different
    CPUs (Intel MKL picks its int8 kernels by instruction set: AVX2, AVX-512, AMX), e.g.
    "... liegende Raum wurde als Leichenhaler genutzt" on one and "... liegt in der Raum,
    wurde als Leichenhalle genutzt" on another; both are German and hold 8 or 9 of them.
    English output, or another language's, holds none of them but "als" or "der".
    """
    return len(set(re.findall(r"\w+", text.lower())) & DE_LEOPARD_WORDS) >= 7


def said_at_48k(client: object, text: str) -> np.ndarray:
    """``text`` spoken by the stand-in's Realtime voice (``marin``, the speech API through ``client``,
    an ``openai.OpenAI``): int16 mono at a WebRTC track's 48 kHz, the reference a reply heard on
    the track is compared with."""
    import soxr

    pcm24 = np.frombuffer(client.audio.speech.create(  # type: ignore[attr-defined]
        model="gpt-4o-mini-tts", voice="marin", input=text, response_format="pcm").content, "<i2")
    return np.clip(soxr.resample(pcm24.astype(np.float32), 24_000, 48_000), -32768, 32767).astype(np.int16)


def heard_in_full(peer: object, since: float, said: np.ndarray, timeout: float = 60.0) -> float:
    """Wait until ``peer`` (a :class:`voicekit.webrtc.peer.ClientPeer`) heard on its track, after
    ``time.monotonic()`` ``since``, at least 80 % of the voiced seconds of ``said`` (the same words
    in the same voice, :func:`said_at_48k`); returns the voiced seconds heard.

    Polled, not read once: a loaded machine can leave a pause of over 1.5 s inside a reply,
    after which a single read (``KernelPeer.wait_for_reply``) has only its start. Compared with
    the words said, not a fixed figure: a short reply ("Aw, no.") can be under half a second.

    Raises
    ------
    AssertionError
        If less was heard within ``timeout`` seconds.
    """
    import time

    from voicekit.webrtc.peer import voiced_seconds

    need = 0.8 * voiced_seconds(said)
    assert need > 0, "the reference holds no speech"
    deadline = time.monotonic() + timeout
    while (heard := voiced_seconds(peer.audio_since(since))) < need:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, f"heard {heard:.2f} s of speech, expected at least {need:.2f} s"
        time.sleep(0.2)
    return heard


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
