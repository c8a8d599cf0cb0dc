"""Who runs next on an engine, and stopping work nobody waits for.

- :class:`PriorityLock` guards one engine (Whisper, Piper). Waiters are served by class,
  :data:`FIRST_PIECE` (a response's first piece of speech, on Piper) before
  :data:`INTERACTIVE` (Realtime and Live turns, chat, speech, and an upload of at most
  :data:`BATCH_MIN_AUDIO_S`, a turn's worth) before :data:`BATCH` (a longer file to
  ``/v1/audio/transcriptions`` or ``/translations``), first come first served within a
  class. Batch work takes the lock per step (a Whisper segment, at most one 30 s window
  of audio), so a Realtime turn waits for at most one step of a transcription, not for
  the whole file and the queue behind it. One :class:`Activity` per process spans the
  engines: batch steps also wait while interactive work holds or waits for any engine
  lock, or runs the LLM (which takes no lock), and :data:`INTERACTIVE_GRACE_S` after, so
  a turn's LLM and Piper phases get the CPU too (``benchmarks/mixed_load.py``; figures
  in ``benchmarks/README.md``, "Mixed load"). Batch work finishes in the gaps between
  turns.
- :class:`ClosingStreamingResponse` is Starlette's ``StreamingResponse`` that
  closes its (sync) body generator when the response ends, the client's
  disconnect included. Starlette otherwise leaves an abandoned generator
  suspended at its ``yield``; a chat stream's LLM worker thread then goes on
  generating to ``max_tokens`` on the CPU the next request needs (figures in
  ``benchmarks/README.md``, "Mixed load"). Closing it raises ``GeneratorExit`` at the
  ``yield``, whose ``finally`` stops the LLM within a token.
"""

from __future__ import annotations

import concurrent.futures
import heapq
import itertools
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

T = TypeVar("T")

__all__ = [
    "BATCH", "BATCH_MIN_AUDIO_S", "FIRST_PIECE", "INTERACTIVE", "INTERACTIVE_GRACE_S", "LLM_POLL",
    "LLM_THREADS_ENV", "THREADS_ENV", "WHISPER_REPLICAS_ENV", "WORKER_THREADS", "Activity",
    "ClosingStreamingResponse", "PriorityLock", "ThreadPlan", "locked_steps", "thread_plan", "upload_priority", "worker_pool",
]

FIRST_PIECE = -1
"""Priority of the first piece of a response's speech on Piper: a new turn's first audio (lower runs first).

A reply is spoken piece by piece, each piece taking Piper's lock again; with one
class, a turn that just began queued its first piece behind every later piece of
another session's long reply. The first piece (:func:`.synthesis.synthesize_pcm`
with ``opening=True``: a Realtime or Live response's first phrase, a chat
reply's first sentence, ``/v1/audio/speech``'s first sentence) goes before
waiting :data:`INTERACTIVE` pieces; it is interactive work in every other respect
(:class:`Activity`)."""

INTERACTIVE = 0
"""Priority of work someone is waiting on in real time (lower runs first)."""

BATCH = 1
"""Priority of whole-file work (transcriptions, translations)."""


INTERACTIVE_GRACE_S = 1.0
"""Seconds after interactive work last released an engine during which batch work still waits.

A Realtime turn goes Whisper, then the LLM (which takes no engine lock), then
Piper sentence by sentence; the grace keeps a batch transcription from taking
the CPU in those gaps (the LLM's first sentence comes well within it)."""


BATCH_MIN_AUDIO_S = 30.0
"""An uploaded file longer than this (one Whisper window) is batch work; a shorter one is
someone's turn (the cascaded agent's STT, a notebook's recording) and is interactive."""


def upload_priority(duration_s: float) -> int:
    """:data:`BATCH` for an upload of more than :data:`BATCH_MIN_AUDIO_S` seconds, else :data:`INTERACTIVE`."""
    return BATCH if duration_s > BATCH_MIN_AUDIO_S else INTERACTIVE


class Activity:
    """Interactive work across the engines of one process: held, waited for, or just released.

    Shared by the engines' :class:`PriorityLock` objects, so batch work on one
    engine (Whisper) also waits while a turn runs on another (Piper), and the
    CPU goes to the turn.
    """

    def __init__(self, grace_s: float = INTERACTIVE_GRACE_S) -> None:
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._active = 0
        self._last = -math.inf

    def enter(self) -> None:
        with self._lock:
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            self._last = time.monotonic()

    def steps(self, gen: Iterator[T]) -> Iterator[T]:
        """Yield from ``gen``, counting as interactive work while each next item is computed.

        Closing this iterator closes ``gen`` (an abandoned stream stops its LLM).
        """
        try:
            while True:
                self.enter()
                try:
                    item = next(gen, _END)
                finally:
                    self.leave()
                if item is _END:
                    return
                yield item
        finally:
            close = getattr(gen, "close", None)
            if close is not None:
                close()

    def mark_model(self, model: Any) -> None:
        """Make ``model.respond`` (an LLM's one entry point, :class:`.llm.LanguageModel`) count as interactive work.

        Every LLM generation is someone's turn (chat, Responses, Realtime, Live); the
        instance keeps its class, so ``isinstance`` checks still hold.
        """
        respond = model.respond
        if getattr(respond, "_voicekit_activity", None) is self:
            return

        def marked(*args: Any, **kwargs: Any) -> Iterator[Any]:
            return self.steps(respond(*args, **kwargs))

        marked._voicekit_activity = self  # type: ignore[attr-defined]
        model.respond = marked

    def batch_wait(self) -> float:
        """Seconds batch work should still wait (0: it may run now)."""
        with self._lock:
            if self._active:
                return max(self.grace_s, 0.05)  # also how long a held-back waiter sleeps before it looks again
            return max(0.0, self._last + self.grace_s - time.monotonic())


class PriorityLock:
    """A non-reentrant thread lock whose waiters are served by priority, then in arrival order.

    ``with lock:`` takes it as :data:`INTERACTIVE`; ``with lock.hold(BATCH):`` as batch work.
    A holder is never pre-empted: priority decides only who goes next. With an
    :class:`Activity` (``activity=``), batch work also waits while interactive work
    holds or waits for any lock sharing it, and :attr:`Activity.grace_s` after.
    ``capacity`` holders may hold it at once (an engine with that many model replicas).
    """

    def __init__(self, activity: Activity | None = None, capacity: int = 1) -> None:
        self.activity = activity
        self.capacity = max(1, capacity)
        self._cond = threading.Condition(threading.Lock())
        self._holders: list[tuple[int, Activity | None]] = []  # (thread ident, the Activity it entered)
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, ticket)
        self._tickets = itertools.count()

    def _batch_wait(self, priority: int) -> float:
        return self.activity.batch_wait() if priority > INTERACTIVE and self.activity is not None else 0.0

    def acquire(self, priority: int = INTERACTIVE, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; returns False if not ``blocking`` (or after ``timeout`` s) it was not free."""
        entered = self.activity if priority <= INTERACTIVE else None  # left by the same object, even if re-pointed
        if entered is not None:
            entered.enter()
        with self._cond:
            if self._free() and not self._waiting and not self._batch_wait(priority):
                self._holders.append((threading.get_ident(), entered))
                return True
            if not blocking:
                if entered is not None:
                    entered.leave()
                return False
            entry = (priority, next(self._tickets))
            heapq.heappush(self._waiting, entry)
            deadline = None if timeout < 0 else time.monotonic() + timeout
            while True:
                first = self._free() and self._waiting[0] == entry
                hold_back = self._batch_wait(priority) if first else 0.0
                if first and not hold_back:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
                    self._cond.notify_all()  # the next waiter may now be first
                    if entered is not None:
                        entered.leave()
                    return False
                waits = [w for w in (remaining, hold_back or None) if w is not None]
                self._cond.wait(min(waits) if waits else None)
            heapq.heappop(self._waiting)
            self._holders.append((threading.get_ident(), entered))
            self._cond.notify_all()  # a batch waiter now first may be held back on a timer
            return True

    def release(self) -> None:
        """Let the first waiter (highest priority, earliest) in.

        Raises
        ------
        RuntimeError
            If the lock is not held.
        """
        with self._cond:
            if not self._holders:
                raise RuntimeError("release of an unlocked PriorityLock")
            mine = [i for i, (ident, _) in enumerate(self._holders) if ident == threading.get_ident()]
            _, entered = self._holders.pop(mine[-1] if mine else 0)
            self._cond.notify_all()
        if entered is not None:
            entered.leave()

    def locked(self) -> bool:
        return bool(self._holders)

    def _free(self) -> bool:
        return len(self._holders) < self.capacity

    def waiting(self) -> list[int]:
        """Priorities of the threads waiting, in the order they will get the lock."""
        with self._cond:
            return [p for p, _ in sorted(self._waiting)]

    @contextmanager
    def hold(self, priority: int = INTERACTIVE) -> Iterator[None]:
        """``with lock.hold(BATCH): ...``: hold the lock at ``priority``."""
        self.acquire(priority)
        try:
            yield
        finally:
            self.release()

    def __enter__(self) -> bool:
        return self.acquire(INTERACTIVE)

    def __exit__(self, *exc: object) -> None:
        self.release()


_END: Any = object()


WORKER_THREADS = 256
"""Threads of the stand-in's default executor (``asyncio.to_thread``): engine work waiting its turn.

A Realtime response runs on one such thread from its first token to its last audio
chunk, and a session's input transcription and look-ahead on others. asyncio's
default pool has ``cores + 4`` threads (6 on 2 cores), so with 16 learners at once
(``benchmarks/class.py --n 16``) responses waited for a whole other response
before starting, and 11 of 16 Realtime turns failed
(at load 13; timeouts). Waiting threads sleep on the
engines' locks; the CPU is bounded by :func:`thread_plan`, not by this number."""


def worker_pool() -> concurrent.futures.ThreadPoolExecutor:
    """A fresh executor of :data:`WORKER_THREADS` threads (created as needed) for ``loop.set_default_executor``."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="voicekit-worker")


THREADS_ENV = "VOICEKIT_THREADS"
"""Environment variable with the stand-in's CPU thread budget (``voicekit serve --threads``)."""

LLM_THREADS_ENV = "VOICEKIT_LLM_THREADS"
"""Environment variable with the LLM's decoding threads (default: a quarter of the budget, at
least 1; at most the budget). On 2 cores, 2 threads give Realtime's first audio about 50 ms
sooner when the machine is quiet, and 4 times later beside one busy process (its threads meet
at barriers: one descheduled thread stalls the other; ``benchmarks/README.md``), so 1 is the
default; 2 suits a machine where nothing else computes."""

LLM_POLL = 0
"""llama.cpp's ``poll`` (0-100; its default, 50, spins) for the LLM's threads: 0, they sleep
between computations, so a waiting LLM thread leaves its core to Whisper, Piper or the kernel."""

WHISPER_REPLICAS_ENV = "VOICEKIT_WHISPER_REPLICAS"
"""Environment variable with how many copies of Whisper transcribe at once (at most Whisper's threads)."""

DEFAULT_WHISPER_REPLICAS = 1
"""Whisper replicas when :data:`WHISPER_REPLICAS_ENV` is unset. One: two replicas split
Whisper's threads, which slows a lone turn's transcript more than it gains under load on
2 cores (``benchmarks/README.md``, mixed load and class); more cores may want 2."""


@dataclass(frozen=True)
class ThreadPlan:
    """How many CPU threads each engine's pool gets, out of ``budget``.

    The split follows a turn's phases: Whisper runs alone (``whisper``), then
    llama.cpp reads the prompt (``llm_batch``, one thread short of the budget:
    its threads meet at barriers, and with every core taken one descheduled
    thread stalls the rest), then the LLM decodes
    (``llm``, a quarter: decoding a 135M model is memory-bound) while Piper
    speaks (``piper``). The LLM writes a short reply in well under a second, so
    its overlap with Piper is brief, and Piper gets the budget too (one Piper
    thread of two tripled Realtime first audio under mixed load, see
    :mod:`.engines`). Batch Whisper waits while a turn runs (:class:`Activity`).
    Whisper and Piper get at most 4 (their models are small); each gets at least 1.
    ``whisper`` is per replica: ``whisper_replicas`` copies of Whisper (:data:`WHISPER_REPLICAS_ENV`)
    transcribe that many turns at once, sharing Whisper's threads.
    """

    budget: int
    whisper: int
    piper: int
    llm: int
    llm_batch: int
    whisper_replicas: int = 1


def thread_plan(budget: int | None = None) -> ThreadPlan:
    """The split of ``budget`` threads (default: :data:`THREADS_ENV`, else the cores this process may use,
    ``len(os.sched_getaffinity(0))``).

    Raises
    ------
    ValueError
        If :data:`THREADS_ENV`, :data:`LLM_THREADS_ENV` or :data:`WHISPER_REPLICAS_ENV` is set
        to anything but a positive integer.
    """
    if budget is None:
        budget = _positive_env(THREADS_ENV, "CPU threads") or len(os.sched_getaffinity(0))
    n = max(1, budget)
    llm = min(_positive_env(LLM_THREADS_ENV, "LLM decoding threads") or max(1, n // 4), n)
    replicas = min(_positive_env(WHISPER_REPLICAS_ENV, "Whisper replicas") or DEFAULT_WHISPER_REPLICAS, min(4, n))
    return ThreadPlan(budget=n, whisper=max(1, min(4, n) // replicas), piper=min(4, n), llm=llm,
                      llm_batch=max(1, n - 1), whisper_replicas=replicas)


def _positive_env(name: str, what: str) -> int | None:
    """The positive integer in environment variable ``name``, or None when it is unset or empty.

    Raises
    ------
    ValueError
        If it is set to anything else (the message names ``what`` it counts).
    """
    raw = os.environ.get(name, "").strip()
    if raw and (not raw.isdigit() or int(raw) < 1):
        raise ValueError(f"{name} must be a positive integer ({what}), got {raw!r}")
    return int(raw) if raw else None


class ClosingStreamingResponse(StreamingResponse):
    """A ``StreamingResponse`` over a sync generator that closes the generator when the response ends.

    The generator is closed on a worker thread (its ``finally`` may join an LLM
    worker), after any step still running there has finished, so the close
    never meets a running generator.
    """

    def __init__(self, content: Iterator[Any], **kwargs: Any) -> None:
        self._steps = _Steps(content)
        super().__init__(self._steps, **kwargs)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._steps.close)


class _Steps:
    """An iterator over ``gen`` whose :meth:`close` waits for a running ``next`` and then closes ``gen``."""

    def __init__(self, gen: Iterator[Any]) -> None:
        self._gen = gen
        self._lock = threading.Lock()
        self._closed = False

    def __iter__(self) -> _Steps:
        return self

    def __next__(self) -> Any:
        with self._lock:
            if self._closed:
                raise StopIteration
            return next(self._gen)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            close = getattr(self._gen, "close", None)
            if close is not None:
                close()


def locked_steps(lock: PriorityLock, steps: Iterator[T], priority: int = INTERACTIVE) -> Iterator[T]:
    """Yield from ``steps``, holding ``lock`` only while each next item is computed.

    For the generators of a streamed response: Starlette leaves a generator
    suspended, not closed, when the client goes away (an agent abandoning a
    cancelled answer, a barge-in), so a lock held across ``yield`` would stay
    held and every later request would wait for it forever. Each step takes the
    lock at ``priority`` (:data:`INTERACTIVE` or ``BATCH``).
    """
    while True:
        with lock.hold(priority):
            item = next(steps, _END)
        if item is _END:
            return
        yield item
