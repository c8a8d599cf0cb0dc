"""A model loaded on first need and released once unused for a while: the multilingual Whisper.

The multilingual Whisper (``base``, :mod:`.multilingual`) costs about 260 MB of RSS once
loaded, and a stand-in kept it for good: one German upload in a class's hour held that
memory for the rest of the hour (issue 26, "Memory"). :class:`Resident` keeps it while it
is used and lets it go after :data:`MULTILINGUAL_IDLE_S` seconds without a call; the next
call loads it again (about 2 s on 2 cores), with the same results. The stand-in's
housekeeping (:mod:`..housekeeping`) asks every :data:`..housekeeping.INTERVAL_S` seconds.

A caller that holds the model keeps it alive (a Python reference), so a release during a
long transcription never pulls it from under that call: the memory goes when the call ends.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["MULTILINGUAL_IDLE_S", "Resident"]

T = TypeVar("T")

MULTILINGUAL_IDLE_S = float(os.environ.get("VOICEKIT_MULTILINGUAL_IDLE_S", "120"))
"""Seconds without a call after which the multilingual Whisper is released
(``VOICEKIT_MULTILINGUAL_IDLE_S``; 0 releases it at the next housekeeping pass). Two minutes cover
a notebook's cells run one after another (04d calls it several times within seconds); a learner who
comes back later pays one reload (about 2 s on 2 cores)."""


class Resident(Generic[T]):
    """``load()``'s result, made on the first :meth:`get` and dropped by :meth:`release_idle` (thread-safe).

    Parameters
    ----------
    load : callable
        Makes the model; may raise (nothing is kept then).
    idle_s : float
        Seconds after the last :meth:`get` at which :meth:`release_idle` drops it.
    """

    def __init__(self, load: Callable[[], T], idle_s: float = MULTILINGUAL_IDLE_S) -> None:
        self._load = load
        self.idle_s = idle_s
        self._model: T | None = None
        self._used = 0.0  # time.monotonic() of the last get()
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the model is held now."""
        return self._model is not None

    def get(self) -> T:
        """The model, loading it if needed (the lock is held while it loads)."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            self._used = time.monotonic()
            return self._model

    def release_idle(self, now: float | None = None) -> bool:
        """Drop the model if unused for :attr:`idle_s` s (``now``: a ``time.monotonic()``); True if dropped."""
        with self._lock:
            now = time.monotonic() if now is None else now
            if self._model is None or now - self._used < self.idle_s:
                return False
            self._model = None
            return True
