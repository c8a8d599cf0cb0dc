"""Benchmark the stand-in's memory under the notebooks: its RSS after each pass of all of them.

Run ``.venv/bin/python benchmarks/notebooks_rss.py`` (``--passes N``, default 3). The script
starts ``python -m voicekit serve`` as a subprocess on a free loopback port, runs every
notebook in ``notebooks/`` through it ``N`` times (``pytest --nbval-lax`` with
``OPENAI_BASE_URL`` pointing at it, as ``make nbval`` does under ``scripts/with_standin.py``:
each notebook's kernel uses this one stand-in), always stops it, and prints one JSON object
on the last line of stdout (progress on stderr; ``--json-only`` for the JSON alone).
A pass takes 5-15 min on a loaded 2-core machine.

Measured
--------
rss_mib
    ``GET /v1/voicekit/status`` ``rss_bytes`` / 2**20: after start-up (``start``), after each
    pass (``passes``) and ``--settle`` seconds after the last (``settled``, default 155 s:
    the multilingual Whisper's idle release, :data:`voicekit.standin.engines.resident.MULTILINGUAL_IDLE_S`,
    plus one housekeeping pass, whose ``malloc_trim`` runs every 30 s, :mod:`voicekit.standin.housekeeping`).
passes
    Per pass: seconds, and pytest's summary line (a failing cell is reported, not hidden).
machine
    ``os.getloadavg()`` before, after each pass, and at the end.

Goal (issue 26): at most 800 MB after an hour of use, and no growth pass over pass.
``goal_met`` holds the highest reading to it (``peak_mb``), which is often one taken right
after a pass, before the next ``malloc_trim``; ``settled_goal_met`` holds the reading taken
after use (``settled_mb``) to it, which is how ``benchmarks/README.md`` reads the goal.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import standin
from memory import GOAL_MB, status_rss_mib
from openai import OpenAI
from standin import REPO, Progress, _free_port, check_alive, spawn_server, wait_ready

from voicekit.standin.engines.resident import MULTILINGUAL_IDLE_S
from voicekit.standin.housekeeping import INTERVAL_S

standin.STARTUP_TIMEOUT_S = 600.0

SETTLE_S = MULTILINGUAL_IDLE_S + INTERVAL_S + 5.0
"""Default wait after the last pass: idle models released, then one housekeeping pass."""


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def one_pass(base_url: str, log_dir: str, k: int) -> dict[str, Any]:
    """Every notebook once under nbval; returns its seconds and pytest's summary line."""
    env = {key: v for key, v in os.environ.items() if not key.startswith("OPENAI_")}
    env["OPENAI_BASE_URL"] = base_url
    notebooks = sorted(str(p) for p in (REPO / "notebooks").glob("*.ipynb"))
    log_path = os.path.join(log_dir, f"pass{k}.log")
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        code = subprocess.call([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                                *notebooks], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=log,
                               stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as out:
        lines = [ln.strip() for ln in out if ln.strip()]
    return {"seconds": round(time.perf_counter() - t0, 1), "exit_code": code,
            "summary": lines[-1] if lines else "", "log": log_path, "load_after": _load()}


def run(port: int, passes: int, settle_s: float, log_dir: str, progress: Progress) -> dict[str, Any]:
    load = _load()
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            client = OpenAI(base_url=base_url, api_key="bench-no-key", max_retries=0, timeout=60)
            wait_ready(client, proc, port, time.perf_counter())
            start = status_rss_mib(client)
            progress(f"start: RSS {start} MiB, load {load}")
            rss: list[float] = []
            runs: list[dict[str, Any]] = []
            for k in range(passes):
                runs.append(one_pass(base_url, log_dir, k + 1))
                check_alive(proc, port)
                rss.append(status_rss_mib(client))
                progress(f"pass {k + 1}: RSS {rss[-1]} MiB, {runs[-1]['seconds']} s, "
                         f"{runs[-1]['summary']}, load {runs[-1]['load_after']}")
            time.sleep(settle_s)
            settled = status_rss_mib(client)
            progress(f"{settle_s:.0f} s later: RSS {settled} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    peak = max([start, *rss, settled])
    return {
        "passes": runs, "rss_mib": {"start": start, "passes": rss, "settled": settled, "settle_s": settle_s},
        "growth_mib": round(rss[-1] - rss[0], 1) if rss else None,
        "peak_mb": round(peak * 2**20 / 1e6, 1), "goal_mb": GOAL_MB, "goal_met": peak * 2**20 / 1e6 <= GOAL_MB,
        "settled_mb": round(settled * 2**20 / 1e6, 1), "settled_goal_met": settled * 2**20 / 1e6 <= GOAL_MB,
        "machine": {"cpu_count": os.cpu_count(), "loadavg_before": load, "loadavg_after": _load()},
        "env": {k: os.environ[k] for k in ("MALLOC_ARENA_MAX", "VOICEKIT_MALLOC_ARENA_MAX") if k in os.environ},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--passes", type=int, default=3, help="passes of all the notebooks (default 3)")
    parser.add_argument("--settle", type=float, default=SETTLE_S,
                        help=f"seconds to wait after the last pass (default {SETTLE_S:.0f})")
    parser.add_argument("--log-dir", default=None, help="where each pass's pytest output goes (default: a new temp dir)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    log_dir = args.log_dir or tempfile.mkdtemp(prefix="notebooks_rss-")
    os.makedirs(log_dir, exist_ok=True)
    result = run(args.port or _free_port(), args.passes, args.settle, log_dir, Progress(args.json_only))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
