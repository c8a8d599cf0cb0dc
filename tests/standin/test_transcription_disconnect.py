"""A transcription whose client disconnected stops (routes._disconnect), with a fake Whisper.

The client is the SDK, over a real connection to a real stand-in server; only the engines
are fakes. These check what happens, never how long it takes.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import openai
import pytest
from openai import OpenAI

from voicekit.audio import Clip
from voicekit.standin.engines import SttResult, SttSegment
from voicekit.standin.engines.abandon import Abandoned
from voicekit.standin.server import StandinServer


class _HeldWhisper:
    """Transcribes only when :attr:`release` is set; a run whose ``abandon`` is set first stops."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.outcomes: list[str] = []
        self.started = threading.Event()

    def transcribe(self, clip: Clip, *, priority: int = 0, abandon: threading.Event | None = None,
                   **kwargs: Any) -> SttResult:
        self.started.set()
        for _ in range(200):  # at most 10 s
            if abandon is not None and abandon.is_set():
                self.outcomes.append("abandoned")
                raise Abandoned("Whisper run abandoned")
            if self.release.wait(0.05):
                self.outcomes.append("finished")
                seg = SttSegment(id=0, seek=0, start=0.0, end=1.0, text=" Hello there.", tokens=[1, 2, 3],
                                 temperature=0.0, avg_logprob=-0.1, compression_ratio=1.0, no_speech_prob=0.0)
                return SttResult([seg], "english", clip.duration)
        self.outcomes.append("timed out")
        raise RuntimeError("the test never released or abandoned the run")


@pytest.fixture
def held() -> Any:
    whisper = _HeldWhisper()
    engines = SimpleNamespace(stt=whisper)
    with StandinServer(load_engines=lambda: engines) as server:  # type: ignore[arg-type,return-value]
        yield whisper, server.base_url


def _clip() -> Clip:
    rng = np.random.default_rng(0)
    return Clip((rng.standard_normal(16_000) * 3_000).astype(np.int16), 16_000)


def test_a_transcription_the_client_gave_up_on_stops(held: Any) -> None:
    whisper, base_url = held
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=1.0) as client, \
            pytest.raises(openai.APITimeoutError):  # the SDK gives up and closes the connection
        client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=_clip().to_file_tuple())
    assert whisper.started.is_set()
    for _ in range(100):
        if whisper.outcomes:
            break
        threading.Event().wait(0.05)
    assert whisper.outcomes == ["abandoned"]


def test_a_transcription_the_client_waits_for_is_answered(held: Any) -> None:
    whisper, base_url = held
    threading.Timer(0.5, whisper.release.set).start()  # after the watch has begun
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=10.0) as client:
        result = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=_clip().to_file_tuple(),
                                                    language="en")
    assert result.text == "Hello there." and whisper.outcomes == ["finished"]


def test_a_head_start_called_off_closes_its_request_and_the_run_stops(held: Any) -> None:
    """The cascaded agent's head-start transcription (agents._cancellable_stt), called off mid-run."""
    from voicekit.agents._cancellable_stt import CancellableTranscriber

    whisper, base_url = held
    cancelled = threading.Event()
    with OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30.0) as client:
        stt = CancellableTranscriber(client)
        try:
            threading.Timer(0.5, cancelled.set).start()
            assert stt.transcribe("gpt-4o-mini-transcribe", _clip(), cancelled) is None
            for _ in range(100):
                if whisper.outcomes:
                    break
                threading.Event().wait(0.05)
            assert whisper.outcomes == ["abandoned"]
            whisper.release.set()  # the same transcriber still answers a request left to finish
            text = stt.transcribe("gpt-4o-mini-transcribe", _clip(), threading.Event())
            assert text is not None and text.text == "Hello there."
        finally:
            stt.close()
