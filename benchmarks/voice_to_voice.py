"""Benchmark both voice agents on the same recordings: voice-to-voice latency per turn.

Run ``.venv/bin/python benchmarks/voice_to_voice.py --json --audio FILE [--audio FILE ...]``
(or ``make bench``). The script starts ``python -m voicekit serve`` as a
subprocess on a free loopback port, drives it only through the official SDK
(the agents in :mod:`voicekit.agents.cascaded` and :mod:`voicekit.agents.realtime_agent`),
always stops it, and prints one JSON object as the last line of stdout
(progress on stderr):

``{"cascaded": {"median_ms", "p90_ms", "stages": {"stt_ms": {...}, "llm_ttft_ms": {...},
"tts_ttfb_ms": {...}}}, "realtime": {"median_ms", "p90_ms"}, "n", ...}``

Each file (any format :meth:`voicekit.Clip.from_file` reads; default: the
recordings shipped in ``voicekit/data``) is one user turn for each agent, fed
as a microphone would: 24 kHz PCM16 in 100 ms chunks at real time, then
silence. Both agents end the turn with the same VAD settings (Silero,
threshold 0.5, 500 ms silence window) and have the same instructions and tool.
Each file starts a fresh conversation; one unmeasured turn warms everything.

voice-to-voice
    ms from the moment the agent learns the turn is over (cascaded: its VAD's
    ``speech_stopped``; realtime: receiving ``input_audio_buffer.speech_stopped``)
    to the first reply audio received. The 500 ms silence window comes before
    and is reported separately (``vad_silence_ms``).

server stages (realtime agent)
    ``realtime.server_stages``: the stand-in's own stage times of each Realtime turn
    (``GET /v1/voicekit/timings``, as in ``realtime.py``): p10, median, p90 per stage,
    from the end of the window and from the end of speech.

At least 10 turns per agent (``--min-turns``; more passes over the files if needed);
p10, median and p90 of each figure; ``machine.loadavg_before``/``loadavg_after`` are
``os.getloadavg()`` around the run.

Targets (issue 6, 2 cores): median <= 800 ms for each agent; stretch <= 600 ms
cascaded, <= 400 ms realtime.

``--background-load`` (issue 14): after the quiet pass, the same pass again with one
CPU-bound process beside it (a pure-Python busy loop in a spawned ``multiprocessing``
process, started and stopped by the script), as when a neighbour's kernel computes.
The JSON then has ``background_load``: per agent ``quiet_median_ms``,
``loaded_median_ms``, ``ratio`` and ``goal_met`` (goal: ratio <= 2), and ``loaded``
(the loaded pass's summaries, turns and load averages). The other keys are the quiet
pass, as without the flag.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

from openai import OpenAI
from realtime import MIN_TURNS, loadavg, stage_summary
from standin import Progress, _free_port, check_alive, spawn_server, wait_ready

from voicekit import Clip
from voicekit.agents.cascaded import CascadedAgent
from voicekit.agents.realtime_agent import RealtimeAgent
from voicekit.agents.turn_metrics import TurnMetrics, summarize
from voicekit.samples import sample_path

DEFAULT_FILES = ("ls_0870.wav", "ls_0880.wav", "ls_0890.wav", "cards_001.wav", "cards_005.wav")
TARGETS_MS = {"cascaded": (800, 600), "realtime": (800, 400)}
LOADED_RATIO_GOAL = 2.0
"""--background-load: the loaded median should be at most this many times the quiet one."""


def get_weather(city: str) -> str:
    """The current weather in a city.

    Parameters
    ----------
    city : str
        The city's name, e.g. "Paris".
    """
    return f"Sunny and 21 degrees in {city}."


def cascaded_turn(client: OpenAI, clip: Clip) -> TurnMetrics:
    with CascadedAgent(client, tools=[get_weather]) as agent:
        turns = agent.send_clip(clip, realtime=True).result()
        return turns[-1].metrics


def realtime_turn(client: OpenAI, clip: Clip) -> TurnMetrics:
    with RealtimeAgent(client, tools=[get_weather]) as agent:
        agent.start()
        agent.send_clip(clip, realtime=True).result()
        return agent.metrics[-1]


def newest_server_stages(client: OpenAI) -> dict[str, Any]:
    """The stage times of the stand-in's newest answered turn (``GET /v1/voicekit/timings``): turns run
    one at a time here, so that is the turn just measured."""
    answer: Any = client.get("/voicekit/timings", cast_to=object)
    answered = [t for t in answer["data"] if t["response_id"]]
    if not answered:
        return {}
    return {"after_window_ms": answered[-1]["after_window_ms"], "after_speech_ms": answered[-1]["after_speech_ms"]}


def measure(client: OpenAI, clips: Sequence[tuple[str, Clip]], repeats: int, progress: Progress,
            label: str = "") -> tuple[dict[str, list[TurnMetrics]], list[dict[str, Any]]]:
    """``repeats`` passes over ``clips`` with each agent: the turns per agent and one row per turn."""
    results: dict[str, list[TurnMetrics]] = {"cascaded": [], "realtime": []}
    rows = []
    for r in range(repeats):
        for name, clip in clips:
            for agent, fn in (("cascaded", cascaded_turn), ("realtime", realtime_turn)):
                m = fn(client, clip)
                results[agent].append(m)
                rows.append({"file": name, "repeat": r, **m.row()})
                if agent == "realtime":
                    rows[-1]["stages"] = newest_server_stages(client)
                progress(f"{label}{agent:9s} {name}: voice-to-voice {m.voice_to_voice_ms and round(m.voice_to_voice_ms)} ms "
                         f"(STT {m.stt_ms and round(m.stt_ms)}, LLM TTFT {m.llm_ttft_ms and round(m.llm_ttft_ms)}, "
                         f"TTS TTFB {m.tts_ttfb_ms and round(m.tts_ttfb_ms)}) {m.status}")
    return results, rows


def _summaries(results: dict[str, list[TurnMetrics]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for agent, turns in results.items():
        s = summarize(turns)
        goal, stretch = TARGETS_MS[agent]
        out[agent] = {"p10_ms": s["p10_ms"], "median_ms": s["median_ms"], "p90_ms": s["p90_ms"], "stages": s["stages"],
                      "n": s["n"],
                      "vad_silence_ms": turns[0].vad_silence_ms if turns else None,
                      "goal_met": s["median_ms"] is not None and s["median_ms"] <= goal,
                      "stretch_met": s["median_ms"] is not None and s["median_ms"] <= stretch}
    out["realtime"]["server_stages"] = stage_summary([r for r in rows if "stages" in r])
    return out


def _busy(stop: Any, ready: Any) -> None:
    """A pure-Python busy loop until ``stop`` is set (the --background-load process)."""
    ready.set()
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x ^= i


class BackgroundLoad:
    """One CPU-bound process (``multiprocessing``, spawned) beside the benchmark, for a ``with`` block."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._stop, self._ready = ctx.Event(), ctx.Event()
        self._proc = ctx.Process(target=_busy, args=(self._stop, self._ready), name="background-load", daemon=True)

    def __enter__(self) -> Self:
        self._proc.start()
        if not self._ready.wait(60):
            self.__exit__()
            raise RuntimeError("the background-load process did not start within 60 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._proc.join(timeout=5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(timeout=5)


def _loaded_vs_quiet(quiet: dict[str, Any], loaded: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for agent in ("cascaded", "realtime"):
        q, lo = quiet[agent]["median_ms"], loaded[agent]["median_ms"]
        ratio = round(lo / q, 2) if q and lo is not None else None
        out[agent] = {"quiet_median_ms": q, "loaded_median_ms": lo, "ratio": ratio,
                      "goal_met": ratio is not None and ratio <= LOADED_RATIO_GOAL}
    return out


def run(port: int, files: Sequence[Path], repeats: int, progress: Progress,
        background_load: bool = False, min_turns: int = MIN_TURNS) -> dict[str, Any]:
    clips = [(f.name, Clip.from_file(f)) for f in files]
    repeats = max(repeats, -(-min_turns // len(clips)))
    load_before = loadavg()
    loaded: dict[str, Any] | None = None
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0)
            wait_ready(client, proc, port, time.perf_counter())
            progress(f"warm-up turns ({clips[0][0]})")
            cascaded_turn(client, clips[0][1])
            realtime_turn(client, clips[0][1])
            load_quiet = os.getloadavg()[0]
            results, rows = measure(client, clips, repeats, progress)
            if background_load:
                load_quiet_end = os.getloadavg()[0]
                with BackgroundLoad():
                    progress("with one CPU-bound process beside the benchmark:")
                    loaded_results, loaded_rows = measure(client, clips, repeats, progress, label="loaded ")
                    load_loaded = os.getloadavg()[0]
                loaded = {**_summaries(loaded_results, loaded_rows), "per_turn": loaded_rows,
                          "loadavg_1min_quiet_end": round(load_quiet_end, 2),
                          "loadavg_1min_loaded_end": round(load_loaded, 2)}
            check_alive(proc, port)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    out: dict[str, Any] = _summaries(results, rows)
    out["n"] = len(rows) // 2
    out["per_turn"] = rows
    if loaded is not None:
        out["background_load"] = {**_loaded_vs_quiet(out, loaded), "ratio_goal": LOADED_RATIO_GOAL, "loaded": loaded}
    out["machine"] = {"cpu_count": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": loadavg(),
                      "loadavg_1min_start": round(load_quiet, 2), "loadavg_1min_end": round(os.getloadavg()[0], 2)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--audio", action="append", type=Path, help="a recording (repeatable); default: the shipped ones")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the recordings (default 1)")
    parser.add_argument("--min-turns", type=int, default=MIN_TURNS,
                        help=f"at least this many turns per agent (more passes if needed; default {MIN_TURNS})")
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--background-load", action="store_true",
                        help="after the quiet pass, the same pass beside one CPU-bound process; report both medians")
    parser.add_argument("--json", action="store_true", help="no summary lines on stderr (stdout is the JSON line either way)")
    args = parser.parse_args(argv)
    files = args.audio or [sample_path(name) for name in DEFAULT_FILES]
    for f in files:
        if not Path(f).is_file():
            parser.error(f"expected an audio file, got {str(f)!r} (no such file)")
    progress = Progress(False)  # progress goes to stderr; stdout carries only the JSON line
    result = run(args.port or _free_port(), files, args.repeats, progress, background_load=args.background_load,
                 min_turns=args.min_turns)
    if not args.json:
        for agent in ("cascaded", "realtime"):
            r = result[agent]
            print(f"{agent}: voice-to-voice median {r['median_ms']} ms, p90 {r['p90_ms']} ms over {r['n']} turns "
                  f"(goal <= {TARGETS_MS[agent][0]} ms, stretch <= {TARGETS_MS[agent][1]} ms)", file=sys.stderr)
            if "background_load" in result:
                b = result["background_load"][agent]
                print(f"{agent}: beside one CPU-bound process median {b['loaded_median_ms']} ms, {b['ratio']} x quiet "
                      f"(goal <= {LOADED_RATIO_GOAL} x)", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
