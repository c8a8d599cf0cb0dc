"""The C library's functions that the stand-in calls through :mod:`ctypes`.

The stand-in hands memory back to the system with glibc's ``malloc_trim`` and
``mallopt`` (:mod:`.housekeeping`) and Linux's ``madvise`` (:mod:`.engines.zero_pages`).
Elsewhere (musl, macOS, Windows) a function may be missing: :func:`libc_function`
then returns None and the caller does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Sequence
from typing import Any

__all__ = ["libc_function"]


@functools.cache
def _libc() -> ctypes.CDLL | None:
    found = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(found, use_errno=True) if found else None
    except OSError:
        return None


def libc_function(name: str, argtypes: Sequence[Any], restype: Any) -> Any:
    """The C library's function ``name`` with its ``argtypes`` and ``restype`` set, or None.

    The library is opened with ``use_errno=True``, so :func:`ctypes.get_errno` reads the
    errno of the last call. Calls with the same ``name`` must give the same types (the
    function object is shared).
    """
    fn = getattr(_libc(), name, None)
    if fn is not None:
        fn.argtypes, fn.restype = list(argtypes), restype
    return fn
