"""Benchmark the stand-in's Chat Completions (SmolLM2-135M on llama.cpp) through the SDK.

Run ``.venv/bin/python benchmarks/chat.py`` (``make bench`` runs it too). Like
``standin.py`` it starts ``python -m voicekit serve`` on a free loopback port,
talks to it only through the ``openai`` SDK, stops it, and prints one JSON object
on the last line of stdout.

Measured
--------
text
    Five questions, ``stream=True`` with ``include_usage``. ``ttft_ms`` is request
    sent to the first content chunk (prompt processing included);
    ``tokens_per_s`` is completion tokens after the first / time from the first
    to the last content chunk (the decode rate).
audio_in
    Real recordings as ``input_audio`` (wav): time to the first content chunk,
    which includes Whisper transcribing the audio.
audio_out
    ``modalities=["text", "audio"]``, ``pcm16``, streamed: ``ttfa_ms`` is request
    sent to the first ``delta.audio.data`` (first sentence generated and spoken),
    ``rtf`` is request time / seconds of audio.
tool_choice
    Twenty requests with three tools (``get_weather``, ``set_timer``,
    ``play_music``) and ``tool_choice="auto"``: eleven that a tool answers and
    nine that no tool answers. ``accuracy`` counts a request right when the
    stand-in called the expected tool (or none); ``tool_recall`` and
    ``no_tool_accuracy`` split it; ``city_correct`` checks the weather calls'
    ``city`` argument; ``wrong`` lists the misses.

With an upstream LLM
--------------------
``--llm-base-url URL --llm-model NAME [--llm-tools auto|native|json]`` starts the
stand-in with that upstream (``voicekit serve --llm-*``; a key comes from
``VOICEKIT_LLM_API_KEY``), so every figure is the upstream's. ``llm`` in the JSON
says which LLM answered (``GET /v1/models``' ``voicekit_llm``) and
``tool_choice.tool_mode`` which way the tools went: ``native`` (``tools`` passed on)
or ``json_schema`` (the constrained JSON choice through ``response_format``).
``--only tool_choice`` runs just the probe.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin import Progress, _free_port, spawn_server, wait_ready

from voicekit import load_sample

MODEL = "gpt-audio-mini"
QUESTIONS = [
    "What is the capital of France?",
    "Tell me two facts about the moon.",
    "Name three colours.",
    "What do bees make?",
    "How many legs does a spider have?",
]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "description": "Get the current weather for a city.",
     "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "set_timer", "description": "Start a countdown timer.",
     "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]}}},
    {"type": "function", "function": {"name": "play_music", "description": "Play a song or an artist.",
     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}},
]
TOOL_CASES: list[tuple[str, str | None, str | None]] = [
    ("What is the weather like in Paris today?", "get_weather", "paris"),
    ("Is it raining in London?", "get_weather", "london"),
    ("How hot is it in Tokyo right now?", "get_weather", "tokyo"),
    ("Do I need an umbrella in Berlin today?", "get_weather", "berlin"),
    ("What's the forecast for New York?", "get_weather", "new york"),
    ("Set a timer for five minutes.", "set_timer", None),
    ("Remind me in ten minutes.", "set_timer", None),
    ("Start a 3 minute countdown.", "set_timer", None),
    ("Play some jazz.", "play_music", None),
    ("Put on a song by the Beatles.", "play_music", None),
    ("I want to listen to Mozart.", "play_music", None),
    ("Hello, how are you?", None, None),
    ("Tell me a joke.", None, None),
    ("What is the capital of France?", None, None),
    ("What's 2 plus 2?", None, None),
    ("Thank you, that's all.", None, None),
    ("Who wrote Hamlet?", None, None),
    ("Can you tell me about the moon?", None, None),
    ("Good morning!", None, None),
    ("What is your name?", None, None),
]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"median": round(statistics.median(ordered), 1), "p95": round(p95, 1), "max": round(ordered[-1], 1)}


def stream_text(client: OpenAI, messages: list[Any]) -> dict[str, float]:
    t0 = time.perf_counter()
    first = last = None
    usage = None
    for chunk in client.chat.completions.create(
        model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True},
        temperature=0, max_completion_tokens=80,
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
        if chunk.usage:
            usage = chunk.usage
    assert first is not None and last is not None and usage is not None
    decode = (usage.completion_tokens - 1) / (last - first) if last > first else float("nan")
    return {"ttft_ms": _ms(first - t0), "tokens_per_s": round(decode, 1), "completion_tokens": usage.completion_tokens}


def bench_text(client: OpenAI, progress: Progress) -> dict[str, Any]:
    stream_text(client, [{"role": "user", "content": "Hello!"}])  # warm-up
    rows = [stream_text(client, [{"role": "user", "content": q}]) for q in QUESTIONS]
    progress(f"text: {len(rows)} questions")
    return {
        "ttft_ms": _stats([r["ttft_ms"] for r in rows]),
        "tokens_per_s_median": round(statistics.median(r["tokens_per_s"] for r in rows), 1),
        "per_question": rows,
    }


def bench_audio_in(client: OpenAI, progress: Progress) -> dict[str, Any]:
    rows = []
    for name in ("ls_0870.wav", "ls_0880.wav", "cards_005.wav"):
        clip = load_sample(name)
        part = {"type": "input_audio", "input_audio": {"data": base64.b64encode(clip.to_wav_bytes()).decode(), "format": "wav"}}
        r = stream_text(client, [{"role": "system", "content": "Repeat what the user said."}, {"role": "user", "content": [part]}])
        rows.append({"file": name, "audio_s": round(clip.duration, 2), **r})
    progress(f"audio in: {len(rows)} recordings")
    return {"ttft_ms": _stats([r["ttft_ms"] for r in rows]), "per_file": rows}


def bench_audio_out(client: OpenAI, progress: Progress) -> dict[str, Any]:
    rows = []
    for q in QUESTIONS:
        t0 = time.perf_counter()
        first = None
        pcm = 0
        for chunk in client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": q}], modalities=["text", "audio"],
            audio={"voice": "alloy", "format": "pcm16"}, stream=True, temperature=0, max_completion_tokens=80,
        ):
            audio = chunk.choices[0].delta.audio if chunk.choices else None
            if audio is not None and audio.data:
                first = first or time.perf_counter()
                pcm += len(base64.b64decode(audio.data))
        total = time.perf_counter() - t0
        assert first is not None
        seconds = pcm / 2 / 24_000
        rows.append({"ttfa_ms": _ms(first - t0), "audio_s": round(seconds, 2), "rtf": round(total / seconds, 3)})
    progress(f"audio out: {len(rows)} spoken replies")
    return {"ttfa_ms": _stats([r["ttfa_ms"] for r in rows]), "rtf_median": statistics.median(r["rtf"] for r in rows), "per_question": rows}


def bench_tool_choice(client: OpenAI, progress: Progress) -> dict[str, Any]:
    right = tool_right = no_tool_right = city_right = city_total = 0
    wrong = []
    times = []
    for question, want, city in TOOL_CASES:
        t0 = time.perf_counter()
        r = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": question}], tools=TOOLS, temperature=0,
            max_completion_tokens=1,  # only the decision is scored; a reply is cut after one token
        )
        times.append(_ms(time.perf_counter() - t0))
        calls = r.choices[0].message.tool_calls or []
        got = calls[0].function.name if calls else None  # type: ignore[union-attr]
        ok = got == want
        right += ok
        tool_right += ok and want is not None
        no_tool_right += ok and want is None
        if city and got == "get_weather":
            city_total += 1
            city_right += json.loads(calls[0].function.arguments).get("city", "").lower() == city  # type: ignore[union-attr]
        if not ok:
            wrong.append({"question": question, "expected": want, "got": got})
    n_tool = sum(1 for _, w, _ in TOOL_CASES if w)
    progress(f"tool choice: {right}/{len(TOOL_CASES)} right")
    return {
        "n": len(TOOL_CASES), "accuracy": round(right / len(TOOL_CASES), 3),
        "tool_recall": round(tool_right / n_tool, 3),
        "no_tool_accuracy": round(no_tool_right / (len(TOOL_CASES) - n_tool), 3),
        "city_correct": f"{city_right}/{city_total}", "decision_ms": _stats(times), "wrong": wrong,
    }


def which_llm(client: OpenAI) -> str:
    """The stand-in's ``voicekit_llm`` for :data:`MODEL`: which LLM answers, and its tool mode."""
    return str((client.models.retrieve(MODEL).model_extra or {}).get("voicekit_llm", "unknown"))


def tool_mode(llm: str) -> str:
    """``native`` / ``json_schema`` from an upstream's description; ``local_grammar`` for the bundled model."""
    if "(upstream" not in llm:
        return "local_grammar"
    return llm.rsplit("tools: ", 1)[-1].rstrip(")")


def on_server(port: int, measure: Callable[[OpenAI], dict[str, Any]]) -> dict[str, Any]:
    """Start a stand-in on ``port``, run ``measure(client)``, stop it; the result plus a ``machine`` entry."""
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="bench-no-key", max_retries=0, timeout=120)
            wait_ready(client, proc, port, time.perf_counter())
            result = measure(client)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    result["machine"] = {"cpu_count": os.cpu_count(), "loadavg_1min_end": round(os.getloadavg()[0], 2)}
    return result


BENCHES: dict[str, Callable[[OpenAI, Progress], dict[str, Any]]] = {
    "text": bench_text, "audio_in": bench_audio_in, "audio_out": bench_audio_out, "tool_choice": bench_tool_choice,
}


def run(port: int, progress: Progress, only: Sequence[str] = ()) -> dict[str, Any]:
    def measure(client: OpenAI) -> dict[str, Any]:
        out: dict[str, Any] = {name: bench(client, progress) for name, bench in BENCHES.items() if not only or name in only}
        out["llm"] = which_llm(client)
        if "tool_choice" in out:
            out["tool_choice"]["tool_mode"] = tool_mode(out["llm"])
        return out

    return on_server(port, measure)


def _upstream_env(args: argparse.Namespace) -> None:
    """Put ``--llm-*`` into this process's environment, which the spawned stand-in inherits."""
    for flag, env in (("llm_base_url", "VOICEKIT_LLM_BASE_URL"), ("llm_model", "VOICEKIT_LLM_MODEL"),
                      ("llm_tools", "VOICEKIT_LLM_TOOLS")):
        if getattr(args, flag):
            os.environ[env] = getattr(args, flag)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    parser.add_argument("--only", action="append", choices=sorted(BENCHES), default=[],
                        help="run only this measurement (repeatable; default: all)")
    parser.add_argument("--llm-base-url", metavar="URL", help="an upstream LLM for the stand-in (voicekit serve --llm-base-url)")
    parser.add_argument("--llm-model", metavar="NAME", help="the upstream's model id")
    parser.add_argument("--llm-tools", choices=["auto", "native", "json"], help="how tools reach the upstream")
    args = parser.parse_args(argv)
    _upstream_env(args)
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), progress, args.only)
    if not args.json_only:
        print(f"LLM: {result['llm']}")
        if "text" in result:
            t = result["text"]
            print(f"text: TTFT median {t['ttft_ms']['median']} ms, {t['tokens_per_s_median']} tokens/s")
        if "audio_in" in result:
            print(f"audio in: TTFT median {result['audio_in']['ttft_ms']['median']} ms (Whisper included)")
        if "audio_out" in result:
            a = result["audio_out"]
            print(f"audio out: first audio median {a['ttfa_ms']['median']} ms, RTF {a['rtf_median']}")
        if "tool_choice" in result:
            tc = result["tool_choice"]
            print(f"tool choice ({tc['tool_mode']}): {tc['accuracy']:.0%} right (tool recall {tc['tool_recall']:.0%}, "
                  f"no-tool {tc['no_tool_accuracy']:.0%})")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
