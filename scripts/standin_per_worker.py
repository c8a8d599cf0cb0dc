"""pytest plugin: every pytest-xdist worker runs its notebooks against a stand-in of its own.

``make test`` runs the twice-run notebooks on two workers (``-n 2 --dist loadfile``) with
``-p standin_per_worker``. Each worker starts one stand-in (real engines, a free
127.0.0.1 port) in its own process before its first notebook, and points
``OPENAI_BASE_URL`` at it, so the kernels it starts reuse that warm server, as
``with_standin.py`` does for a run in one process. Without a worker (no ``-n``) the
run gets one stand-in the same way.

Why not one stand-in for both workers: llama.cpp's greedy (temperature-0) output is
not bit-identical when another session's request is decoded in the same batch or has
left a different prompt in the slot's cache, so a notebook whose check rests on a
greedy choice (08's tool argument, 03's timer) answered differently when the other
worker's notebook talked to the same server at that moment ("Aruba" for "Paris").
One server per worker keeps each notebook's requests in the order of a learner's Run
All, as before the two workers.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from voicekit.standin import StandinServer

_server: StandinServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _server
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # the xdist controller runs no notebook: each worker starts its own
    for name in [n for n in os.environ if n.startswith("OPENAI_")]:
        del os.environ[name]
    _server = StandinServer()
    _server.__enter__()
    os.environ["OPENAI_BASE_URL"] = _server.base_url
    print(f"standin_per_worker: stand-in at {_server.base_url}", flush=True)


def pytest_unconfigure(config: Any) -> None:
    global _server
    if _server is not None:
        _server.__exit__(None, None, None)
        _server = None
