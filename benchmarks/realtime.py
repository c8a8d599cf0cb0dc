"""Benchmark the stand-in's Realtime WebSocket: end of speech to first reply audio.

Run ``.venv/bin/python benchmarks/realtime.py`` (or ``make bench``). The script
starts ``python -m voicekit serve`` as a subprocess on a free loopback port,
drives it only through the official SDK's Realtime client
(``client.realtime.connect``), always stops it, and prints one JSON object on
the last line of stdout (progress on stderr; ``--json-only`` for the JSON alone).

Each real recording of ``../shared/audio/transcripts.tsv`` (falling back to the
recordings shipped in ``voicekit/data``) gets its own connection with
``server_vad`` at its defaults (500 ms silence) and input transcription on. The
audio is sent the way a microphone sends it: 24 kHz PCM16 in 40 ms chunks, paced
at real time, 0.5 s of silence first, the recording, then silence for as long as
the reply takes. ``--burst`` sends each recording in one go instead, faster than
real time (the stand-in's VAD works on the audio timeline, so it segments the
same way; only the timing differs). One unmeasured turn warms everything first.

Measured
--------
first_audio_ms
    Wall-clock ms from receiving ``input_audio_buffer.speech_stopped`` to
    receiving the first ``response.output_audio.delta``: the latency the user
    feels after the turn is judged over. The VAD's silence window
    (``silence_duration_ms``, the user's setting) comes before
    ``speech_stopped`` and is not counted. Median, p90 and per recording.
transcript_ms
    ``speech_stopped`` to ``conversation.item.input_audio_transcription.completed``.
    With paced audio the stand-in starts Whisper during the silence window, so
    this can be near 0.
first_text_ms
    ``speech_stopped`` to the first ``response.output_audio_transcript.delta``
    (the LLM's first token; the rest of ``first_audio_ms`` is the LLM writing
    the first phrase and Piper speaking it).
stages
    The server's own stage times of each turn (``GET /v1/voicekit/timings``,
    :mod:`voicekit.standin.timings`): ``after_window_ms`` (from the end of the
    VAD window, when the server emitted ``speech_stopped``) and
    ``after_speech_ms`` (from the arrival of the audio at ``audio_end_ms``) of
    ``stt_start``, ``stt_done``, ``head_start``, ``llm_first_token``,
    ``llm_first_phrase``, ``tts_first_chunk``, ``response_start`` and
    ``first_delta_sent``; p10, median, p90 of each.
machine
    CPU count and ``os.getloadavg()`` before and after the run: every figure
    depends on the load; compare runs at the same load.
server_rss_mb
    Peak resident set size of the server process, sampled every 50 ms with
    psutil from spawn to the end; ``server_rss_after_startup_mb`` for scale.

Targets (issue 5, on 2 cores): median ``first_audio_ms`` <= 800 ms, stretch
<= 400 ms.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from openai import OpenAI
from standin import (
    AUDIO_DIR,
    Progress,
    RssSampler,
    _free_port,
    _mb,
    check_alive,
    load_recordings,
    spawn_server,
    wait_ready,
)

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.samples import load_sample, sample_names

MODEL = "gpt-realtime-mini"
CHUNK_MS = 40
LEAD_IN_S = 0.5
MIN_TURNS = 10
TARGETS_MS = {"goal": 800.0, "stretch": 400.0}


def recordings() -> list[tuple[str, Clip]]:
    """``(name, clip)``: ``../shared/audio`` when present, else the shipped samples."""
    if (AUDIO_DIR / "transcripts.tsv").is_file():
        return [(name, clip) for name, clip, _ref in load_recordings()]
    return [(name, load_sample(name)) for name in sample_names()]


class PacedSender(threading.Thread):
    """Append ``pcm`` (int16, 24 kHz) in ``CHUNK_MS`` chunks at real time, then silence until stopped."""

    def __init__(self, conn: Any, pcm: np.ndarray, burst: bool) -> None:
        super().__init__(name="paced-sender", daemon=True)
        self.conn, self.pcm, self.burst = conn, pcm, burst
        self.done = threading.Event()
        self.error: BaseException | None = None

    def _send(self, chunk: np.ndarray) -> None:
        self.conn.input_audio_buffer.append(audio=base64.b64encode(chunk.tobytes()).decode("ascii"))

    def run(self) -> None:
        step = REALTIME_SAMPLE_RATE * CHUNK_MS // 1000
        try:
            if self.burst:
                self._send(self.pcm)
                chunks: Any = iter(())
            else:
                chunks = (self.pcm[k:k + step] for k in range(0, self.pcm.size, step))
            start = time.perf_counter()
            sent = 0
            silence = np.zeros(step, np.int16)
            while not self.done.is_set():
                chunk = next(chunks, silence)
                self._send(chunk)
                sent += chunk.size
                delay = start + sent / REALTIME_SAMPLE_RATE - time.perf_counter()
                if delay > 0:
                    self.done.wait(delay)
        except BaseException as exc:  # noqa: BLE001 -- reported by the main thread
            self.error = exc


def one_turn(client: OpenAI, clip: Clip, burst: bool, timeout: float = 60.0) -> dict[str, Any]:
    """Send one recording over a new connection; times in ms relative to ``speech_stopped``."""
    pcm = clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)
    pcm = np.concatenate([np.zeros(int(LEAD_IN_S * REALTIME_SAMPLE_RATE), np.int16), pcm])
    times: dict[str, float] = {}
    out: dict[str, Any] = {}
    with client.realtime.connect(model=MODEL) as conn:
        created = json.loads(conn.recv_bytes())
        session_id = created["session"].get("id")
        conn.session.update(session={"type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}})
        sender = PacedSender(conn, pcm, burst)
        sender.start()
        deadline = time.perf_counter() + timeout
        try:
            while time.perf_counter() < deadline:
                event = json.loads(conn.recv_bytes())
                now = time.perf_counter()
                kind = event["type"]
                if kind == "error":
                    raise RuntimeError(f"the stand-in sent an error: {event['error']}")
                if kind == "input_audio_buffer.speech_stopped" and "stop" not in times:
                    times["stop"] = now
                    out["audio_end_ms"] = event["audio_end_ms"]
                elif kind == "conversation.item.input_audio_transcription.completed":
                    times.setdefault("transcript", now)
                    out["transcript"] = event["transcript"]
                elif kind == "response.output_audio.delta":
                    times.setdefault("first_audio", now)
                elif kind == "response.output_audio_transcript.delta":
                    times.setdefault("first_text", now)
                elif kind == "response.output_audio_transcript.done":
                    out["reply"] = event["transcript"]
                elif kind == "response.done":
                    out["status"] = event["response"]["status"]
                    out["response_id"] = event["response"]["id"]
                    break
            else:
                raise TimeoutError(f"no response.done within {timeout:.0f} s")
        finally:
            sender.done.set()
            sender.join(timeout=5)
        if sender.error is not None:
            raise RuntimeError(f"sending audio failed: {sender.error!r}")
    for key in ("transcript", "first_text", "first_audio"):
        if key in times and "stop" in times:
            out[f"{key}_ms"] = round(1000 * (times[key] - times["stop"]), 1)
    out["stages"] = server_stages(client, session_id, out.get("response_id"))
    return out


def server_stages(client: OpenAI, session_id: str | None, response_id: str | None) -> dict[str, Any]:
    """The server's stage times of the turn ``response_id`` answered (``GET /v1/voicekit/timings``),
    ``{"after_window_ms": {...}, "after_speech_ms": {...}}``; ``{}`` if the server kept none."""
    answer: Any = client.get("/voicekit/timings", cast_to=object, options={"params": {"session_id": session_id or ""}})
    turns = answer["data"]
    for turn in turns:
        if turn["response_id"] == response_id:
            return {"after_window_ms": turn["after_window_ms"], "after_speech_ms": turn["after_speech_ms"]}
    return {}


def _summary(values: list[float]) -> dict[str, float]:
    """p10, median, p90, min, max and n of ``values`` (ms), rounded to 0.1."""
    if not values:
        return {}
    q = statistics.quantiles(values, n=10, method="inclusive") if len(values) > 1 else [values[0]] * 9
    return {"p10": round(q[0], 1), "median": round(statistics.median(values), 1), "p90": round(q[8], 1),
            "min": round(min(values), 1), "max": round(max(values), 1), "n": len(values)}


def stage_summary(rows: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per origin (``after_window_ms``, ``after_speech_ms``) and stage, :func:`_summary` over the turns."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for origin in ("after_window_ms", "after_speech_ms"):
        names = sorted({k for r in rows for k in r.get("stages", {}).get(origin, {})},
                       key=lambda k: statistics.median(r["stages"][origin][k] for r in rows
                                                       if k in r.get("stages", {}).get(origin, {})))
        out[origin] = {k: _summary([r["stages"][origin][k] for r in rows if k in r.get("stages", {}).get(origin, {})])
                       for k in names}
    return out


def loadavg() -> list[float]:
    """``os.getloadavg()`` (1, 5, 15 min), rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def run(port: int, burst: bool, repeats: int, progress: Progress, min_turns: int = MIN_TURNS) -> dict[str, Any]:
    load_before = loadavg()
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0)
            wait_ready(client, proc, port, time.perf_counter())
            rss_startup = sampler.sample()
            clips = recordings()
            progress(f"warm-up turn ({clips[0][0]})")
            one_turn(client, clips[0][1], burst)
            rows = []
            repeats = max(repeats, -(-min_turns // len(clips)))
            for r in range(repeats):
                for name, clip in clips:
                    row = {"file": name, "repeat": r, "duration_s": round(clip.duration, 2), **one_turn(client, clip, burst)}
                    row["server_rss_mb"] = _mb(sampler.sample())
                    stages = row["stages"].get("after_window_ms", {})
                    progress(f"{name}: first audio {row.get('first_audio_ms')} ms after speech_stopped, "
                             f"transcript {row.get('transcript_ms')} ms, {row.get('status')}; server: "
                             + ", ".join(f"{k} {v:+.0f}" for k, v in sorted(stages.items(), key=lambda kv: kv[1])))
                    rows.append(row)
            check_alive(proc, port)
        finally:
            sampler.stop()
            proc.terminate()
            proc.wait(timeout=10)
    first = [r["first_audio_ms"] for r in rows if "first_audio_ms" in r]
    median = statistics.median(first) if first else float("nan")
    return {
        "mode": "burst" if burst else "paced",
        "n": len(first),
        "first_audio_ms": _summary(first),
        "transcript_ms": _summary([r["transcript_ms"] for r in rows if "transcript_ms" in r]),
        "first_text_ms": _summary([r["first_text_ms"] for r in rows if "first_text_ms" in r]),
        "stages": stage_summary(rows),
        "server_rss_mb": _mb(sampler.peak_bytes),
        "server_rss_after_startup_mb": _mb(rss_startup),
        "targets": {k: bool(median <= v) for k, v in TARGETS_MS.items()},
        "target_limits_ms": TARGETS_MS,
        "per_file": rows,
        "machine": {"cpu_count": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": loadavg(),
                    "loadavg_1min_end": round(os.getloadavg()[0], 2)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--burst", action="store_true", help="send each recording at once instead of at real time")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the recordings (default 1)")
    parser.add_argument("--min-turns", type=int, default=MIN_TURNS,
                        help=f"at least this many measured turns (more passes if needed; default {MIN_TURNS})")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), args.burst, args.repeats, progress, args.min_turns)
    if not args.json_only:
        f = result["first_audio_ms"]
        print(f"{result['mode']}: speech_stopped -> first audio median {f.get('median')} ms, p90 {f.get('p90')} ms "
              f"over {result['n']} turns (goal <= 800 ms, stretch <= 400 ms); server RSS peak {result['server_rss_mb']} MB; "
              f"load {result['machine']['loadavg_before'][0]} -> {result['machine']['loadavg_after'][0]}",
              file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
