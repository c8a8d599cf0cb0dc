"""Benchmark the stand-in's memory: its RSS after each round of a mixed, closed-each-round workload.

Run ``.venv/bin/python benchmarks/memory.py`` (``--rounds N``, default 8). The script
starts ``python -m voicekit serve`` as a subprocess on a free loopback port, drives it
only through the official SDK, always stops it, and prints one JSON object on the last
line of stdout (progress on stderr; ``--json-only`` for the JSON alone).

``--in-process --tracemalloc`` instead serves from a :class:`voicekit.standin.StandinServer`
thread of this process with :mod:`tracemalloc` on, and adds the Python allocation sites
that grew most between round 1 and the last round (``top_growth``): a diagnosis of what
grows, not an RSS figure (tracemalloc's own bookkeeping and the client share the process).

One round (every session is closed before the round ends):

- two ``POST /v1/audio/transcriptions`` (``whisper-1``, ``gpt-4o-mini-transcribe``) of a recording;
- one ``POST /v1/audio/speech`` (``tts-1``, WAV);
- two Chat Completions: audio in (a recording), audio out (``modalities=["text", "audio"]``);
- two Responses chained by ``previous_response_id`` (stored);
- one Realtime session over the WebSocket (``client.realtime.connect``), one spoken turn;
- one GPT-Live session (``client.live.connect``), one spoken turn.

Measured
--------
rss_mib
    ``GET /v1/voicekit/status`` ``rss_bytes`` / 2**20: after start-up and warm-up
    (``start``) and after each round (``rounds``). ``growth_mib`` is the last round minus
    round 1 (round 1 pays one-time allocations: first use of each route and engine path).
machine
    ``os.getloadavg()`` before and after.

Goal (issue 26): at most 800 MB after an hour of use, and no growth round over round.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from typing import Any

import standin
from live import one_turn as live_turn
from openai import OpenAI
from realtime import one_turn as realtime_turn
from realtime import recordings
from standin import Progress, _free_port, check_alive, spawn_server, wait_ready

from voicekit.audio import Clip

GOAL_MB = 800.0
standin.STARTUP_TIMEOUT_S = 600.0  # a loaded machine (load 15 here) took over the default 90 s to start it
MODEL = "gpt-4o-mini"


def status_rss_mib(client: OpenAI) -> float:
    """The stand-in's RSS in MiB, from ``GET /v1/voicekit/status``."""
    answer: Any = client.get("/voicekit/status", cast_to=object)
    return round(answer["rss_bytes"] / 2**20, 1)


def one_round(client: OpenAI, base_url: str, clips: list[tuple[str, Clip]], k: int) -> dict[str, Any]:
    """Run one round of the mix; returns what each part answered (short) and the errors."""
    name, clip = clips[k % len(clips)]
    upload = clip.to_file_tuple(name)
    out: dict[str, Any] = {"file": name}
    for model in ("whisper-1", "gpt-4o-mini-transcribe"):
        out[model] = client.audio.transcriptions.create(model=model, file=upload).text[:40]
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input=f"Round {k} of the memory benchmark.",
                                        response_format="wav")
    out["speech_bytes"] = len(speech.read())
    part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(clip.to_wav_bytes()).decode(), "format": "wav"}}
    chat = client.chat.completions.create(model="gpt-audio-mini", messages=[{"role": "user", "content": [part]}],  # type: ignore[list-item,misc]
                                          max_completion_tokens=30)
    out["chat_audio_in"] = (chat.choices[0].message.content or "")[:40]
    spoken = client.chat.completions.create(model="gpt-audio-mini", modalities=["text", "audio"],
                                            audio={"voice": "alloy", "format": "wav"}, max_completion_tokens=30,
                                            messages=[{"role": "user", "content": "Say hello in one sentence."}])
    audio = spoken.choices[0].message.audio
    out["chat_audio_out_bytes"] = len(base64.b64decode(audio.data)) if audio else 0
    first = client.responses.create(model=MODEL, input="Name a colour.", max_output_tokens=16)
    second = client.responses.create(model=MODEL, input="And another one?", previous_response_id=first.id,
                                     max_output_tokens=16)
    out["responses"] = second.output_text[:40]
    out["realtime"] = realtime_turn(client, clip, burst=False, timeout=120).get("status")
    out["live"] = asyncio.run(live_turn(base_url, clip, timeout=120)).get("reply_start", "")[:40]
    return out


def drive(client: OpenAI, base_url: str, rounds: int, progress: Progress,
          after_round: Callable[[int], None] = lambda k: None) -> dict[str, Any]:
    """Warm up, then ``rounds`` rounds with the RSS after each."""
    clips = recordings()
    load = [round(x, 2) for x in os.getloadavg()]
    start = status_rss_mib(client)
    progress(f"start: RSS {start} MiB")
    rss: list[float] = []
    errors: list[str] = []
    t0 = time.perf_counter()
    for k in range(rounds):
        try:
            one_round(client, base_url, clips, k)
        except Exception as exc:  # noqa: BLE001 -- counted and reported
            errors.append(f"round {k + 1}: {exc!r}")
        rss.append(status_rss_mib(client))
        after_round(k)
        progress(f"round {k + 1}: RSS {rss[-1]} MiB ({time.perf_counter() - t0:.0f} s)")
    return {
        "rounds": rounds, "seconds": round(time.perf_counter() - t0, 1),
        "rss_mib": {"start": start, "rounds": rss},
        "growth_mib": round(rss[-1] - rss[0], 1) if rss else None,
        "peak_mb": round(max([start, *rss]) * 2**20 / 1e6, 1),
        "goal_mb": GOAL_MB, "goal_met": bool(rss) and max(rss) * 2**20 / 1e6 <= GOAL_MB,
        "errors": errors[:10],
        "machine": {"cpu_count": os.cpu_count(), "loadavg_before": load,
                    "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
    }


def run_subprocess(port: int, rounds: int, progress: Progress) -> dict[str, Any]:
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            client = OpenAI(base_url=base_url, api_key="bench-no-key", max_retries=0, timeout=300)
            wait_ready(client, proc, port, time.perf_counter())
            result = drive(client, base_url, rounds, progress)
            check_alive(proc, port)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return result


def run_in_process(rounds: int, progress: Progress, top: int = 15) -> dict[str, Any]:
    from voicekit.standin import StandinServer

    tracemalloc.start(8)
    snapshots: dict[int, tracemalloc.Snapshot] = {}

    def snap(k: int) -> None:
        if k == 0 or k == rounds - 1:
            snapshots[k] = tracemalloc.take_snapshot()

    with StandinServer() as server:
        client = OpenAI(base_url=server.base_url, api_key="bench-no-key", max_retries=0, timeout=300)
        result = drive(client, server.base_url, rounds, progress, snap)
    if len(snapshots) == 2:
        stats = snapshots[rounds - 1].compare_to(snapshots[0], "traceback")
        result["top_growth"] = [{"kib": round(s.size_diff / 1024, 1), "count": s.count_diff,
                                 "where": [str(f) for f in s.traceback.format()[-6:]]} for s in stats[:top]]
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of the mix (default 8)")
    parser.add_argument("--in-process", action="store_true", help="serve from this process (with --tracemalloc)")
    parser.add_argument("--tracemalloc", action="store_true", help="with --in-process: report the top growth sites")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    if args.in_process:
        result = run_in_process(args.rounds, progress) if args.tracemalloc else None
        if result is None:
            parser.error("--in-process is a diagnosis: give --tracemalloc too")
    else:
        result = run_subprocess(args.port or _free_port(), args.rounds, progress)
    if not args.json_only:
        r = result["rss_mib"]
        print(f"RSS {r['start']} MiB at start, {r['rounds'][-1] if r['rounds'] else '?'} MiB after "
              f"{args.rounds} rounds (growth after round 1: {result['growth_mib']} MiB)", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
