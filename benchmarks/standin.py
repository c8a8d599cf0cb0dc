"""Benchmark the offline stand-in through the ``openai`` SDK, as a notebook would use it.

Run ``.venv/bin/python benchmarks/standin.py`` (or ``make bench``). The script starts
``python -m voicekit serve`` as a subprocess on a free loopback port, drives it only
through the official SDK, always stops it, and prints one JSON object on the last
line of stdout. Progress goes to stderr; ``--json-only`` leaves stdout with the JSON
line alone and stderr quiet.

Measured
--------
cold_start_s
    Wall-clock seconds from spawning the server to the first 200 from
    ``GET /v1/models`` (the stand-in loads its engines before it accepts
    connections, so that 200 means ready). Includes interpreter start and imports.
server_rss_mb
    Peak resident set size of the server process (and any children), sampled every
    50 ms with psutil from spawn to the end of the workload. ``server_rss_detail_mb``
    adds ``final`` and snapshots ``after_startup`` and ``after_transcription``.
server_cpu_s
    CPU seconds (user + system) the server used, startup included.
transcription
    The real recordings listed in ``../shared/audio/transcripts.tsv``, uploaded as
    WAV. WER is corpus WER (``voicekit.metrics.wer_many``: all errors over all
    reference words, after Whisper's English normaliser); per-file rows give the
    hypothesis, both normalised texts and the error count. RTF is client-side
    request time / audio duration (upload and HTTP included): ``total`` is
    sum of times / sum of durations, ``median`` the median per-file RTF. One results
    dict per model name, plus ``warmup``: the first request (not scored), on its own.
speech
    ``response_format="pcm"`` (24 kHz PCM16) streamed with ``iter_bytes()``. TTFB
    is the time from sending the request to the first body byte; the stand-in
    sends audio sentence by sentence, so TTFB grows with the first sentence's
    length. RTF is total request time / seconds of audio returned. One warm-up
    request runs first and is reported on its own.

The machine is often shared: ``machine.loadavg_1min_start``/``_end`` show whether
other work competed for the CPU (RTF and TTFB scale with it; WER does not).

Units: seconds (``_s``), milliseconds (``_ms``), mebibytes (``_mb``); WER and RTF
are plain ratios (0.05 is 5 %).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import openai
import psutil
from openai import OpenAI

from voicekit.audio import Clip
from voicekit.formats import SPEECH_PCM_SAMPLE_RATE
from voicekit.metrics import normalize_text, wer, wer_many

REPO = Path(__file__).resolve().parents[1]
AUDIO_DIR = Path(__file__).resolve().parents[2] / "shared" / "audio"
RAW_SAMPLE_RATE = 16_000
"""Rate of the headerless ``*.raw`` recordings (``goforward_16k_s16le.raw``), in Hz."""

TARGETS: dict[str, float] = {
    "cold_start_s": 5.0,
    "server_rss_mb": 700.0,
    "transcription_wer": 0.08,
    "speech_ttfb_ms": 150.0,
}
"""Upper limits; a figure at or below its limit meets the target."""

TRANSCRIPTION_MODELS = ("gpt-4o-mini-transcribe", "whisper-1")
SPEECH_MODEL = "gpt-4o-mini-tts"
SPEECH_VOICE = "alloy"
STARTUP_TIMEOUT_S = 90.0
REQUEST_TIMEOUT_S = 60.0

WARMUP_SENTENCE = "Warming up."
SENTENCES: tuple[str, ...] = (
    "Yes.",
    "Go forward ten meters.",
    "The quick brown fox jumps over the lazy dog.",
    "Please read me the weather forecast for tomorrow morning.",
    "Seven of hearts. Four of clubs. Eight of spades.",
    ("Mister John Dashwood had then leisure to consider how much there might be "
     "prudently in his power to do for them."),
    "Hello! How are you today? I hope the notebook is working for you.",
    ("A real-time factor below one means the computer speaks faster than a person "
     "would, which is what a streaming voice interface needs, especially when the "
     "answer is long and the listener is waiting."),
    ("Numbers like 3.14, dates like March 5th, 2024, and acronyms like NASA test the "
     "text normaliser."),
    ("First, record a short clip. Then send it to the transcription endpoint. "
     "Finally, compare the text with what you said, and compute the word error rate."),
)
"""Ten inputs, from one word to several sentences; the first sentence sets the TTFB."""


class Progress:
    """Human-readable progress on stderr, silenced by ``--json-only``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(message, file=sys.stderr, flush=True)


class RssSampler(threading.Thread):
    """Sample the resident set size of ``pid`` and its children every ``interval`` s."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self._proc = psutil.Process(pid)
        self._interval = interval
        self._stop_event = threading.Event()
        self.peak_bytes = 0
        self.last_bytes = 0

    def sample(self) -> int:
        """Current RSS in bytes (0 once the process is gone)."""
        try:
            procs = [self._proc, *self._proc.children(recursive=True)]
            total = 0
            for p in procs:
                try:
                    total += p.memory_info().rss
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    pass
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return 0
        if total:
            self.last_bytes = total
            self.peak_bytes = max(self.peak_bytes, total)
        return total

    def run(self) -> None:
        while not self._stop_event.wait(self._interval):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=2)


def _mb(n_bytes: int) -> float:
    return round(n_bytes / 2**20, 1)


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether uvicorn could bind ``port``: like uvicorn, ignore TIME_WAIT leftovers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _server_env() -> dict[str, str]:
    """This process's environment without any ``OPENAI_*`` variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}


def spawn_server(port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start ``python -m voicekit serve`` on 127.0.0.1:``port``, output into ``log``."""
    # --no-register: a benchmark's own server, not this user's shared stand-in (no token).
    cmd = [sys.executable, "-m", "voicekit", "serve", "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-register"]
    return subprocess.Popen(cmd, cwd=REPO, env=_server_env(), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)


def _owns_listener(pid: int, port: int) -> bool:
    """Whether process ``pid`` holds the listening TCP socket on ``port``.

    The SDK cannot tell which process answered; this makes sure the figures come
    from the server this script started, not another stand-in on the same port.
    """
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


def check_alive(proc: subprocess.Popen[bytes], port: int) -> None:
    """Raise RuntimeError unless ``proc`` runs and still listens on ``port``."""
    if proc.poll() is not None:
        raise RuntimeError(f"the stand-in exited with code {proc.returncode}")
    if not _owns_listener(proc.pid, port):
        raise RuntimeError(f"the stand-in (pid {proc.pid}) no longer listens on port {port}")


def wait_ready(client: OpenAI, proc: subprocess.Popen[bytes], port: int, t0: float) -> float:
    """Poll ``GET /v1/models`` until this server answers 200; seconds since ``t0``.

    A request is sent only once ``proc`` itself listens on ``port``.

    Raises
    ------
    RuntimeError
        If the server exits, or is not ready within ``STARTUP_TIMEOUT_S``.
    """
    probe = client.with_options(timeout=2.0, max_retries=0)
    while True:
        if _owns_listener(proc.pid, port):
            try:
                probe.models.list()
                return time.perf_counter() - t0
            except openai.APIConnectionError:
                pass
        if proc.poll() is not None:
            raise RuntimeError(f"the stand-in exited with code {proc.returncode} during startup")
        if time.perf_counter() - t0 > STARTUP_TIMEOUT_S:
            raise RuntimeError(f"the stand-in was not ready within {STARTUP_TIMEOUT_S:.0f} s")
        time.sleep(0.02)


def load_recordings() -> list[tuple[str, Clip, str]]:
    """``(file name, clip, reference text)`` for every row of ``transcripts.tsv``."""
    rows = (AUDIO_DIR / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    i_file, i_rate, i_ref = (header.index(c) for c in ("file", "sample_rate_hz", "reference_text"))
    out = []
    for row in rows[1:]:
        if not row.strip():
            continue
        cols = row.split("\t")
        path = AUDIO_DIR / cols[i_file]
        raw_rate = int(cols[i_rate]) if path.suffix == ".raw" else None
        out.append((path.name, Clip.from_file(path, sample_rate=raw_rate), cols[i_ref]))
    return out


def transcribe(client: OpenAI, model: str, name: str, clip: Clip) -> tuple[str, float]:
    """Transcribe ``clip`` as a WAV upload; ``(text, request seconds)``."""
    upload = clip.to_file_tuple(Path(name).with_suffix(".wav").name)
    t = time.perf_counter()
    result = client.audio.transcriptions.create(model=model, file=upload, response_format="json")
    return result.text, time.perf_counter() - t


def bench_transcription(
    client: OpenAI, model: str, recordings: Sequence[tuple[str, Clip, str]]
) -> dict[str, Any]:
    """WER and RTF of ``model`` on ``recordings``; rows sorted by errors, most first."""
    refs: list[str] = []
    hyps: list[str] = []
    rows: list[dict[str, Any]] = []
    total_s = total_audio = 0.0
    for name, clip, ref in recordings:
        hyp, seconds = transcribe(client, model, name, clip)
        n_ref = len(normalize_text(ref).split())
        file_wer = wer(ref, hyp)
        refs.append(ref)
        hyps.append(hyp)
        total_s += seconds
        total_audio += clip.duration
        rows.append({
            "file": name,
            "audio_s": round(clip.duration, 3),
            "request_s": round(seconds, 3),
            "rtf": round(seconds / clip.duration, 4),
            "wer": round(file_wer, 4),
            "errors": round(file_wer * n_ref),
            "ref_words": n_ref,
            "hypothesis": hyp,
            "reference": ref,
            "hyp_normalized": normalize_text(hyp),
            "ref_normalized": normalize_text(ref),
        })
    rows.sort(key=lambda r: (-r["errors"], r["file"]))
    return {
        "model": model,
        "files": len(rows),
        "audio_s": round(total_audio, 3),
        "wer": round(wer_many(refs, hyps), 4),
        "errors": sum(r["errors"] for r in rows),
        "ref_words": sum(r["ref_words"] for r in rows),
        "rtf_total": round(total_s / total_audio, 4),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 4),
        "per_file": rows,
    }


def speak(client: OpenAI, text: str) -> dict[str, Any]:
    """One streamed ``pcm`` speech request: TTFB, total time and audio seconds."""
    chunks: list[bytes] = []
    ttfb: float | None = None
    t = time.perf_counter()
    with client.audio.speech.with_streaming_response.create(
        model=SPEECH_MODEL, voice=SPEECH_VOICE, input=text, response_format="pcm"
    ) as response:
        for chunk in response.iter_bytes():
            if chunk and ttfb is None:
                ttfb = time.perf_counter() - t
            chunks.append(chunk)
    total = time.perf_counter() - t
    clip = Clip.from_pcm16(b"".join(chunks), SPEECH_PCM_SAMPLE_RATE, name="speech response")
    assert ttfb is not None  # from_pcm16 raised if no byte came
    return {
        "chars": len(text),
        "ttfb_ms": round(ttfb * 1000, 1),
        "request_s": round(total, 3),
        "audio_s": round(clip.duration, 3),
        "rtf": round(total / clip.duration, 4),
        "text": text,
    }


def bench_speech(client: OpenAI, progress: Progress) -> dict[str, Any]:
    """Warm-up, then TTFB and RTF over :data:`SENTENCES`."""
    warmup = speak(client, WARMUP_SENTENCE)
    progress(f"  warm-up: TTFB {warmup['ttfb_ms']:.0f} ms")
    rows: list[dict[str, Any]] = []
    for text in SENTENCES:
        row = speak(client, text)
        progress(f"  {row['chars']:4d} chars: TTFB {row['ttfb_ms']:6.0f} ms, "
                 f"{row['request_s']:.2f} s for {row['audio_s']:.2f} s of audio")
        rows.append(row)
    ttfbs = np.array([r["ttfb_ms"] for r in rows])
    total_s = sum(r["request_s"] for r in rows)
    audio_s = sum(r["audio_s"] for r in rows)
    return {
        "model": SPEECH_MODEL,
        "voice": SPEECH_VOICE,
        "response_format": "pcm",
        "requests": len(rows),
        "warmup": warmup,
        "ttfb_ms_median": round(float(np.median(ttfbs)), 1),
        "ttfb_ms_p95": round(float(np.percentile(ttfbs, 95)), 1),  # linear interpolation
        "ttfb_ms_max": round(float(ttfbs.max()), 1),
        "rtf_total": round(total_s / audio_s, 4),
        "rtf_median": round(statistics.median(r["rtf"] for r in rows), 4),
        "audio_s": round(audio_s, 3),
        "per_request": rows,
    }


def summary_lines(result: dict[str, Any]) -> list[str]:
    """A short human-readable summary of ``result``."""
    tr = result["transcription"][TRANSCRIPTION_MODELS[0]]
    sp = result["speech"]
    t = result["targets"]

    def mark(key: str) -> str:
        return "ok  " if t[key] else "MISS"

    lines = [
        (f"[{mark('cold_start_s')}] cold start        {result['cold_start_s']:.2f} s "
         f"(target <= {TARGETS['cold_start_s']:.0f} s)"),
        (f"[{mark('server_rss_mb')}] server RSS peak   {result['server_rss_mb']:.0f} MB "
         f"(target <= {TARGETS['server_rss_mb']:.0f} MB)"),
        (f"[{mark('transcription_wer')}] WER {tr['model']:<22} {100 * tr['wer']:.1f} % "
         f"({tr['errors']}/{tr['ref_words']} words; target <= {100 * TARGETS['transcription_wer']:.0f} %), "
         f"RTF {tr['rtf_total']:.3f}"),
        (f"[{mark('speech_ttfb_ms')}] speech TTFB       median {sp['ttfb_ms_median']:.0f} ms, "
         f"p95 {sp['ttfb_ms_p95']:.0f} ms (target <= {TARGETS['speech_ttfb_ms']:.0f} ms), "
         f"RTF {sp['rtf_total']:.3f}"),
    ]
    for row in tr["per_file"]:
        if row["errors"]:
            lines.append(f"    {row['file']}: {row['errors']} error(s)\n"
                         f"      ref: {row['ref_normalized']}\n      hyp: {row['hyp_normalized']}")
    return lines


def run(port: int, progress: Progress) -> dict[str, Any]:
    """Start the server, run the workload, stop the server; the result dict."""
    base_url = f"http://127.0.0.1:{port}/v1"
    client = OpenAI(base_url=base_url, api_key="standin", timeout=REQUEST_TIMEOUT_S, max_retries=0)
    recordings = load_recordings()
    load_start = round(os.getloadavg()[0], 2)
    with tempfile.TemporaryFile() as log:
        progress(f"starting the stand-in on {base_url} ...")
        t0 = time.perf_counter()
        proc = spawn_server(port, log)
        sampler: RssSampler | None = None
        try:
            sampler = RssSampler(proc.pid)
            sampler.start()
            cold_start = wait_ready(client, proc, port, t0)
            rss_ready = sampler.sample()
            progress(f"ready after {cold_start:.2f} s, RSS {_mb(rss_ready)} MB")

            transcription: dict[str, Any] = {}
            name, clip, _ = recordings[0]
            _, warmup_s = transcribe(client, TRANSCRIPTION_MODELS[0], name, clip)
            progress(f"transcription warm-up ({name}, {clip.duration:.1f} s): {warmup_s:.2f} s")
            for model in TRANSCRIPTION_MODELS:
                progress(f"transcribing {len(recordings)} recordings with {model} ...")
                transcription[model] = bench_transcription(client, model, recordings)
                progress(f"  WER {100 * transcription[model]['wer']:.1f} %, "
                         f"RTF {transcription[model]['rtf_total']:.3f}")
            transcription["warmup"] = {"file": name, "audio_s": round(clip.duration, 3),
                                       "request_s": round(warmup_s, 3)}

            rss_transcription = sampler.sample()
            check_alive(proc, port)
            progress("speaking ...")
            speech = bench_speech(client, progress)
            sampler.sample()
            check_alive(proc, port)
            cpu = psutil.Process(proc.pid).cpu_times()
            server_cpu_s = cpu.user + cpu.system
        except BaseException:
            log.seek(0)
            tail = log.read().decode("utf-8", "replace")[-4000:]
            if tail:
                print(f"--- stand-in output (last 4000 characters) ---\n{tail}", file=sys.stderr)
            raise
        finally:
            if sampler is not None:
                sampler.stop()
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    assert sampler is not None
    primary = transcription[TRANSCRIPTION_MODELS[0]]
    rss = {"peak": _mb(sampler.peak_bytes), "final": _mb(sampler.last_bytes),
           "after_startup": _mb(rss_ready), "after_transcription": _mb(rss_transcription)}
    return {
        "cold_start_s": round(cold_start, 3),
        "server_rss_mb": rss["peak"],
        "server_rss_detail_mb": rss,
        "server_cpu_s": round(server_cpu_s, 2),
        "transcription": transcription,
        "speech": speech,
        "targets": {
            "cold_start_s": cold_start <= TARGETS["cold_start_s"],
            "server_rss_mb": rss["peak"] <= TARGETS["server_rss_mb"],
            "transcription_wer": primary["wer"] <= TARGETS["transcription_wer"],
            "speech_ttfb_ms": speech["ttfb_ms_median"] <= TARGETS["speech_ttfb_ms"],
            "speech_ttfb_ms_p95": speech["ttfb_ms_p95"] <= TARGETS["speech_ttfb_ms"],
        },
        "target_limits": TARGETS,
        "machine": {
            "cpu_count": os.cpu_count(),
            "cpu_count_physical": psutil.cpu_count(logical=False),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "openai_sdk": openai.__version__,
            "loadavg_1min_start": load_start,
            "loadavg_1min_end": round(os.getloadavg()[0], 2),
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json-only", action="store_true",
                        help="print only the JSON line on stdout, no progress on stderr")
    parser.add_argument("--port", type=int, default=None,
                        help="loopback port for the server (default: a free one)")
    args = parser.parse_args(argv)
    port = args.port or _free_port()
    if not _port_is_free(port):
        parser.error(f"expected a free port on 127.0.0.1, but {port} is in use")
    # A SIGTERM must still run the finally block that stops the server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    progress = Progress(args.json_only)
    t = time.perf_counter()
    result = run(port, progress)
    result["benchmark_s"] = round(time.perf_counter() - t, 1)
    if not args.json_only:
        print("\n".join(summary_lines(result)))
    print(json.dumps(result, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
