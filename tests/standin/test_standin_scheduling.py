"""Engine scheduling (voicekit.standin.engines.scheduling): the priority lock, and abandoned streams stopping.

The lock tests run threads against a :class:`PriorityLock` alone. The stream
test counts, on the session stand-in's real llama.cpp server, how many chunks
an abandoned streamed answer generated: with the fix it stops within a few
tokens of the client leaving; before it, it ran on to ``max_tokens``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from voicekit.standin.engines.scheduling import (
    BATCH,
    INTERACTIVE,
    Activity,
    PriorityLock,
    thread_plan,
    upload_priority,
)

# -- PriorityLock -----------------------------------------------------------------------------


def _queue_up(lock: PriorityLock, jobs: list[tuple[str, int]]) -> tuple[list[str], list[threading.Thread]]:
    """Start one thread per ``(name, priority)`` while the lock is held, each queued before the next starts."""
    order: list[str] = []
    threads = []
    for name, priority in jobs:
        def work(name: str = name, priority: int = priority) -> None:
            with lock.hold(priority):
                order.append(name)
        t = threading.Thread(target=work)
        n = len(lock.waiting())
        t.start()
        deadline = time.monotonic() + 10
        while len(lock.waiting()) == n and time.monotonic() < deadline:  # wait until it is queued
            time.sleep(0.001)
        assert len(lock.waiting()) == n + 1
        threads.append(t)
    return order, threads


def test_interactive_goes_before_batch_fifo_within_a_class() -> None:
    lock = PriorityLock()
    lock.acquire(BATCH)
    order, threads = _queue_up(lock, [("b1", BATCH), ("i1", INTERACTIVE), ("b2", BATCH), ("i2", INTERACTIVE)])
    assert lock.waiting() == [INTERACTIVE, INTERACTIVE, BATCH, BATCH]
    lock.release()
    for t in threads:
        t.join(10)
    assert order == ["i1", "i2", "b1", "b2"]
    assert not lock.locked()


def test_with_statement_is_interactive_and_exclusive() -> None:
    lock = PriorityLock()
    with lock:
        assert lock.locked()
        assert not lock.acquire(blocking=False)
        assert not lock.acquire(BATCH, timeout=0.01)
        assert lock.waiting() == []  # a timed-out waiter leaves the queue
    assert lock.acquire(BATCH, blocking=False)
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_a_timed_out_first_waiter_lets_the_next_in() -> None:
    lock = PriorityLock()
    lock.acquire()
    order, threads = _queue_up(lock, [("b", BATCH)])
    assert not lock.acquire(INTERACTIVE, timeout=0.05)  # was first in line, gave up
    lock.release()
    threads[0].join(10)
    assert order == ["b"]


def test_batch_waits_while_interactive_work_holds_another_engine() -> None:
    activity = Activity(grace_s=0.0)
    stt, tts = PriorityLock(activity), PriorityLock(activity)
    with tts:  # a Realtime turn speaking
        assert not stt.acquire(BATCH, blocking=False)
        assert stt.acquire(INTERACTIVE, blocking=False)  # interactive work is not held back
        stt.release()
    assert stt.acquire(BATCH, blocking=False)
    stt.release()


def test_batch_waits_for_the_grace_after_interactive_work() -> None:
    activity = Activity(grace_s=3600.0)
    lock = PriorityLock(activity)
    with lock:
        pass
    assert activity.batch_wait() > 0
    assert not lock.acquire(BATCH, timeout=0.01)
    assert lock.waiting() == [] and not lock.locked()
    assert PriorityLock().acquire(BATCH, blocking=False)  # without an Activity, no hold-back


def test_an_activity_re_pointed_while_held_is_left_by_the_one_entered() -> None:
    first, second = Activity(grace_s=0.0), Activity(grace_s=0.0)
    lock = PriorityLock(first)
    lock.acquire()
    lock.activity = second  # a second Engines sharing this Whisper
    lock.release()
    assert first.batch_wait() == 0 and second.batch_wait() == 0  # neither stuck busy (nor below zero)
    assert lock.acquire(BATCH, blocking=False)
    lock.release()


def test_engines_sharing_an_engine_share_its_activity() -> None:
    from voicekit.standin.engines import Engines

    class _Engine:
        def __init__(self) -> None:
            self.lock = PriorityLock()

    class _Model:
        name = "m"

        def respond(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            yield from ()

    stt, tts = _Engine(), _Engine()
    a = Engines(stt, tts, _Model())  # type: ignore[arg-type]
    b = Engines(stt, tts, _Model())  # type: ignore[arg-type]
    assert a.activity is b.activity is stt.lock.activity is tts.lock.activity


def test_a_long_upload_is_batch_a_turn_sized_one_interactive() -> None:
    assert upload_priority(61.0) == BATCH
    assert upload_priority(6.1) == INTERACTIVE  # the cascaded agent's STT of one turn


# -- thread budget -----------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [1, 2, 3, 4, 8, 16])
def test_thread_plan_keeps_engines_that_run_together_within_the_budget(budget: int) -> None:
    plan = thread_plan(budget)
    assert plan.budget == budget and min(plan.whisper, plan.piper, plan.llm, plan.llm_batch) >= 1
    assert max(plan.whisper, plan.piper, plan.llm_batch) <= budget  # each phase of a turn within the budget
    assert plan.llm <= max(1, budget // 4)  # the decoding that overlaps Piper stays small


def test_thread_plan_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    monkeypatch.delenv("VOICEKIT_THREADS", raising=False)
    assert thread_plan().budget == len(os.sched_getaffinity(0))
    monkeypatch.setenv("VOICEKIT_THREADS", "6")
    assert thread_plan().budget == 6
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VOICEKIT_THREADS", bad)
        with pytest.raises(ValueError, match="VOICEKIT_THREADS"):
            thread_plan()


def test_the_llm_decoding_threads_can_be_set_within_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOICEKIT_LLM_THREADS", raising=False)
    assert thread_plan(2).llm == 1 and thread_plan(16).llm == 4  # a quarter of the budget, at least 1
    monkeypatch.setenv("VOICEKIT_LLM_THREADS", "2")
    assert thread_plan(2).llm == 2 and thread_plan(1).llm == 1 and thread_plan(16).llm == 2
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv("VOICEKIT_LLM_THREADS", bad)
        with pytest.raises(ValueError, match="VOICEKIT_LLM_THREADS must be a positive integer"):
            thread_plan(2)


# -- abandoned streams ----------------------------------------------------------------------


class _CountingLlama:
    """Wraps the engine's ``xllamacpp.Server``: counts streamed chunks per call; long calls ignore EOS."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[dict[str, Any]] = []

    def handle_chat_completions(self, req: dict[str, Any], callback: Any = None) -> Any:
        if callback is None:
            return self.inner.handle_chat_completions(req)
        record: dict[str, Any] = {"max_tokens": req.get("max_tokens"), "chunks": 0, "done": threading.Event()}
        self.calls.append(record)
        if (req.get("max_tokens") or 0) >= 500:
            req = {**req, "ignore_eos": True}  # run to the cap unless stopped, whatever the model would say

        def counting(chunk: Any) -> bool:
            record["chunks"] += 1
            return bool(callback(chunk))

        try:
            return self.inner.handle_chat_completions(req, counting)
        finally:
            record["done"].set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def counting_llama(standin_server: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[_CountingLlama]:
    llm = standin_server._server.config.app.state.engines.llm
    counter = _CountingLlama(llm._server)
    monkeypatch.setattr(llm, "_server", counter)
    yield counter


LONG = 1000


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_abandoned_stream_stops_generating(standin_server: Any, client: OpenAI, counting_llama: _CountingLlama,
                                              api: str) -> None:
    prompt = "Count from one to one thousand, in words."
    if api == "chat":
        path, body = "/chat/completions", {"model": "gpt-4o-mini", "stream": True, "max_completion_tokens": LONG,
                                           "messages": [{"role": "user", "content": prompt}]}
    else:
        path, body = "/responses", {"model": "gpt-4o-mini", "stream": True, "max_output_tokens": LONG, "input": prompt}
    with httpx.Client(timeout=60) as http, http.stream("POST", standin_server.base_url + path, json=body) as r:
        assert r.status_code == 200
        deltas = 0
        for line in r.iter_lines():
            deltas += "delta" in line
            if deltas >= 3:
                break  # leave mid-stream: the connection closes with the response
    client.chat.completions.create(model="gpt-4o-mini", max_completion_tokens=8,
                                   messages=[{"role": "user", "content": "Say hi."}])
    abandoned = next(c for c in counting_llama.calls if c["max_tokens"] == LONG)
    assert abandoned["done"].wait(120), "the abandoned generation never ended"
    assert abandoned["chunks"] < 50, f"the abandoned stream generated {abandoned['chunks']} chunks of {LONG}"


def test_a_lock_with_capacity_two_has_two_holders_and_the_third_waits_by_priority() -> None:
    lock = PriorityLock(capacity=2)
    assert lock.acquire() and lock.acquire(BATCH, timeout=1)  # two replicas: both in
    order, threads = _queue_up(lock, [("batch", BATCH), ("turn", INTERACTIVE)])
    assert not order and lock.waiting() == [INTERACTIVE, BATCH]
    lock.release()
    lock.release()
    for t in threads:
        t.join(5)
    assert order[0] == "turn" and sorted(order) == ["batch", "turn"] and not lock.locked()


@pytest.mark.parametrize("budget", [1, 2, 4, 8])
def test_whisper_replicas_share_whispers_threads(monkeypatch: pytest.MonkeyPatch, budget: int) -> None:
    monkeypatch.delenv("VOICEKIT_WHISPER_REPLICAS", raising=False)
    plan = thread_plan(budget)
    assert 1 <= plan.whisper_replicas <= budget and plan.whisper * plan.whisper_replicas <= min(4, budget)
    monkeypatch.setenv("VOICEKIT_WHISPER_REPLICAS", "1")
    assert thread_plan(budget).whisper_replicas == 1 and thread_plan(budget).whisper == min(4, budget)
    monkeypatch.setenv("VOICEKIT_WHISPER_REPLICAS", "many")
    with pytest.raises(ValueError, match="VOICEKIT_WHISPER_REPLICAS"):
        thread_plan(budget)


def test_a_turn_is_transcribed_while_another_holds_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two replicas: a second clip does not wait for the first (before, one Whisper served one clip at a time)."""
    import numpy as np

    from voicekit.audio import Clip
    from voicekit.standin.engines.bundle import WhisperEngine

    monkeypatch.setenv("VOICEKIT_THREADS", "2")
    monkeypatch.setenv("VOICEKIT_WHISPER_REPLICAS", "2")
    engine = WhisperEngine()
    done = threading.Event()
    with engine.lock.hold(BATCH):  # another transcription holds one replica
        t = threading.Thread(target=lambda: (engine.transcribe(Clip(np.zeros(16000, np.int16), 16000)), done.set()))
        t.start()
        assert done.wait(60)
    t.join(5)
