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
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import functools
import logging
import os
from typing import Any

__all__ = ["INTERVAL_S", "run", "sweep", "trim_heap"]

log = logging.getLogger("voicekit.standin")

INTERVAL_S = float(os.environ.get("VOICEKIT_HOUSEKEEPING_S", "30"))
"""Seconds between housekeeping passes (``VOICEKIT_HOUSEKEEPING_S``)."""


@functools.cache
def _malloc_trim() -> Any:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc only (not musl, macOS or Windows)
    if trim is not None:
        trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim


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
