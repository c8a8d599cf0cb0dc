"""Benchmark a class: N learners at once against ONE stand-in.

Run ``.venv/bin/python benchmarks/class.py --n 1 2 4 8 [--repeat 2]``. The script
starts ``python -m voicekit serve`` as a subprocess on a free loopback port (so the
server's RSS is measured alone, with psutil), drives it only through the official
SDK, always stops it, and prints one JSON object as the last line of stdout
(progress on stderr; ``--json-only`` for the JSON alone).

For each N, N learner threads start together, sharing one ``openai.OpenAI`` client
(the SDK's client is thread-safe; each Realtime connection is its own WebSocket), and
each does, in order, what a learner's notebook does:

transcription
    ``client.audio.transcriptions.create(model="gpt-4o-mini-transcribe")`` on a
    shipped recording (``voicekit/data``, learner ``i`` takes the ``i``-th one),
    uploaded as WAV: ms from request to the answer.
speech
    ``client.audio.speech.create(model="gpt-4o-mini-tts", response_format="pcm")``
    streamed: ms from request to the first body byte (``speech_ttfb``) and to the
    last (``speech_total``).
realtime
    one turn on ``client.realtime.connect(model="gpt-realtime-mini")``, the
    recording appended the way a microphone sends it (24 kHz PCM16, 40 ms chunks at
    real time; ``--burst``: in one append), ``server_vad`` at its defaults ending the
    turn, until ``response.done``: ms from ``input_audio_buffer.speech_stopped`` (end
    of input) to the first ``response.output_audio.delta`` (``realtime_first_audio``;
    the turn is ``benchmarks/realtime.py``'s ``one_turn``).

Per N (``--repeat`` rounds of N learners each): ``latency_ms.<kind>`` with ``p50``,
``p95`` and ``n``; ``errors`` (count; ``error_messages`` keeps them, and the goal is
0); ``incomplete_replies`` (Realtime turns whose reply reached the stand-in's token cap,
status ``incomplete``, after its first audio: served, so their latency counts, but the small
model rambled); ``server_rss_peak_mb`` (server and children, sampled every 50 ms during that N);
``wall_s``; ``loadavg_1min_before``/``_after`` (``os.getloadavg``). One unmeasured
learner warms the engines first. The whole run is bounded by ``--budget`` seconds:
an N not started in time is skipped and listed in ``skipped_n``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from openai import OpenAI
from realtime import one_turn
from standin import (
    REQUEST_TIMEOUT_S,
    SENTENCES,
    Progress,
    RssSampler,
    _free_port,
    _mb,
    check_alive,
    spawn_server,
    speak,
    transcribe,
    wait_ready,
)

from voicekit.audio import Clip
from voicekit.samples import load_sample, sample_names

TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe"
KINDS = ("transcription", "speech_ttfb", "speech_total", "realtime_first_audio")


def learner(client: OpenAI, index: int, clips: Sequence[tuple[str, Clip]], burst: bool) -> dict[str, Any]:
    """One learner's three requests; ``{"latency_ms": {kind: ms}, "errors": [message, ...]}``.

    A failed request is recorded as an error and the learner goes on to the next one.
    """
    name, clip = clips[index % len(clips)]
    latency: dict[str, float] = {}
    errors: list[str] = []
    incomplete: list[str] = []

    def attempt(kind: str, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 -- counted and reported, the run goes on
            errors.append(f"learner {index} {kind}: {type(exc).__name__}: {exc}"[:500])

    def do_transcription() -> None:
        _text, seconds = transcribe(client, TRANSCRIPTION_MODEL, name, clip)
        latency["transcription"] = round(seconds * 1000, 1)

    def do_speech() -> None:
        row = speak(client, SENTENCES[index % len(SENTENCES)])
        latency["speech_ttfb"] = row["ttfb_ms"]
        latency["speech_total"] = round(row["request_s"] * 1000, 1)

    def do_realtime() -> None:
        turn = one_turn(client, clip, burst)
        if turn.get("status") not in ("completed", "incomplete") or "first_audio_ms" not in turn:
            raise RuntimeError(f"turn ended {turn.get('status')!r} with no first audio time: {turn}")
        latency["realtime_first_audio"] = turn["first_audio_ms"]
        if turn["status"] == "incomplete":
            incomplete.append(f"learner {index}: {str(turn.get('reply'))[:80]!r}")

    attempt("transcription", do_transcription)
    attempt("speech", do_speech)
    attempt("realtime", do_realtime)
    return {"latency_ms": latency, "errors": errors, "incomplete": incomplete}


def _percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"p50": None, "p95": None, "n": 0}
    arr = np.asarray(values, float)
    return {"p50": round(float(np.percentile(arr, 50)), 1), "p95": round(float(np.percentile(arr, 95)), 1),
            "n": len(values)}


def one_class(client: OpenAI, n: int, repeat: int, clips: Sequence[tuple[str, Clip]], burst: bool,
              sampler: RssSampler, deadline: float) -> dict[str, Any]:
    """``repeat`` rounds of ``n`` simultaneous learners; the figures for this N."""
    load_before = os.getloadavg()[0]
    sampler.peak_bytes = sampler.sample()
    values: dict[str, list[float]] = {k: [] for k in KINDS}
    errors: list[str] = []
    incomplete: list[str] = []
    rounds = 0
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=n, thread_name_prefix="learner") as pool:
        for r in range(repeat):
            futures = [pool.submit(learner, client, i + r * n, clips, burst) for i in range(n)]
            done, not_done = concurrent.futures.wait(futures, timeout=max(1.0, deadline - time.perf_counter()))
            rounds += 1
            for f in done:
                result = f.result()
                for kind, ms in result["latency_ms"].items():
                    values[kind].append(ms)
                errors.extend(result["errors"])
                incomplete.extend(result["incomplete"])
            if not_done:
                errors.append(f"{len(not_done)} of {n} learners still running when the time budget ran out")
                for f in not_done:
                    f.cancel()
                break
    wall = time.perf_counter() - t0
    return {
        "n": n,
        "learners": n * rounds,
        "latency_ms": {k: _percentiles(v) for k, v in values.items()},
        "errors": len(errors),
        "error_messages": errors,
        "incomplete_replies": incomplete,
        "server_rss_peak_mb": _mb(sampler.peak_bytes),
        "wall_s": round(wall, 2),
        "loadavg_1min_before": round(load_before, 2),
        "loadavg_1min_after": round(os.getloadavg()[0], 2),
    }


def run(port: int, ns: Sequence[int], repeat: int, burst: bool, budget_s: float, progress: Progress) -> dict[str, Any]:
    clips = [(name, load_sample(name)) for name in sample_names()]
    deadline = time.perf_counter() + budget_s
    load_start = os.getloadavg()[0]
    results: list[dict[str, Any]] = []
    skipped: list[int] = []
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key",
                            timeout=REQUEST_TIMEOUT_S, max_retries=0)
            startup_s = wait_ready(client, proc, port, time.perf_counter())
            rss_startup = sampler.sample()
            progress(f"stand-in ready in {startup_s:.1f} s ({_mb(rss_startup)} MB); warm-up learner")
            warm = learner(client, 0, clips, burst)
            if warm["errors"]:
                progress(f"  warm-up errors: {warm['errors']}")
            for n in ns:
                if time.perf_counter() > deadline:
                    skipped.append(n)
                    continue
                progress(f"N={n}: {repeat} round(s) of {n} learners at once ...")
                row = one_class(client, n, repeat, clips, burst, sampler, deadline)
                lat = row["latency_ms"]
                progress(f"  wall {row['wall_s']} s, errors {row['errors']}, server RSS peak {row['server_rss_peak_mb']} MB; "
                         + ", ".join(f"{k} p50 {lat[k]['p50']} p95 {lat[k]['p95']} ms" for k in KINDS))
                results.append(row)
                check_alive(proc, port)
        finally:
            sampler.stop()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:  # noqa: BLE001 -- never leave the server running
                proc.kill()
                proc.wait(timeout=5)
    return {
        "mode": "burst" if burst else "paced",
        "repeat": repeat,
        "classes": results,
        "skipped_n": skipped,
        "errors_total": sum(r["errors"] for r in results),
        "server_rss_after_startup_mb": _mb(rss_startup),
        "server_rss_peak_mb": max([_mb(rss_startup), *(r["server_rss_peak_mb"] for r in results)]),
        "recordings": [name for name, _ in clips],
        "machine": {"cpu_count": os.cpu_count(),
                    "loadavg_1min_start": round(load_start, 2), "loadavg_1min_end": round(os.getloadavg()[0], 2)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8], help="class sizes (default: 1 2 4 8)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of N learners per class size (default 1)")
    parser.add_argument("--burst", action="store_true", help="Realtime: append each recording at once, not at real time")
    parser.add_argument("--budget", type=float, default=900.0, help="bound on the whole run, s (default 900)")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if any(n < 1 for n in args.n) or args.repeat < 1:
        parser.error(f"expected --n and --repeat >= 1, got --n {args.n} --repeat {args.repeat}")
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), args.n, args.repeat, args.burst, args.budget, progress)
    print(json.dumps(result))
    return 0 if result["errors_total"] == 0 and not result["skipped_n"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
