"""Who runs next on an engine, and stopping work nobody waits for.

- :class:`PriorityLock` guards one engine (Whisper, Piper). Waiters are served
  by class, :data:`INTERACTIVE` (Realtime and Live turns, chat, speech) before
  :data:`BATCH` (whole-file ``/v1/audio/transcriptions`` and ``/translations``),
  first come first served within a class. Batch work takes the lock per step
  (a Whisper segment, at most one 30 s window of audio), so a Realtime turn
  waits for at most one step of a transcription, not for the whole file and
  the queue behind it.
- :class:`ClosingStreamingResponse` is Starlette's ``StreamingResponse`` that
  closes its (sync) body generator when the response ends, the client's
  disconnect included. Starlette otherwise leaves an abandoned generator
  suspended at its ``yield``; a chat stream's LLM worker thread then goes on
  generating to ``max_tokens`` on the CPU the next request needs (measured
  before this: an 8-token chat took 4.7 s after one abandoned 1,000-token
  stream and 7.1 s after three). Closing it raises ``GeneratorExit`` at the
  ``yield``, whose ``finally`` stops the LLM within a token.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

__all__ = ["BATCH", "INTERACTIVE", "ClosingStreamingResponse", "PriorityLock"]

INTERACTIVE = 0
"""Priority of work someone is waiting on in real time (lower runs first)."""

BATCH = 1
"""Priority of whole-file work (transcriptions, translations)."""


class PriorityLock:
    """A non-reentrant thread lock whose waiters are served by priority, then in arrival order.

    ``with lock:`` takes it as :data:`INTERACTIVE`; ``with lock.hold(BATCH):`` as batch work.
    A holder is never pre-empted: priority decides only who goes next.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._held = False
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, ticket)
        self._tickets = itertools.count()

    def acquire(self, priority: int = INTERACTIVE, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock; returns False if not ``blocking`` (or after ``timeout`` s) it was not free."""
        with self._cond:
            if not self._held and not self._waiting:
                self._held = True
                return True
            if not blocking:
                return False
            entry = (priority, next(self._tickets))
            heapq.heappush(self._waiting, entry)
            deadline = None if timeout < 0 else time.monotonic() + timeout
            while self._held or self._waiting[0] != entry:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    self._waiting.remove(entry)
                    heapq.heapify(self._waiting)
                    self._cond.notify_all()  # the next waiter may now be first
                    return False
                self._cond.wait(remaining)
            heapq.heappop(self._waiting)
            self._held = True
            return True

    def release(self) -> None:
        """Let the first waiter (highest priority, earliest) in.

        Raises
        ------
        RuntimeError
            If the lock is not held.
        """
        with self._cond:
            if not self._held:
                raise RuntimeError("release of an unlocked PriorityLock")
            self._held = False
            self._cond.notify_all()

    def locked(self) -> bool:
        return self._held

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
