"""Speculative Whisper gives up a stale run (voicekit.standin.engines.abandon, realtime.lookahead).

A run started at a pause after which speech went on holds Whisper's lock; the run for the
pause that ends the turn waited for it (issue 26, "The limit"). These check what happens,
never how long it takes.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voicekit.audio import Clip
from voicekit.standin.engines.abandon import Abandoned
from voicekit.standin.realtime.lookahead import Lookahead


def test_whisper_stops_a_run_whose_event_is_set_and_runs_one_whose_event_is_not(shared_audio: Path) -> None:
    from voicekit.standin.engines.bundle import WhisperEngine

    engine = WhisperEngine()
    clip = Clip.from_file(shared_audio / "ls_0880.wav")
    plain = engine.transcribe(clip, beam_size=1)
    kept = engine.transcribe(clip, beam_size=1, abandon=threading.Event())
    assert kept.text == plain.text and "young man" in plain.text.lower()
    stale = threading.Event()
    stale.set()
    with pytest.raises(Abandoned):
        engine.transcribe(clip, beam_size=1, abandon=stale)
    assert engine.transcribe(clip, beam_size=1).text == plain.text  # the model is not left abandoned


def test_runs_on_two_whisper_replicas_each_keep_their_own_event() -> None:
    """With Whisper replicas two runs step at once, each on its own thread. A run that
    finishes beside a stale one must not clear the stale run's event (a shared event slot
    did): the stale run then stops before its decoder pass instead of paying for it."""
    from voicekit.standin.engines.abandon import AbandonableWhisper, abandonable

    stale_inside, release = threading.Event(), threading.Event()
    decoded: list[str] = []

    class Model:
        def encode(self, name: str) -> str:
            if name == "stale":
                stale_inside.set()
                release.wait(10)
            return name

        def generate(self, name: str) -> str:
            decoded.append(name)
            return name

    model = AbandonableWhisper(Model())

    def one_segment(name: str) -> Any:
        yield model.generate(model.encode(name))  # one step: an encoder pass, then a decoder pass

    stale = threading.Event()
    outcome: list[str] = []

    def run_stale() -> None:
        try:
            list(abandonable(model, stale, one_segment("stale")))
            outcome.append("finished")
        except Abandoned:
            outcome.append("abandoned")

    thread = threading.Thread(target=run_stale)
    thread.start()
    assert stale_inside.wait(10)
    assert list(abandonable(model, threading.Event(), one_segment("kept"))) == ["kept"]  # beside it
    stale.set()
    release.set()
    thread.join(10)
    assert outcome == ["abandoned"] and decoded == ["kept"]


class _Stt:
    """A Whisper stand-in that runs until its run's ``abandon`` is set (or 5 s), as a long encoder pass."""

    def __init__(self) -> None:
        self.runs: list[tuple[int, threading.Event | None]] = []

    def transcribe(self, clip: Clip, *, priority: int = 0, abandon: threading.Event | None = None,
                   **kwargs: Any) -> Any:
        self.runs.append((clip.samples.size, abandon))
        if abandon is not None and abandon.wait(5):
            raise Abandoned("Whisper run abandoned")
        return SimpleNamespace(text="words", segments=[])


class _Detector:
    def __init__(self) -> None:
        self.pause_ms: int | None = None
        self.timing = SimpleNamespace(create_response=False)
        self.pausing = False


class _Turns(Lookahead):
    """The state :class:`Lookahead` reads, without a connection."""

    def __init__(self) -> None:
        self.engines = SimpleNamespace(stt=_Stt())  # type: ignore[assignment]
        self.session = {"id": "sess_test", "audio": {"input": {"transcription": None}}}
        self.buffer = np.zeros(24_000 * 3, np.int16)
        self.buffer_start = 0
        self.timeline = self.buffer.size
        self.detector = _Detector()  # type: ignore[assignment]
        self.speech_item_id = "item_test"
        self.active_task = None
        self._closing = False
        self._speculation = self._speculation_wanted = self._speculation_abandon = None
        self._head_start = self._pause_clock = None

    def spawn(self, work: Any) -> asyncio.Future[Any]:
        return asyncio.ensure_future(work)

    def responding(self) -> bool:
        return False

    def pause(self, ms: int | None) -> None:
        """The VAD: a pause begins at ``ms`` (None: speech again), as ``append_audio`` feeds it."""
        assert isinstance(self.detector, _Detector)
        self.detector.pause_ms, self.detector.pausing = ms, ms is not None
        if ms is not None:
            self._speculate(0, ms)
        self._abandon_stale()


def test_a_newer_pause_abandons_the_stale_run_and_runs_at_once() -> None:
    async def main() -> list[tuple[int, threading.Event | None]]:
        turns = _Turns()
        stt = turns.engines.stt
        turns.pause(1_000)  # a mid-turn pause: a run starts
        await asyncio.sleep(0.1)
        turns.pause(None)  # speech goes on: that run is stale
        turns.pause(2_000)  # the pause that will end the turn
        assert turns._speculation is not None
        first = turns._speculation[1]
        await asyncio.wait([first], timeout=2)
        assert first.done() and isinstance(first.exception(), Abandoned)  # not run to its end (5 s)
        for _ in range(100):  # the newest pause's run starts as soon as the stale one gives up
            if len(stt.runs) == 2:
                break
            await asyncio.sleep(0.02)
        spec = turns._speculation
        assert spec is not None and spec[0] == (0, 2_000)
        turns.pause(None)
        await asyncio.wait([spec[1]], timeout=2)
        return stt.runs

    runs = asyncio.run(main())
    assert [n for n, _ in runs] == [24_000, 48_000]  # the audio up to each pause
    assert all(e is not None and e.is_set() for _, e in runs)


def test_a_queued_pause_that_speech_went_on_after_is_dropped() -> None:
    async def main() -> int:
        turns = _Turns()
        turns.pause(1_000)
        await asyncio.sleep(0.1)
        assert turns._speculation is not None
        first = turns._speculation[1]
        turns.pause(None)
        turns.pause(2_000)  # queued behind the first, then speech again before it could start
        turns.pause(None)
        with pytest.raises(Abandoned):
            await asyncio.wait_for(first, 2)
        await asyncio.sleep(0.2)
        return len(turns.engines.stt.runs)

    assert asyncio.run(main()) == 1


def test_live_abandons_the_run_of_a_pause_that_speech_went_on_after() -> None:
    from voicekit.standin.live.listener import Listener

    async def main() -> list[tuple[int, threading.Event | None]]:
        failed: list[BaseException] = []

        def spawn(work: Any) -> asyncio.Future[Any]:  # as LiveState.spawn: a task that raises is a server_error
            task = asyncio.ensure_future(work)
            task.add_done_callback(lambda t: failed.extend([t.exception()] if t.exception() else []))
            return task

        conn = SimpleNamespace(engines=SimpleNamespace(stt=_Stt()), spawn=spawn, closed=False,
                               input_samples=24_000 * 3, muted=False, current=None, session=None)
        ears = Listener(conn)  # type: ignore[arg-type]
        ears.audio = np.zeros(conn.input_samples, np.int16)
        ears.speech_start_ms = 500.0
        detector = SimpleNamespace(pause_ms=1_000, pausing=True, in_speech=True)
        ears.detector = detector  # type: ignore[assignment]
        ears._speculate(1_000)  # a mid-utterance pause: a run starts
        await asyncio.sleep(0.1)
        assert ears._speculation is not None
        first = ears._speculation[1]
        detector.pause_ms = 2_000  # speech went on, and paused again
        ears._speculate(2_000)
        await asyncio.wait([first], timeout=2)
        assert first.done() and first.result() is None  # not run to its end (5 s), and no error
        for _ in range(100):
            if len(conn.engines.stt.runs) == 2:
                break
            await asyncio.sleep(0.02)
        assert ears._speculation is not None and ears._speculation[0][1] == 2_000
        ears._abandon_stale()
        assert ears._abandon is not None and not ears._abandon.is_set()  # the newest pause's run goes on
        detector.pause_ms = None
        ears._abandon_stale()
        await asyncio.wait([ears._speculation[1]], timeout=2)
        assert not failed, failed  # an abandoned run is no error of the session
        return conn.engines.stt.runs

    runs = asyncio.run(main())
    assert len(runs) == 2 and all(e is not None and e.is_set() for _, e in runs)
