"""The stand-in's housekeeping (issue 26, "Memory"): idle models released, freed C heap returned."""

from __future__ import annotations

import asyncio
import ctypes
import os
import sys

import psutil
import pytest

from voicekit.standin import housekeeping
from voicekit.standin.engines.resident import Resident


def test_resident_loads_on_first_use_is_kept_while_used_and_released_when_idle():
    loads: list[int] = []
    model = Resident(lambda: loads.append(1) or len(loads), idle_s=10.0)
    assert not model.loaded and not model.release_idle()
    assert model.get() == 1 and model.get() == 1 and len(loads) == 1
    import time

    now = time.monotonic()
    assert not model.release_idle(now + 5.0) and model.loaded
    assert model.release_idle(now + 10.5) and not model.loaded
    assert model.get() == 2  # the next call loads it again


def test_sweep_releases_what_the_engines_report_and_tolerates_engines_without_it():
    class Engines:
        def release_idle(self) -> list[str]:
            return ["whisper-base"]

    assert housekeeping.sweep(Engines()) == ["whisper-base"]
    assert housekeeping.sweep(object()) == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_sweep_returns_freed_heap_pages_to_the_system():
    libc = ctypes.CDLL(None)
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    if not hasattr(libc, "malloc_trim"):
        pytest.skip("not glibc")
    proc = psutil.Process()
    block, n = 96 * 1024, 1600  # below the mmap threshold: from the heap, as the engines' small buffers
    blocks = [libc.malloc(block) for _ in range(n)]
    for b in blocks:
        ctypes.memset(b, 1, block)
    keep = blocks.pop()  # the newest stays: the heap's top cannot shrink past it by itself
    for b in blocks:
        libc.free(b)
    held = proc.memory_info().rss
    housekeeping.sweep(object())
    after = proc.memory_info().rss
    libc.free(keep)
    assert held - after > 100 * 2**20, f"RSS {held / 2**20:.0f} -> {after / 2**20:.0f} MiB"


def test_run_sweeps_every_interval_until_cancelled():
    calls: list[int] = []

    class Engines:
        def release_idle(self) -> list[str]:
            calls.append(1)
            if len(calls) == 2:
                raise RuntimeError("a failing pass is logged, not fatal")
            return []

    async def main() -> None:
        task = asyncio.create_task(housekeeping.run(Engines(), interval_s=0.01))
        while len(calls) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(main(), 30))
    assert len(calls) >= 3


ARENAS_PROBE = r'''
import ctypes, os, sys, tempfile, threading
from voicekit.standin import create_app
create_app(lambda: None)  # what every stand-in does first (serve, StandinServer, the hub's)
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.fopen.restype, libc.fopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes, libc.fclose.argtypes = [ctypes.c_int, ctypes.c_void_p], [ctypes.c_void_p]
gate = threading.Barrier(13)
def worker():
    libc.malloc(4096)  # a new thread takes an arena of its own while glibc's cap allows
    gate.wait()
    gate.wait()
threads = [threading.Thread(target=worker) for _ in range(12)]
for t in threads:
    t.start()
gate.wait()  # all twelve alive, each has allocated
path = tempfile.mktemp()
fp = libc.fopen(path.encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
gate.wait()
for t in threads:
    t.join()
print(open(path).read().count("<heap nr="))
os.unlink(path)
'''


def _arenas(**env: str) -> int:
    import os
    import subprocess

    clean = {k: v for k, v in os.environ.items() if k not in ("MALLOC_ARENA_MAX", "GLIBC_TUNABLES", "VOICEKIT_MALLOC_ARENA_MAX")}
    done = subprocess.run([sys.executable, "-c", ARENAS_PROBE], env={**clean, **env}, capture_output=True,
                          text=True, timeout=120, check=True)
    return int(done.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's arenas")
def test_a_stand_in_process_caps_glibc_arenas_so_twelve_threads_share_two():
    if not hasattr(ctypes.CDLL(None), "malloc_info"):
        pytest.skip("not glibc")
    assert _arenas() <= 2  # glibc's default lets 12 threads have 12 (8 per core)
    assert _arenas(VOICEKIT_MALLOC_ARENA_MAX="0") > 2  # 0: glibc's default
    assert _arenas(MALLOC_ARENA_MAX="3") == 3  # glibc's own setting wins


def test_the_multilingual_whisper_is_released_two_minutes_after_its_last_use():
    # Its ~110 MiB (Whisper base, after a trim) sat up to 5 min in a stand-in whose class had moved on.
    import time

    from voicekit.standin.engines import resident

    if "VOICEKIT_MULTILINGUAL_IDLE_S" in os.environ:
        pytest.skip("VOICEKIT_MULTILINGUAL_IDLE_S overrides the default")
    model = resident.Resident(lambda: object())
    model.get()
    now = time.monotonic()
    assert not model.release_idle(now + 60.0) and model.loaded
    assert model.release_idle(now + 121.0) and not model.loaded
