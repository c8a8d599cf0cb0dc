"""Benchmark interactive work under batch load: Realtime first audio while transcriptions run.

Run ``.venv/bin/python benchmarks/mixed_load.py`` (``--seconds``, ``--transcribers``,
``--sessions``; ``--tree PATH`` serves from another checkout, e.g. a ``git worktree``
of an older commit, for a before/after comparison). The script starts
``python -m voicekit serve`` as a subprocess on a free loopback port, drives it
only through the official SDK, always stops it, and prints one JSON object on
the last line of stdout (progress on stderr).

Load: ``--transcribers`` (default 8) threads each upload, one after another, a
~40 s WAV made of the real recordings of ``../shared/audio`` (or
``voicekit/data``) joined with 0.3 s gaps, to ``POST /v1/audio/transcriptions``
(``whisper-1``). Meanwhile ``--sessions`` (default 4) threads each run Realtime
turns back to back, as ``benchmarks/realtime.py`` does (a new
``client.realtime.connect`` per turn, a recording paced at real time, ``server_vad``,
input transcription on) until ``--seconds`` have passed.

Measured
--------
first_audio_ms
    ``input_audio_buffer.speech_stopped`` to the first ``response.output_audio.delta``,
    per Realtime turn: median (p50), p95, min, max. Goal (issue 14): p95 <= 3,000 ms.
transcriptions
    Completed uploads and their mean / max request time (s), to show batch work
    still progresses.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from openai import OpenAI
from realtime import one_turn, recordings
from standin import Progress, _free_port, _server_env, check_alive, wait_ready

from voicekit.audio import Clip

GOAL_P95_MS = 3000.0
GAP_S = 0.3
BATCH_TARGET_S = 40.0


def batch_clip(clips: list[Clip]) -> Clip:
    """About :data:`BATCH_TARGET_S` s of the recordings, 16 kHz int16, joined by :data:`GAP_S` s of silence."""
    rate = 16_000
    parts, total = [], 0
    gap = np.zeros(int(GAP_S * rate), np.int16)
    while total < BATCH_TARGET_S * rate:
        for clip in clips:
            pcm = clip.to_mono().resample(rate).to_int16().samples.reshape(-1)
            parts += [pcm, gap]
            total += pcm.size + gap.size
    return Clip(np.concatenate(parts), rate)


def spawn(port: int, tree: Path, log: Any) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "voicekit", "serve", "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
           "--no-register"]  # a benchmark's own server, not the user's shared stand-in (no token)
    env = {**_server_env(), "PYTHONPATH": str(tree)}
    return subprocess.Popen(cmd, cwd=tree, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def _pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(port: int, tree: Path, seconds: float, n_batch: int, n_sessions: int, progress: Progress) -> dict[str, Any]:
    clips = recordings()
    big = batch_clip([c for _, c in clips])
    upload = big.to_file_tuple("batch.wav")
    errors: list[str] = []
    with tempfile.TemporaryFile() as log:
        proc = spawn(port, tree, log)
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0, timeout=300)
            wait_ready(client, proc, port, time.perf_counter())
            progress("warm-up: one Realtime turn, one transcription")
            one_turn(client, clips[0][1], burst=False)
            client.audio.transcriptions.create(model="whisper-1", file=upload)
            stop = threading.Event()
            batch_s: list[float] = []
            turns: list[dict[str, Any]] = []

            def transcriber() -> None:
                while not stop.is_set():
                    t = time.perf_counter()
                    try:
                        client.audio.transcriptions.create(model="whisper-1", file=upload)
                    except Exception as exc:  # noqa: BLE001 -- counted and reported
                        errors.append(f"transcription: {exc!r}")
                        return
                    batch_s.append(time.perf_counter() - t)

            def session(k: int, end: float) -> None:
                i = k
                while time.perf_counter() < end:
                    name, clip = clips[i % len(clips)]
                    i += 1
                    try:
                        row = one_turn(client, clip, burst=False, timeout=180)
                    except Exception as exc:  # noqa: BLE001 -- counted and reported
                        errors.append(f"realtime: {exc!r}")
                        continue
                    turns.append({"file": name, **{k: v for k, v in row.items() if k.endswith("_ms")}})
                    progress(f"session {k}: {name} first audio {row.get('first_audio_ms')} ms")

            batch_threads = [threading.Thread(target=transcriber, daemon=True) for _ in range(n_batch)]
            for t in batch_threads:
                t.start()
            time.sleep(2.0)  # the transcriptions are queued and running before the first turn
            end = time.perf_counter() + seconds
            sessions = [threading.Thread(target=session, args=(k, end), daemon=True) for k in range(n_sessions)]
            for t in sessions:
                t.start()
            for t in sessions:
                t.join()
            stop.set()
            for t in batch_threads:
                t.join(timeout=300)
            check_alive(proc, port)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:  # still finishing queued uploads: the figures are in already
                errors.append("server: not stopped 10 s after SIGTERM, killed")
                proc.kill()
                proc.wait()
    first = sorted(r["first_audio_ms"] for r in turns if "first_audio_ms" in r)
    out: dict[str, Any] = {
        "tree": str(tree),
        "seconds": seconds, "transcribers": n_batch, "sessions": n_sessions,
        "batch_audio_s": round(big.duration, 1),
        "turns": len(first),
        "first_audio_ms": {"p50": round(_pct(first, 50), 1), "p95": round(_pct(first, 95), 1),
                           "min": round(first[0], 1), "max": round(first[-1], 1)} if first else {},
        "goal_p95_ms": GOAL_P95_MS,
        "goal_met": bool(first) and _pct(first, 95) <= GOAL_P95_MS,
        "transcriptions": {"completed": len(batch_s),
                           "mean_s": round(statistics.mean(batch_s), 2) if batch_s else None,
                           "max_s": round(max(batch_s), 2) if batch_s else None},
        "errors": errors[:10],
        "machine": {"cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
                    "loadavg_1min_end": round(os.getloadavg()[0], 2)},
        "per_turn": turns,
    }
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parents[1],
                        help="source tree to serve from (default: this checkout)")
    parser.add_argument("--seconds", type=float, default=45.0, help="how long the Realtime sessions run (default 45)")
    parser.add_argument("--transcribers", type=int, default=8, help="concurrent transcription uploads (default 8)")
    parser.add_argument("--sessions", type=int, default=4, help="concurrent Realtime sessions (default 4)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), args.tree.resolve(), args.seconds, args.transcribers, args.sessions, progress)
    if not args.json_only:
        f = result["first_audio_ms"]
        print(f"Realtime first audio p50 {f.get('p50')} ms, p95 {f.get('p95')} ms over {result['turns']} turns with "
              f"{args.transcribers} transcriptions running (goal p95 <= {GOAL_P95_MS:.0f} ms); "
              f"{result['transcriptions']['completed']} transcriptions done", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
