"""Releasing the zero-filled pages an engine touched at load (voicekit.standin.engines.zero_pages)."""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from voicekit.standin.engines.zero_pages import (
    RELEASE_ENV,
    anonymous_regions,
    regions_since,
    release_zero_pages,
)

pytestmark = pytest.mark.skipif(not Path("/proc/self/pagemap").exists(),
                                reason="needs Linux's /proc/self/pagemap and madvise(MADV_DONTNEED)")

PAGE = os.sysconf("SC_PAGE_SIZE")
SIZE = 32 << 20


def _resident_pages(start: int, n_pages: int) -> np.ndarray:
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(start // PAGE * 8)
        entries = np.frombuffer(pagemap.read(n_pages * 8), dtype=np.uint64)
    return (entries >> np.uint64(63)).astype(bool)


@pytest.fixture
def private_map() -> Iterator[tuple[mmap.mmap, int]]:
    """32 MiB of private anonymous memory: page 0 holds b"x", pages 1-999 are written with
    zeros (resident), the rest never touched."""
    m = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE)
    start = ctypes.addressof(ctypes.c_char.from_buffer(m))
    m[0] = ord("x")
    for i in range(1, 1000):
        m[i * PAGE] = 0
    yield m, start
    m.close()


def test_resident_zero_pages_are_released_and_read_back_as_zeros(private_map, monkeypatch):
    monkeypatch.delenv(RELEASE_ENV, raising=False)
    m, start = private_map
    n_pages = SIZE // PAGE
    assert _resident_pages(start, n_pages)[:1000].all()
    released = release_zero_pages([(start, start + SIZE)])
    assert released == 999 * PAGE  # the written zero pages; page 0 holds data, the rest were never resident
    resident = _resident_pages(start, n_pages)
    assert resident[0] and not resident[1:].any()
    assert m[0] == ord("x") and m[1:SIZE].count(b"\0") == SIZE - 1  # the same content
    m[5 * PAGE] = 7  # a released page takes a write as before
    assert m[5 * PAGE] == 7 and _resident_pages(start, n_pages)[5]


@pytest.mark.parametrize("value", ["0", "off"])
def test_nothing_is_released_when_turned_off(private_map, monkeypatch, value):
    monkeypatch.setenv(RELEASE_ENV, value)
    _, start = private_map
    assert release_zero_pages([(start, start + SIZE)]) == 0
    assert _resident_pages(start, SIZE // PAGE)[:1000].all()


def test_regions_below_the_minimum_are_left_alone(private_map, monkeypatch):
    monkeypatch.delenv(RELEASE_ENV, raising=False)
    _, start = private_map
    assert release_zero_pages([(start, start + SIZE)], min_bytes=SIZE + PAGE) == 0
    assert _resident_pages(start, SIZE // PAGE)[:1000].all()


def test_a_new_private_mapping_is_among_the_anonymous_regions(private_map):
    _, start = private_map
    assert any(a <= start and start + SIZE <= b for a, b in anonymous_regions())  # (maybe merged with a neighbour)


_LOAD_AND_ASK = """
import json
from voicekit.standin.engines import zero_pages
from voicekit.standin.engines.llm import LLMEngine, Turn
fresh = []
release = zero_pages.release_zero_pages
def spy(regions, **kw):
    fresh.extend(regions)
    return release(fresh, **kw)
zero_pages.release_zero_pages = spy
engine = LLMEngine()
question = [Turn("system", "Answer in one short sentence."), Turn("user", "What is the capital of France?")]
answer = "".join(engine.stream(question, temperature=0, max_tokens=20))
print(json.dumps({"released": engine.released_bytes, "answer": answer,
                  "fresh_mib": [(b - a) >> 20 for a, b in fresh if b - a >= 1 << 20]}))
"""


def test_the_llm_hands_back_its_zero_filled_kv_cache_and_answers_the_same():
    """llama.cpp clears every slot's KV cache at load; the engine releases those pages, and a
    greedy answer is unchanged (the pages read back as the same zeros). In a process of its
    own, as the stand-in loads it: this test process runs a stand-in whose threads map and
    unmap memory of their own."""
    from voicekit.standin.engines.kv_cache import BYTES_PER_TOKEN, KV_CACHE_ENV
    from voicekit.standin.engines.llm import N_CTX
    from voicekit.standin.engines.reply_slots import SLOTS_ENV

    env = {k: v for k, v in os.environ.items() if k not in (RELEASE_ENV, KV_CACHE_ENV)}
    env[SLOTS_ENV] = "2"
    done = subprocess.run([sys.executable, "-c", _LOAD_AND_ASK], check=False, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    kv_bytes = 3 * N_CTX * BYTES_PER_TOKEN["f16"]  # two reply slots and the decision slot
    assert got["released"] >= 0.95 * kv_bytes, f"released {got['released']} of {kv_bytes} bytes; " \
        f"regions mapped during the load (MiB): {got['fresh_mib']}"
    assert got["answer"] == "The capital of France is Paris."


def test_a_region_unmapped_during_the_load_leaves_its_range_to_what_was_mapped_there():
    mib = 1 << 20
    old, neighbour = (100 * mib, 200 * mib), (300 * mib, 400 * mib)
    # a model released during the load (old gone), the new mapping placed at the top of its hole
    assert regions_since({old, neighbour}, {(150 * mib, 200 * mib), neighbour}) == [(150 * mib, 200 * mib)]
    # a new mapping merged into an older neighbour counts without it
    assert regions_since({old}, {(50 * mib, 200 * mib)}) == [(50 * mib, 100 * mib)]
    # grown or shrunk in place: only the growth counts
    assert regions_since({old}, {(100 * mib, 250 * mib)}) == [(200 * mib, 250 * mib)]
    assert regions_since({old}, {(100 * mib, 120 * mib)}) == []
    assert regions_since({old, neighbour}, {old, neighbour}) == []


def test_regions_since_leave_out_what_was_mapped_before(private_map):
    _, start = private_map
    before = anonymous_regions()
    fresh = mmap.mmap(-1, SIZE, flags=mmap.MAP_PRIVATE)
    try:
        new_start = ctypes.addressof(ctypes.c_char.from_buffer(fresh))
        since = regions_since(before)
        assert any(a <= new_start and new_start + SIZE <= b for a, b in since)
        assert not any(a < start + SIZE and start < b for a, b in since)  # the older mapping is not in it
    finally:
        fresh.close()
