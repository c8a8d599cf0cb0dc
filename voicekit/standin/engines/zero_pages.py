"""Hand back the memory pages an engine zero-filled at load, so they take memory only once written.

llama.cpp allocates every slot's KV cache when the model loads and clears it to zeros,
which touches every page: for SmolLM2-135M, five slots (:mod:`.reply_slots`) of 2,048
tokens at 23,040 bytes a token (:mod:`.kv_cache`) make 225 MiB resident before the first
request, though a slot holds only the conversation it last answered. On Linux, a private
anonymous page released with ``madvise(MADV_DONTNEED)`` reads back as zeros at its next
access and takes memory again only when written (``madvise(2)``). So after the model
loads, the stand-in releases the pages of llama.cpp's new memory that are resident and
all zeros (:func:`release_zero_pages`); a slot's cache then becomes resident as its
conversation fills it. The content is the same zeros, so every answer is the same. The
figures are in ``benchmarks/README.md`` ("Memory").

Safety: a page released while another thread writes to it would lose that write, so this
runs only on memory mapped while the engine loaded (:func:`regions_since` a snapshot of
:func:`anonymous_regions` taken before), right after the load and before the engine serves
anything: llama.cpp's threads are then idle. Pages never touched are left alone.
The released ranges are also marked ``MADV_NOHUGEPAGE``, so that the kernel's
``khugepaged`` does not fill them back into huge pages (under
``transparent_hugepage=always``).

``VOICEKIT_RELEASE_ZERO_PAGES=0`` (:data:`RELEASE_ENV`) turns it off. On a system without
``/proc/self/maps`` and ``/proc/self/pagemap`` (not Linux) nothing is released.
"""

from __future__ import annotations

import bisect
import ctypes
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from ..libc import libc_function

__all__ = ["MIN_REGION_BYTES", "RELEASE_ENV", "Region", "anonymous_regions", "regions_since", "release_enabled",
           "release_zero_pages", "released_after"]

log = logging.getLogger("voicekit.standin")

T = TypeVar("T")

RELEASE_ENV = "VOICEKIT_RELEASE_ZERO_PAGES"
"""Environment variable: ``0`` keeps the engines' zero-filled pages resident (default ``1``)."""

MIN_REGION_BYTES = 16 << 20
"""Regions smaller than this (16 MiB: thread stacks, small heaps) are not looked at."""

Region = tuple[int, int]
"""A memory region: its start and end address (end excluded)."""

_MADV_DONTNEED = 4
_MADV_NOHUGEPAGE = 15
_PRESENT = np.uint64(1 << 63)
"""``/proc/self/pagemap``: bit 63 of a page's entry says it is resident (Linux's ``pagemap.rst``)."""


def release_enabled() -> bool:
    """Whether :data:`RELEASE_ENV` allows releasing (anything but ``0``, ``false``, ``no``, ``off``)."""
    return os.environ.get(RELEASE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def anonymous_regions() -> set[Region]:
    """The process's private, writable, anonymous memory regions (``/proc/self/maps``); empty
    where that file does not exist."""
    try:
        with open("/proc/self/maps", encoding="ascii") as maps:
            lines = maps.readlines()
    except OSError:
        return set()
    regions = set()
    for line in lines:
        fields = line.split()
        if len(fields) == 5 and fields[1] == "rw-p":  # no path: anonymous (not [heap], [stack] or a file)
            start, end = (int(x, 16) for x in fields[0].split("-"))
            regions.add((start, end))
    return regions


def regions_since(before: set[Region], now: set[Region] | None = None) -> list[Region]:
    """The parts of ``now`` (default today's :func:`anonymous_regions`) that no region of
    ``before`` still covers: the memory mapped since ``before`` was taken.

    A new mapping the kernel merged into an older neighbour counts without that neighbour;
    an older region grown or shrunk in place counts with none of its range. An older region
    whose first address is no longer mapped was unmapped since (a model another thread
    released, say), and the kernel may place a new mapping in the hole it left: what lies
    in its range now counts. (A hole filled from its first address on is left out: the
    doubt goes to keeping the pages.)
    """
    now = anonymous_regions() if now is None else now
    ordered = sorted(now)
    starts = [a for a, _ in ordered]

    def still_mapped(address: int) -> bool:  # regions do not overlap: only the last one starting at or below it can hold it
        i = bisect.bisect_right(starts, address) - 1
        return i >= 0 and address < ordered[i][1]

    kept = [(a, b) for a, b in before if still_mapped(a)]
    fresh = []
    for start, end in sorted(now - before):
        cuts = sorted((max(a, start), min(b, end)) for a, b in kept if a < end and start < b)
        for a, b in cuts:
            if a > start:
                fresh.append((start, a))
            start = max(start, b)
        if start < end:
            fresh.append((start, end))
    return fresh


def _madvise() -> Any:
    return libc_function("madvise", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int], ctypes.c_int)


def _resident(start: int, n_pages: int, page: int) -> np.ndarray:
    """Which of ``n_pages`` pages from ``start`` are resident (``/proc/self/pagemap``)."""
    with open("/proc/self/pagemap", "rb") as pagemap:
        pagemap.seek(start // page * 8)
        entries = np.frombuffer(pagemap.read(n_pages * 8), dtype=np.uint64)
    return (entries & _PRESENT) != 0


def released_after(load: Callable[[], T]) -> tuple[T, int]:
    """Call ``load`` (an engine's constructor), then :func:`release_zero_pages` of what it
    mapped (:func:`regions_since` before it); returns its result and the bytes released."""
    before = anonymous_regions()
    result = load()
    return result, release_zero_pages(regions_since(before))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The runs of True in ``mask``, as (first, stop) indices."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def release_zero_pages(regions: Iterable[Region], *, min_bytes: int = MIN_REGION_BYTES) -> int:
    """Release the resident pages of ``regions`` that hold only zeros; returns the bytes released.

    Parameters
    ----------
    regions : iterable of (start, end)
        Private anonymous regions no other thread writes to during the call (see the
        module), e.g. ``regions_since(before_a_load)`` (as :func:`released_after` does).
    min_bytes : int
        Regions smaller than this are skipped.

    Returns
    -------
    int
        Bytes released (a whole number of pages); 0 where ``madvise`` or
        ``/proc/self/pagemap`` is missing, or when :data:`RELEASE_ENV` is ``0``.
    """
    madvise = _madvise()
    if madvise is None or not release_enabled():
        return 0
    page = os.sysconf("SC_PAGE_SIZE")
    released = 0
    for start, end in sorted(regions):
        n_pages = (end - start) // page
        if end - start < min_bytes or n_pages == 0:
            continue
        try:
            resident = _resident(start, n_pages, page)
        except OSError:
            break
        for first, stop in _runs(resident):  # read resident pages only: a read maps the rest
            words = np.ctypeslib.as_array((ctypes.c_uint64 * ((stop - first) * page // 8)).from_address(start + first * page))
            zero = np.logical_not(np.asarray(words.reshape(stop - first, page // 8).any(axis=1)))
            for z_first, z_stop in _runs(zero):
                address, length = start + (first + z_first) * page, (z_stop - z_first) * page
                if madvise(address, length, _MADV_DONTNEED) == 0:
                    madvise(address, length, _MADV_NOHUGEPAGE)  # best effort: EINVAL without THP
                    released += length
                else:
                    log.debug("madvise(MADV_DONTNEED) failed: errno %d", ctypes.get_errno())
    log.info("%d MiB of zero-filled pages released", released >> 20)
    return released
