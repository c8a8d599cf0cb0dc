"""Piper serves a response's first piece before other sessions' later pieces (scheduling.FIRST_PIECE), with a fake Piper."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np

from voicekit.standin.engines.scheduling import (
    BATCH,
    FIRST_PIECE,
    INTERACTIVE,
    Activity,
    PriorityLock,
)
from voicekit.standin.engines.synthesis import synthesize_pcm


class RecordingLock(PriorityLock):
    """A :class:`PriorityLock` that remembers the priority of each acquisition."""

    def __init__(self, activity: Activity | None = None) -> None:
        super().__init__(activity)
        self.priorities: list[int] = []

    def acquire(self, priority: int = INTERACTIVE, blocking: bool = True, timeout: float = -1) -> bool:
        got = super().acquire(priority, blocking, timeout)
        if got:
            self.priorities.append(priority)
        return got


class FakePiper:
    """Stands in for :class:`.bundle.PiperEngine`: records which text it spoke, in order, and under which priority."""

    sample_rate = 22050

    def __init__(self) -> None:
        self.lock = RecordingLock()
        self.spoken: list[tuple[str, int]] = []

    def stream(self, text: str, *, noise_scale: float | None = None,
               noise_w_scale: float | None = None) -> Iterator[np.ndarray]:
        self.spoken.append((text, self.lock.priorities[-1]))
        yield np.zeros(2205, np.int16)


def _wait_for(cond, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_new_turns_first_piece_goes_before_another_sessions_later_piece():
    piper = FakePiper()
    piper.lock.acquire()  # Piper busy with someone's sentence
    later = threading.Thread(target=lambda: list(synthesize_pcm(piper, "The third sentence of a long story.")))
    later.start()
    _wait_for(lambda: piper.lock.waiting() == [INTERACTIVE])
    first = threading.Thread(target=lambda: list(synthesize_pcm(piper, "Hello there.", opening=True)))
    first.start()
    _wait_for(lambda: len(piper.lock.waiting()) == 2)
    piper.lock.release()
    later.join(5)
    first.join(5)
    assert [text for text, _ in piper.spoken] == ["Hello there.", "The third sentence of a long story."]


def test_only_the_first_piece_of_an_opening_text_is_served_first():
    piper = FakePiper()
    long_first = "Well, " + "this first sentence goes on and on about many things " * 2 + "until it ends. Then more."
    list(synthesize_pcm(piper, long_first, opening=True))
    priorities = [p for _, p in piper.spoken]
    assert len(priorities) >= 2 and priorities[0] == FIRST_PIECE and set(priorities[1:]) == {INTERACTIVE}
    piper.spoken.clear()
    list(synthesize_pcm(piper, "A later sentence."))
    assert [p for _, p in piper.spoken] == [INTERACTIVE]


def test_a_first_piece_is_interactive_work_batch_waits_for_it():
    activity = Activity(grace_s=0.0)
    piper_lock, whisper_lock = PriorityLock(activity), PriorityLock(activity)
    with piper_lock.hold(FIRST_PIECE):
        assert not whisper_lock.acquire(BATCH, timeout=0.1)  # held back while the first piece is spoken
    assert whisper_lock.acquire(BATCH, timeout=2)
    whisper_lock.release()
