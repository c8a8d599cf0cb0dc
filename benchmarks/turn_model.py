"""Benchmark the end of a turn: fixed silence windows against Smart Turn (``semantic_vad``).

Run ``.venv/bin/python benchmarks/turn_model.py [--extra PATH.wav ...]``; prints one JSON
object on the last line of stdout (progress on stderr).

Each recording (``../shared/audio/transcripts.tsv``, else the ones shipped in
``voicekit/data``, plus any ``--extra`` file such as a held-out clip) is one turn: 0.5 s
of silence, the speech, 5 s of silence. It runs through the stand-in's own turn detector
(:class:`voicekit.vad.TurnDetector` with the settings :func:`voicekit.standin.realtime.session.vad_timing`
gives a ``turn_detection``), on the audio timeline, exactly as a Realtime session walks it:
the figures are positions in the audio, the same at any pace and any machine load.
Only ``model_ms`` (one Smart Turn call, wall clock) depends on the machine.

"Before" is ``semantic_vad`` as it was, a fixed silence window of 250 / 500 / 1,000 ms
(eagerness high / auto / low); "after" is ``semantic_vad`` with Smart Turn. ``live_before``
is GPT-Live's old fixed 400 ms window, ``live_after`` its listener's settings now.

Measured, per setting
---------------------
end_ms
    From the end of speech (the start of the silence that ended the last turn) to the
    turn's end (``speech_stopped``'s ``audio_end_ms``): median, p10, p90 and per recording.
    With paced audio the user waits this plus one model call (``model_ms``) after it.
cuts
    Turns ended before the recording's end (each recording is one sentence, or one list
    of playing cards, spoken as one turn): the speaker cut off mid-sentence.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from standin import load_recordings

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.samples import load_sample, sample_names
from voicekit.standin.engines.turn_model import smart_turn
from voicekit.standin.live.listener import (
    END_OF_TURN_SILENCE_MS,
    PREFIX_MS,
    TURN_CHECK_MS,
    TURN_THRESHOLD,
)
from voicekit.standin.realtime.session import vad_timing
from voicekit.vad import TurnDetector, VadSettings

BEFORE = {"high": 250, "auto": 500, "low": 1000}
"""The old ``semantic_vad`` silence windows (ms) by eagerness."""

CHUNK_MS = 40
LEAD_MS, TAIL_MS = 500, 5000


def _pcm(clip: Clip) -> np.ndarray:
    pcm = clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)
    pad = lambda ms: np.zeros(REALTIME_SAMPLE_RATE * ms // 1000, np.int16)
    return np.concatenate([pad(LEAD_MS), pcm, pad(TAIL_MS)])


def _turns(pcm: np.ndarray, turn_detection: dict[str, Any] | VadSettings,
           model_ms: list[float]) -> list[tuple[int, int]]:
    """``(audio_end_ms, pause_ms)`` of each turn the detector ends, fed in 40 ms chunks."""
    detector = TurnDetector(turn_detection if isinstance(turn_detection, VadSettings) else vad_timing(turn_detection))
    step = REALTIME_SAMPLE_RATE * CHUNK_MS // 1000
    ends = []
    for k in range(0, pcm.size, step):
        events = detector.feed(pcm[k:k + step])
        while True:
            ends += [(e.ms, e.pause_ms or e.ms) for e in events if e.kind == "speech_stopped"]
            if detector.check is None:
                break
            t = time.perf_counter()
            p = smart_turn().probability(detector.check.audio)
            model_ms.append(1000 * (time.perf_counter() - t))
            events = detector.decide(p)
    return ends


def _stats(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = np.percentile(values, [10, 50, 90])
    return {"p10": round(float(q[0])), "median": round(float(q[1])), "p90": round(float(q[2]))}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--extra", nargs="*", default=[], help="more one-turn recordings (WAV), e.g. a held-out clip")
    args = ap.parse_args(argv)
    load_before = os.getloadavg()[0]
    try:
        clips = [(name, clip) for name, clip, _ref in load_recordings()]
    except OSError:
        clips = [(name, load_sample(name)) for name in sample_names()]
    clips += [(Path(p).name, Clip.from_file(p)) for p in args.extra]
    smart_turn()  # load before timing
    settings: dict[str, dict[str, Any] | VadSettings] = {
        "live_before": VadSettings(prefix_padding_ms=PREFIX_MS, silence_duration_ms=400),
        "live_after": VadSettings(prefix_padding_ms=PREFIX_MS, silence_duration_ms=END_OF_TURN_SILENCE_MS,
                                  turn_threshold=TURN_THRESHOLD, turn_check_ms=TURN_CHECK_MS),
    }
    for eagerness, window in BEFORE.items():
        settings[f"before_{eagerness}"] = {"type": "server_vad", "silence_duration_ms": window}
        settings[f"after_{eagerness}"] = {"type": "semantic_vad", "eagerness": eagerness}
    results: dict[str, Any] = {}
    model_ms: list[float] = []
    for key, td in settings.items():
        per: dict[str, Any] = {}
        for name, clip in clips:
            print(f"{key}: {name}", file=sys.stderr)
            ends = _turns(_pcm(clip), td, model_ms)
            if not ends:
                per[name] = {"turns": 0}
                continue
            end_ms, pause_ms = ends[-1]
            per[name] = {"turns": len(ends), "end_ms": end_ms - pause_ms}
        ended = [v["end_ms"] for v in per.values() if "end_ms" in v]
        results[key] = {"end_ms": _stats(ended), "cuts": sum(max(0, v["turns"] - 1) for v in per.values()),
                        "recordings": per}
    out = {
        "benchmark": "turn_model",
        "recordings": len(clips),
        "settings": results,
        "model_ms": {**_stats(model_ms), "calls": len(model_ms),
                     "mean": round(statistics.fmean(model_ms)) if model_ms else None},
        "machine": {"cpu_count": os.cpu_count(), "loadavg_1min_start": round(load_before, 2),
                    "loadavg_1min_end": round(os.getloadavg()[0], 2)},
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
