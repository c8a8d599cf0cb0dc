"""GPT-Live's Smart Turn judges a pause once that pause's speculative transcript is in.

Both engines on 2 cores slowed each other's run, and the answer needs the transcript first
(voicekit.standin.live.listener, ``Listener._transcript_first``). These check the order of
the calls with fakes, never how long anything takes.
"""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voicekit.audio import Clip
from voicekit.standin.live import listener as live_listener
from voicekit.standin.live.listener import Listener
from voicekit.vad import TurnCheck


class _HeldStt:
    """Whisper that finishes a run only when :attr:`release` is set (or after 5 s)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.finished = threading.Event()

    def transcribe(self, clip: Clip, **kwargs: Any) -> Any:
        self.release.wait(5)
        self.finished.set()
        return SimpleNamespace(text="words", segments=[])


class _Detector:
    """The VAD stopped at one pause, waiting for the turn model's verdict."""

    def __init__(self, pause_ms: int) -> None:
        self.pause_ms: int | None = pause_ms
        self.pausing = self.in_speech = True
        self.check: TurnCheck | None = TurnCheck(pause_ms + 256, pause_ms, np.zeros(16_000, np.float32))
        self.verdicts: list[float] = []

    def decide(self, probability: float) -> list[Any]:
        self.check = None
        self.verdicts.append(probability)
        return []


class _SmartTurn:
    def __init__(self, stt: _HeldStt) -> None:
        self.stt = stt
        self.transcript_done_first: list[bool] = []

    def probability(self, audio: Any) -> float:
        self.transcript_done_first.append(self.stt.finished.is_set())
        return 0.0  # "not finished": nothing more happens


def _listener(pause_ms: int, monkeypatch: pytest.MonkeyPatch) -> tuple[Listener, _HeldStt, _SmartTurn, _Detector]:
    stt = _HeldStt()
    model = _SmartTurn(stt)
    monkeypatch.setattr(live_listener, "smart_turn", lambda: model)
    conn = SimpleNamespace(engines=SimpleNamespace(stt=stt), spawn=asyncio.ensure_future, closed=False,
                           input_samples=24_000 * 3, muted=False, current=None, session=None)
    ears = Listener(conn)  # type: ignore[arg-type]
    ears.audio = np.zeros(conn.input_samples, np.int16)
    ears.speech_start_ms = 500.0
    detector = _Detector(pause_ms)
    ears.detector = detector  # type: ignore[assignment]
    return ears, stt, model, detector


def test_smart_turn_waits_for_the_transcript_of_the_pause_it_judges(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        ears, stt, model, detector = _listener(1_500, monkeypatch)
        ears._speculate(1_500)  # Whisper starts on the pause
        judging = asyncio.ensure_future(ears._judge())
        await asyncio.sleep(0.3)
        assert model.transcript_done_first == [] and not judging.done()  # held while Whisper runs
        stt.release.set()
        await asyncio.wait_for(judging, 5)
        assert model.transcript_done_first == [True] and detector.verdicts == [0.0]

    asyncio.run(main())


def test_smart_turn_does_not_wait_for_another_pauses_run(monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> None:
        ears, stt, model, detector = _listener(1_500, monkeypatch)
        ears._speculate(900)  # a run for an earlier pause, not the one judged
        await asyncio.wait_for(ears._judge(), 2)
        assert model.transcript_done_first == [False] and detector.verdicts == [0.0]
        stt.release.set()

    asyncio.run(main())


def test_smart_turn_waits_at_most_transcript_first_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(live_listener, "TRANSCRIPT_FIRST_S", 0.2)

    async def main() -> None:
        ears, stt, model, detector = _listener(1_500, monkeypatch)
        ears._speculate(1_500)
        await asyncio.wait_for(ears._judge(), 2)  # Whisper is still held
        assert model.transcript_done_first == [False] and detector.verdicts == [0.0]
        stt.release.set()

    asyncio.run(main())
