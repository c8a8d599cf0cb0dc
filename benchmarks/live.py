"""Benchmark the stand-in's GPT-Live WebSocket: end of user speech to first output audio.

Run ``.venv/bin/python benchmarks/live.py``. The script starts
``python -m voicekit serve`` as a subprocess on a free loopback port, drives it
only through the official SDK's Live client (``client.live.connect()``,
``session.start`` with ``gpt-live-1``), always stops it, and prints one JSON
object on the last line of stdout (progress on stderr; ``--json-only`` for the
JSON alone).

Each real recording of ``../shared/audio/transcripts.tsv`` (falling back to the
recordings shipped in ``voicekit/data``) gets its own session. Audio goes the
way a Live client sends a microphone: 24 kHz PCM16 in 20 ms messages, paced at
real time, 0.5 s of silence, the recording, then silence until the model has
answered. One unmeasured turn warms everything first.

Measured
--------
first_audio_ms
    Wall-clock ms from the end of the user's speech to the first
    ``session.output_audio.delta`` received. The end of speech is the end of
    the recording's last Silero VAD speech window (probability >= 0.5), at the
    moment the paced sender sent that sample. Live has no ``speech_stopped``
    event: the model decides when to answer, so the stand-in's end-of-turn
    silence is part of this figure: :data:`voicekit.standin.live.listener.TURN_CHECK_MS`
    when Smart Turn judges the utterance finished, up to
    :data:`~voicekit.standin.live.listener.END_OF_TURN_SILENCE_MS` when it does not.
    Median, p90 and per recording.
after_silence_ms
    ``first_audio_ms`` minus the shortest silence (``TURN_CHECK_MS``; a turn the model
    misjudged waited longer, so this overstates it): comparable with
    ``benchmarks/realtime.py``'s ``first_audio_ms``, which starts at
    ``speech_stopped``, after Realtime's own 500 ms window.
first_text_ms, transcript_ms
    End of speech to the first ``session.output_transcript.delta`` and to the
    first ``session.input_transcript.delta``.
stages
    The server's stage times of each turn (``GET /v1/voicekit/timings``, as in
    ``realtime.py``): from the end of the 400 ms window (``after_window_ms``)
    and from the end of speech (``after_speech_ms``); p10, median, p90.
first_session
    The first turn of the first session on the fresh server (the warm-up turn,
    not in the figures above), with its stages: a new server's cold costs.
machine
    ``os.getloadavg()`` before and after.

Goal (issue 16, on 2 cores): a median at or below Realtime's.
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
from collections.abc import Sequence
from typing import Any

import numpy as np
from openai import AsyncOpenAI, OpenAI
from realtime import MIN_TURNS, _summary, loadavg, recordings, stage_summary
from standin import Progress, RssSampler, _free_port, _mb, check_alive, spawn_server, wait_ready

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.standin.live.listener import END_OF_TURN_SILENCE_MS, TURN_CHECK_MS
from voicekit.vad import WINDOW_MS, SileroStream

MODEL = "gpt-live-1"
CHUNK = REALTIME_SAMPLE_RATE // 50  # 20 ms
LEAD_IN_S = 0.5
INSTRUCTIONS = "Respond briefly and naturally to the user."


def speech_end_s(pcm: np.ndarray) -> float:
    """End of the last Silero speech window in ``pcm`` (int16, 24 kHz), in seconds from its start."""
    probs = SileroStream().feed(pcm)
    voiced = np.flatnonzero(probs >= 0.5)
    return (voiced[-1] + 1) * WINDOW_MS / 1000 if voiced.size else pcm.size / REALTIME_SAMPLE_RATE


async def one_turn(base_url: str, clip: Clip, timeout: float = 90.0) -> dict[str, Any]:
    """One session, one recording; times in ms from the end of the user's speech."""
    speech = clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)
    pcm = np.concatenate([np.zeros(int(LEAD_IN_S * REALTIME_SAMPLE_RATE), np.int16), speech])
    end_s = LEAD_IN_S + speech_end_s(speech)
    times: dict[str, float] = {}
    out: dict[str, Any] = {}
    async with AsyncOpenAI(base_url=base_url, api_key="bench-no-key", max_retries=0) as client, \
            client.live.connect(max_retries=0) as conn:
        await conn.session.start(session={"model": MODEL, "instructions": INSTRUCTIONS})
        while (started := await conn.recv()).type != "session.started":
            pass
        session_id = started.session.id  # type: ignore[union-attr]

        async def send() -> None:
            start = time.perf_counter()
            times["speech_end"] = start + end_s
            sent = 0
            while True:
                chunk = pcm[sent:sent + CHUNK] if sent < pcm.size else np.zeros(CHUNK, np.int16)
                await conn.session.input_audio.append(audio=base64.b64encode(chunk.tobytes()).decode("ascii"))
                sent += chunk.size
                await asyncio.sleep(max(0.0, start + sent / REALTIME_SAMPLE_RATE - time.perf_counter()))

        sender = asyncio.create_task(send())
        said: list[str] = []
        try:
            deadline = time.perf_counter() + timeout
            while "first_audio" not in times or len(said) < 3:
                event = json.loads(await asyncio.wait_for(conn.recv_bytes(), max(0.1, deadline - time.perf_counter())))
                now, kind = time.perf_counter(), event["type"]
                if kind == "error":
                    raise RuntimeError(f"the stand-in sent an error: {event['error']}")
                if kind == "session.input_transcript.delta":
                    times.setdefault("transcript", now)
                    out["transcript"] = out.get("transcript", "") + event["delta"]
                elif kind == "session.output_audio.delta":
                    times.setdefault("first_audio", now)
                elif kind == "session.output_transcript.delta":
                    times.setdefault("first_text", now)
                    said.append(event["delta"])
                elif kind == "session.usage.updated" and said:
                    break
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        out["reply_start"] = "".join(said).strip()
        await conn.session.close()
        answer: Any = await client.get("/voicekit/timings", cast_to=object, options={"params": {"session_id": session_id}})
        turns = answer["data"]
        out["stages"] = ({"after_window_ms": turns[0]["after_window_ms"], "after_speech_ms": turns[0]["after_speech_ms"]}
                         if turns else {})
    for key in ("transcript", "first_text", "first_audio"):
        if key in times:
            out[f"{key}_ms"] = round(1000 * (times[key] - times["speech_end"]), 1)
    if "first_audio_ms" in out:
        out["after_silence_ms"] = round(out["first_audio_ms"] - TURN_CHECK_MS, 1)
    return out


def run(port: int, repeats: int, progress: Progress, min_turns: int = MIN_TURNS) -> dict[str, Any]:
    load_before = loadavg()
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        base_url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_ready(OpenAI(base_url=base_url, api_key="bench-no-key", max_retries=0), proc, port, time.perf_counter())
            clips = recordings()
            progress(f"warm-up turn ({clips[0][0]})")
            first_session = {"file": clips[0][0], **asyncio.run(one_turn(base_url, clips[0][1]))}
            progress(f"first session: first audio {first_session.get('first_audio_ms')} ms after the end of speech")
            rows = []
            repeats = max(repeats, -(-min_turns // len(clips)))
            for r in range(repeats):
                for name, clip in clips:
                    row = {"file": name, "repeat": r, "duration_s": round(clip.duration, 2),
                           **asyncio.run(one_turn(base_url, clip))}
                    row["server_rss_mb"] = _mb(sampler.sample())
                    progress(f"{name}: first audio {row.get('first_audio_ms')} ms after the end of speech "
                             f"({row.get('after_silence_ms')} ms after the silence window)")
                    rows.append(row)
            check_alive(proc, port)
        finally:
            sampler.stop()
            proc.terminate()
            proc.wait(timeout=10)
    return {
        "mode": "paced",
        "n": len([r for r in rows if "first_audio_ms" in r]),
        "end_of_turn_silence_ms": TURN_CHECK_MS,
        "end_of_turn_longest_wait_ms": END_OF_TURN_SILENCE_MS,
        "first_audio_ms": _summary([r["first_audio_ms"] for r in rows if "first_audio_ms" in r]),
        "after_silence_ms": _summary([r["after_silence_ms"] for r in rows if "after_silence_ms" in r]),
        "first_text_ms": _summary([r["first_text_ms"] for r in rows if "first_text_ms" in r]),
        "transcript_ms": _summary([r["transcript_ms"] for r in rows if "transcript_ms" in r]),
        "stages": stage_summary(rows),
        "first_session": first_session,
        "server_rss_mb": _mb(sampler.peak_bytes),
        "per_file": rows,
        "machine": {"cpu_count": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": loadavg(),
                    "loadavg_1min_end": round(os.getloadavg()[0], 2)},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--repeats", type=int, default=1, help="passes over the recordings (default 1)")
    parser.add_argument("--min-turns", type=int, default=MIN_TURNS,
                        help=f"at least this many measured turns (more passes if needed; default {MIN_TURNS})")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), args.repeats, progress, args.min_turns)
    if not args.json_only:
        f, a = result["first_audio_ms"], result["after_silence_ms"]
        print(f"end of speech -> first audio median {f.get('median')} ms, p90 {f.get('p90')} ms over {result['n']} "
              f"turns ({a.get('median')} / {a.get('p90')} ms after the {TURN_CHECK_MS} ms turn check); "
              f"server RSS peak {result['server_rss_mb']} MB; first session {result['first_session'].get('first_audio_ms')} "
              f"ms; load {result['machine']['loadavg_before'][0]} -> {result['machine']['loadavg_after'][0]}",
              file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
