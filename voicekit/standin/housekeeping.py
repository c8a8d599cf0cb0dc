"""The stand-in's housekeeping: every :data:`INTERVAL_S` s, give back memory nothing uses.

Started by the application's lifespan (:func:`~.app.create_app`) and cancelled at shutdown.
Each pass, on a worker thread (a model's release may wait for its loading lock):

- :meth:`.engines.Engines.release_idle` drops the models loaded on demand and unused
  for their idle time (the multilingual Whisper, :data:`.engines.resident.MULTILINGUAL_IDLE_S`);
- :func:`trim_heap` hands the C heap's free pages back to the system (glibc's
  ``malloc_trim(0)``). The engines run on many threads (the event loop's workers,
  Whisper, Piper, llama.cpp), and glibc gives each thread that contends its own arena
  (up to 8 per core); memory freed in an arena stays in the process. Measured on
  2 cores (issue 26): a stand-in that ran the notebooks for 20 min held 1,199 MiB, and
  ``malloc_trim(0)`` brought it to 900 MiB; ``benchmarks/memory.py`` after 7 rounds,
  943 to 688 MiB. A pass takes milliseconds.

Nothing a client sees changes: a released model is loaded again by the next call that needs it.

:func:`limit_arenas`, called once when the application is built (:func:`~.app.create_app`),
caps glibc's arenas at :data:`ARENA_MAX` (glibc's ``mallopt(M_ARENA_MAX)``), so that what
the engines' threads free is shared instead of parked in one arena per thread. It takes effect
for the arenas created after it, so it runs before the engines start their threads; glibc fixes
its own limit once a process has more than 8 arenas, after which the call changes nothing.
What the cap saves: ``benchmarks/README.md``, "The notebooks three times in one stand-in".
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import logging
import os
from typing import Any

from .libc import libc_function

__all__ = ["ARENA_MAX", "INTERVAL_S", "limit_arenas", "run", "sweep", "trim_heap"]

log = logging.getLogger("voicekit.standin")

INTERVAL_S = float(os.environ.get("VOICEKIT_HOUSEKEEPING_S", "30"))
"""Seconds between housekeeping passes (``VOICEKIT_HOUSEKEEPING_S``)."""

ARENA_MAX = int(os.environ.get("VOICEKIT_MALLOC_ARENA_MAX", "2"))
"""glibc malloc arenas the stand-in's process may use (``VOICEKIT_MALLOC_ARENA_MAX``; 0: glibc's
default, 8 per core). glibc's own ``MALLOC_ARENA_MAX`` or a ``glibc.malloc.arena_max`` tunable
in ``GLIBC_TUNABLES``, when set, win over it."""

_M_ARENA_MAX = -8  # glibc's malloc.h


@functools.cache
def _malloc_trim() -> Any:
    return libc_function("malloc_trim", [ctypes.c_size_t], ctypes.c_int)


def limit_arenas(n: int | None = None) -> bool | None:
    """Cap glibc's malloc arenas at ``n`` (default :data:`ARENA_MAX`) with ``mallopt(M_ARENA_MAX, n)``.

    Returns True if the cap was set; False if ``n`` is 0 or the environment already names one
    (``MALLOC_ARENA_MAX``, or ``arena_max`` in ``GLIBC_TUNABLES``: glibc applied it at start);
    None where the C library has no ``mallopt`` (nothing is done there). Threads contending
    for an arena then wait for its lock instead of growing a new one (glibc's malloc(3)).
    """
    n = ARENA_MAX if n is None else n
    if n <= 0 or "MALLOC_ARENA_MAX" in os.environ or "arena_max" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    mallopt = libc_function("mallopt", [ctypes.c_int, ctypes.c_int], ctypes.c_int)
    if mallopt is None:
        return None
    return bool(mallopt(_M_ARENA_MAX, n))


def trim_heap() -> bool | None:
    """glibc's ``malloc_trim(0)``: return every arena's free pages to the system.

    Returns True if memory was released, False if none could be, None where the C
    library has no ``malloc_trim`` (nothing is done there).
    """
    trim = _malloc_trim()
    return None if trim is None else bool(trim(0))


def sweep(engines: Any) -> list[str]:
    """One pass: release ``engines``' idle models (an object without ``release_idle`` is
    left alone), then :func:`trim_heap`. Returns the names of the models released."""
    release = getattr(engines, "release_idle", None)
    released: list[str] = list(release()) if callable(release) else []
    if released:
        log.info("released idle models: %s", ", ".join(released))
    trim_heap()
    return released


async def run(engines: Any, interval_s: float = INTERVAL_S) -> None:
    """Call :func:`sweep` every ``interval_s`` s until cancelled; a failing pass is logged, not fatal."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await asyncio.to_thread(sweep, engines)
        except Exception:  # housekeeping must not end the server
            log.exception("stand-in housekeeping failed")
