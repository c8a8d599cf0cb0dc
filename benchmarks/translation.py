"""Benchmark other languages on the offline stand-in (issue 23), through the ``openai`` SDK.

Run ``.venv/bin/python benchmarks/translation.py``. Like ``benchmarks/standin.py`` it starts
``python -m voicekit serve`` on a free loopback port, always stops it, and prints one JSON
object on the last line of stdout (``--json-only``: that line alone).

Measured
--------
english
    The English recordings of ``../shared/audio`` through ``/v1/audio/transcriptions``
    (``whisper-1``), each ``--repeats`` times, with ``language="en"`` (straight to
    ``tiny.en``, the stand-in's path before issue 23) and without ``language`` (the language
    gate of ``voicekit/standin/engines/languages.py``), interleaved. ``latency_ms`` medians
    of per-clip medians, ``ratio`` (sum of per-clip medians without / with; the issue's bar
    is 1.05), ``corpus_wer`` both ways and ``same_text`` (the two paths agree word for word). ``server_rss_mb.after_english`` against ``after_startup`` shows whether English
    alone loaded Whisper ``base`` (it must not: about +260 MB).
languages
    ``../shared/audio/multilingual`` without ``language``: per clip the language reported
    in ``verbose_json``, its WER (CER for Japanese, which has no spaces) against the
    README's reference, the latency, and the ``/v1/audio/translations`` English text.
    ``language_id_accuracy`` over all clips; ``corpus_wer`` over the alphabetic ones.
realtime_translation
    Each clip over ``client.realtime.translations.connect(model="gpt-realtime-translate")``,
    paced at real time in 200 ms appends, then 1.5 s of silence. ``lag_ms``: from the
    moment the clip's last sample was sent (the end of the speaker's last phrase) to the
    first ``session.output_audio.delta``, median and p90.
server_rss_mb
    The server's RSS after start-up, after the English requests (``tiny.en`` only) and
    after the other languages (``base`` loaded).

The machine is shared: ``machine.loadavg_1min_*`` say how busy it was; latencies scale
with it, WER and language ID do not.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import statistics
import sys
import tempfile
import time
import warnings
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
    load_recordings,
    spawn_server,
    wait_ready,
)

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.metrics import wer_many

ML_DIR = AUDIO_DIR / "multilingual"
MODEL = "gpt-realtime-translate"


def _references() -> dict[str, tuple[str, str]]:
    """code -> (file name, reference transcript), from the README's table."""
    refs = {}
    for line in (ML_DIR / "README.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"\| (test_(\w+)\.wav) \| [^|]+ \| (.+?) \|$", line)
        if m:
            refs[m.group(2)] = (m.group(1), m.group(3))
    return refs


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _timed(fn: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, 1000 * (time.perf_counter() - t0)


def english(client: OpenAI, repeats: int, progress: Progress) -> dict[str, Any]:
    """Both paths on every clip, interleaved (the order alternates each repeat), so a change in
    the machine's load hits both alike."""
    recs = load_recordings()
    paths = {"language_en": {"language": "en"}, "detect": {}}
    times: dict[str, list[float]] = {label: [] for label in paths}
    texts: dict[str, list[str]] = {label: [] for label in paths}
    for name, clip, _ in recs:
        per: dict[str, list[float]] = {label: [] for label in paths}
        for k in range(repeats):
            for label in (list(paths) if k % 2 == 0 else list(reversed(paths))):
                r, ms = _timed(lambda c=clip, x=paths[label]: client.audio.transcriptions.create(
                    model="whisper-1", file=c.to_file_tuple(), **x))
                per[label].append(ms)
                if k == 0:
                    texts[label].append(r.text)
        for label in paths:
            times[label].append(statistics.median(per[label]))
        progress(f"English {name}: language='en' {times['language_en'][-1]:.0f} ms, "
                 f"detected {times['detect'][-1]:.0f} ms")
    refs = [ref for _, _, ref in recs]
    out: dict[str, Any] = {label: {"latency_ms": round(statistics.median(times[label])),
                                   "total_ms": round(sum(times[label])),
                                   "corpus_wer": round(wer_many(refs, texts[label]), 4)} for label in paths}
    out["ratio"] = round(out["detect"]["total_ms"] / out["language_en"]["total_ms"], 3)
    out["same_text"] = texts["detect"] == texts["language_en"]
    out["n_clips"] = len(recs)
    return out


def languages(client: OpenAI, progress: Progress) -> dict[str, Any]:
    import jiwer

    rows, refs, hyps = {}, [], []
    for code, (name, ref) in sorted(_references().items()):
        clip = Clip.from_file(ML_DIR / name)
        r, ms = _timed(lambda c=clip: client.audio.transcriptions.create(
            model="whisper-1", file=c.to_file_tuple(), response_format="verbose_json"))
        with warnings.catch_warnings():  # the SDK marks translations deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            t, ms_t = _timed(lambda c=clip: client.audio.translations.create(model="whisper-1", file=c.to_file_tuple()))
        if code == "ja":
            err = float(jiwer.cer(ref.strip("。"), r.text.strip().strip("。")))
        else:
            err = float(jiwer.wer(_norm(ref), _norm(r.text)))
            refs.append(_norm(ref))
            hyps.append(_norm(r.text))
        rows[code] = {"detected": r.language, "error_rate": round(err, 3), "metric": "cer" if code == "ja" else "wer",
                      "latency_ms": round(ms), "text": r.text, "translation": t.text, "translation_ms": round(ms_t)}
        progress(f"{code}: {r.language}, {rows[code]['metric']} {err:.2f}, {ms:.0f} ms; -> {t.text!r}")
    names = {"de": "german", "es": "spanish", "fr": "french", "it": "italian", "ja": "japanese"}
    right = sum(rows[c]["detected"] == names.get(c) for c in rows)
    return {"clips": rows, "language_id_accuracy": round(right / max(len(rows), 1), 3), "n_clips": len(rows),
            "corpus_wer": round(float(jiwer.wer(refs, hyps)), 4) if refs else None}


def realtime_translation(client: OpenAI, progress: Progress) -> dict[str, Any]:
    step = REALTIME_SAMPLE_RATE // 5
    lags, rows = [], {}
    for code, (name, _) in sorted(_references().items()):
        pcm = Clip.from_file(ML_DIR / name).to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)
        pcm = np.concatenate([pcm, np.zeros(int(1.5 * REALTIME_SAMPLE_RATE), np.int16)])
        speech_end = pcm.size - int(1.5 * REALTIME_SAMPLE_RATE)
        with client.realtime.translations.connect(model=MODEL) as conn:
            json.loads(conn.recv_bytes())  # session.created
            start = time.perf_counter()
            for k in range(0, pcm.size, step):
                conn.send({"type": "session.input_audio_buffer.append",
                           "audio": base64.b64encode(pcm[k:k + step].astype("<i2").tobytes()).decode()})
                delay = start + (k + step) / REALTIME_SAMPLE_RATE - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            conn.send({"type": "session.close"})
            first_audio, text = None, ""
            while True:
                event = json.loads(conn.recv_bytes())
                if event["type"] == "session.output_audio.delta" and first_audio is None:
                    first_audio = time.perf_counter()
                elif event["type"] == "session.output_transcript.delta":
                    text += event["delta"]
                elif event["type"] in ("session.closed", "error"):
                    break
        end_sent = start + speech_end / REALTIME_SAMPLE_RATE
        lag = None if first_audio is None else round(1000 * (first_audio - end_sent))
        if lag is not None:
            lags.append(lag)
        rows[code] = {"lag_ms": lag, "translation": text}
        progress(f"realtime {code}: first audio {lag} ms after the speech ended; {text!r}")
    lags.sort()
    return {"clips": rows, "lag_ms": {"median": statistics.median(lags) if lags else None,
                                      "p90": lags[min(len(lags) - 1, int(0.9 * len(lags)))] if lags else None}}


def run(port: int, repeats: int, progress: Progress) -> dict[str, Any]:
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        sampler = RssSampler(proc.pid)
        sampler.start()
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0)
            wait_ready(client, proc, port, time.perf_counter())
            time.sleep(3)  # the background warm-up
            rss = {"after_startup": _mb(sampler.sample())}
            eng = english(client, repeats, progress)
            rss["after_english"] = _mb(sampler.sample())
            langs = languages(client, progress)
            rss["after_other_languages"] = _mb(sampler.sample())
            rt = realtime_translation(client, progress)
            rss["peak"] = _mb(sampler.peak_bytes)
        finally:
            sampler.stop()
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except Exception:  # noqa: BLE001
                proc.kill()
    return {"english": eng, "languages": langs, "realtime_translation": rt, "server_rss_mb": rss,
            "machine": {"cpus": os.cpu_count(), "loadavg_1min_start": round(load_start, 2),
                        "loadavg_1min_end": round(os.getloadavg()[0], 2)}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--repeats", type=int, default=3, help="English requests per clip and path (default 3)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if not (ML_DIR / "README.md").is_file():
        print(f"no {ML_DIR}: nothing to measure", file=sys.stderr)
        return 1
    result = run(args.port or _free_port(), args.repeats, Progress(args.json_only))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
