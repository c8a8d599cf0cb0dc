"""English transcription on this checkout against a baseline checkout, interleaved.

Issue 23 asks that English gets no slower and no bigger with the multilingual model:
"English latency and RSS are unchanged within 5%". ``translation.py`` compares the two
paths of *this* code (``language="en"`` and the language gate); this script compares
this code with an older commit, the way a learner would feel it::

    git worktree add ../baseline 4741bdd^1
    .venv/bin/python benchmarks/english_baseline.py --baseline ../baseline [--repeats 5]

Both stand-ins (``python -m voicekit serve --no-register``, each from its own
checkout, this venv) run at once, each warmed; the requests go one at a time, the
order alternating per repeat, so a change in the machine's load hits both alike.
Every English recording of ``../shared/audio/transcripts.tsv`` is sent without
``language`` (what a notebook sends), as WAV, with ``whisper-1``.

Prints one JSON object (last line of stdout):

``latency_ms.{baseline,current}``
    median over recordings of the per-recording median request time, and the sum of
    those medians (``total``), in ms (client side, upload included).
``ratio``
    current total / baseline total (issue 23's target: at most 1.05).
``same_text``
    whether both wrote the same text for every recording.
``server_rss_mb.{baseline,current}``
    resident set size after start-up and after the English requests, MiB.
``machine``
    CPUs and the 1-minute load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from openai import OpenAI
from standin import REPO, RssSampler, _free_port, _mb, _server_env, load_recordings, wait_ready


def _spawn(checkout: Path, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    env = _server_env() | {"PYTHONPATH": str(checkout)}
    cmd = [sys.executable, "-m", "voicekit", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", "--no-register"]
    return subprocess.Popen(cmd, cwd=checkout, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT)


def run(baseline: Path, repeats: int) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    recs = load_recordings()
    servers: dict[str, tuple[subprocess.Popen[bytes], RssSampler, OpenAI]] = {}
    rss: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryFile() as log:
        try:
            for label, checkout in (("baseline", baseline), ("current", REPO)):
                port = _free_port()
                proc = _spawn(checkout, port, log)
                sampler = RssSampler(proc.pid)
                sampler.start()
                client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0)
                wait_ready(client, proc, port, time.perf_counter())
                servers[label] = (proc, sampler, client)
            time.sleep(5)  # any background warm-up
            for label, (_, sampler, _) in servers.items():
                rss[label] = {"after_startup": _mb(sampler.sample())}
            medians: dict[str, list[float]] = {label: [] for label in servers}
            texts: dict[str, list[str]] = {label: [] for label in servers}
            for name, clip, _ in recs:
                per: dict[str, list[float]] = {label: [] for label in servers}
                for k in range(repeats):
                    for label in (list(servers) if k % 2 == 0 else list(reversed(servers))):
                        t0 = time.perf_counter()
                        r = servers[label][2].audio.transcriptions.create(model="whisper-1", file=clip.to_file_tuple())
                        per[label].append(1000 * (time.perf_counter() - t0))
                        if k == 0:
                            texts[label].append(r.text)
                for label in servers:
                    medians[label].append(statistics.median(per[label]))
                print(f"{name}: " + ", ".join(f"{label} {medians[label][-1]:.0f} ms" for label in servers),
                      file=sys.stderr)
            for label, (_, sampler, _) in servers.items():
                rss[label]["after_english"] = _mb(sampler.sample())
        finally:
            for proc, _, _ in servers.values():
                proc.terminate()
            for proc, _, _ in servers.values():
                proc.wait(30)
    latency = {label: {"median": round(statistics.median(v)), "total": round(sum(v))} for label, v in medians.items()}
    return {"latency_ms": latency, "ratio": round(latency["current"]["total"] / latency["baseline"]["total"], 3),
            "same_text": texts["baseline"] == texts["current"], "n_clips": len(recs), "repeats": repeats,
            "server_rss_mb": rss,
            "machine": {"cpus": os.cpu_count(), "loadavg_1min_start": round(load_start, 2),
                        "loadavg_1min_end": round(os.getloadavg()[0], 2)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout of the older commit")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.baseline.resolve(), args.repeats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
