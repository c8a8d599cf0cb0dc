"""Benchmark the Recorder widget's microphone-to-kernel path in a real Chromium.

Run ``.venv/bin/python benchmarks/widgets.py`` (or ``make bench-widgets``). It starts
JupyterLab on 127.0.0.1 and Debian's Chromium (Playwright, fake microphone playing the
shipped ``ls_0870.wav``), records by clicking Record and Stop, and prints a summary
and one JSON object on the last line of stdout. Progress goes to stderr.

Measured
--------
chunk_latency_ms (median, p95, max)
    For every chunk: kernel wall clock on receipt (``time.time() * 1000``) minus the
    browser's wall clock when it sent the chunk (``performance.timeOrigin +
    performance.now()``). Both clocks are this machine's; the path is
    AudioWorklet -> main thread -> websocket -> Jupyter server -> ZeroMQ -> kernel.
    A chunk is 100 ms of audio, so a chunk's first sample is this figure plus
    100 ms old when it arrives.
chunks_lost, chunks_out_of_order
    Sequence numbers that never arrived, and ones that came after a later one.
stop_to_clip_ms
    From the click on Stop until ``rec.clip`` is set in the kernel (includes the
    polling interval of 50 ms).

Targets: median latency <= 20 ms, no lost chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "browser"))

from harness import (
    Browser,
    JupyterServer,
    fake_mic_wav,
    find_chromium,
    open_and_run_first_cell,
    write_notebook,
)

from voicekit.samples import sample_path

TARGETS = {"chunk_latency_ms_median": 20.0, "chunks_lost": 0}
SETUP = """\
from voicekit.widgets import Recorder
rec = Recorder()
latencies, seqs = [], []
rec.on_chunk(lambda c: (latencies.append(c.latency_ms), seqs.append(c.seq)))
rec
"""


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def run(seconds: float, rounds: int, say: Any) -> dict[str, Any]:
    chromium = find_chromium()
    if chromium is None:
        raise SystemExit("expected Chromium at /usr/bin/chromium: run `make browser` as root")
    with tempfile.TemporaryDirectory(prefix="voicekit-bench-") as tmp:
        root = Path(tmp)
        wav, _ = fake_mic_wav(sample_path("ls_0870.wav"), root)
        write_notebook(root / "bench.ipynb", [SETUP])
        say("starting JupyterLab and Chromium")
        server = JupyterServer("lab", root).start()
        browser = None
        try:
            browser = Browser(chromium, wav, root / "profile")
            page = browser.new_page()
            open_and_run_first_cell(page, server, "bench.ipynb")
            page.get_by_role("button", name="Record", exact=True).wait_for(timeout=60_000)
            kernel = server.kernel_for("bench.ipynb")
            all_lat: list[float] = []
            lost = out_of_order = chunks = 0
            stop_ms: list[float] = []
            for i in range(rounds):
                kernel.run("latencies.clear(); seqs.clear(); rec.clip = None")
                say(f"round {i + 1}/{rounds}: recording {seconds:.0f} s")
                page.get_by_role("button", name="Record", exact=True).click()
                page.get_by_role("button", name="Stop", exact=True).wait_for(timeout=10_000)
                time.sleep(seconds)
                t = time.perf_counter()
                page.get_by_role("button", name="Stop", exact=True).click()
                kernel.wait_for("rec.clip is not None", timeout=30, interval=0.05)
                stop_ms.append((time.perf_counter() - t) * 1000)
                got = kernel.eval("dict(lat=latencies, seqs=seqs, lost=rec.stats.missing,"
                                  " ooo=rec.stats.out_of_order, expected=rec.stats.expected_chunks)")
                all_lat += got["lat"]
                lost += got["lost"]
                out_of_order += got["ooo"]
                chunks += got["expected"]
            kernel.close()
        finally:
            if browser is not None:
                browser.close()
            server.stop()
    result = {
        "chunk_latency_ms_median": round(statistics.median(all_lat), 2),
        "chunk_latency_ms_p95": round(_p95(all_lat), 2),
        "chunk_latency_ms_max": round(max(all_lat), 2),
        "chunks_sent": chunks,
        "chunks_received": len(all_lat),
        "chunks_lost": lost,
        "chunks_out_of_order": out_of_order,
        "stop_to_clip_ms_median": round(statistics.median(stop_ms), 1),
        "rounds": rounds,
        "seconds_per_round": seconds,
        "machine": {
            "cpus": os.cpu_count(), "python": platform.python_version(),
            "loadavg_1min": round(os.getloadavg()[0], 2),
        },
    }
    result["targets"] = {
        "chunk_latency_ms_median": result["chunk_latency_ms_median"] <= TARGETS[
            "chunk_latency_ms_median"],
        "chunks_lost": result["chunks_lost"] == TARGETS["chunks_lost"],
    }
    result["target_limits"] = TARGETS
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each recording")
    parser.add_argument("--rounds", type=int, default=3, help="recordings to make")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)

    def say(message: str) -> None:
        if not args.json_only:
            print(message, file=sys.stderr, flush=True)

    result = run(args.seconds, args.rounds, say)
    if not args.json_only:
        print(f"chunk latency: median {result['chunk_latency_ms_median']} ms, "
              f"p95 {result['chunk_latency_ms_p95']} ms, max {result['chunk_latency_ms_max']} ms")
        print(f"chunks: {result['chunks_received']} of {result['chunks_sent']} received, "
              f"{result['chunks_lost']} lost, {result['chunks_out_of_order']} out of order")
        print(f"Stop click to clip in the kernel: {result['stop_to_clip_ms_median']} ms (median)")
        print("targets met:", result["targets"])
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
