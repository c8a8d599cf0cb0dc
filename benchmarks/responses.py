"""Benchmark the stand-in's Responses API next to Chat Completions, through the SDK.

Run ``.venv/bin/python benchmarks/responses.py``. Like ``chat.py`` it starts
``python -m voicekit serve`` on a free loopback port, talks to it only through
the ``openai`` SDK, stops it, and prints one JSON object on the last line of stdout.

Measured (the same five questions as ``chat.py``, temperature 0, 80-token cap;
all five on one API, then on the next, so no request reuses the previous
request's whole prompt from llama.cpp's KV cache)
--------
chat
    ``chat.completions.create(stream=True)``: ``ttft_ms`` is request sent to the
    first content chunk; ``tokens_per_s`` is completion tokens after the first /
    time from the first to the last content chunk.
responses
    ``responses.create(stream=True)``: the same, from ``response.output_text.delta``
    events, with the token count from ``response.completed`` usage.
responses_ws
    The Responses WebSocket mode (``client.responses.connect()``), one
    connection for all questions: the same figures, from the socket's events.
tool_call_ms
    A named ``tool_choice`` (the decision pass only), request to complete
    response, on ``responses.create`` and on ``chat.completions.create``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat import QUESTIONS, _ms, _stats, on_server, stream_text
from standin import Progress, _free_port

MODEL = "gpt-4.1-mini"
WEATHER = {"type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _timed(t0: float, events: Iterable[Any]) -> dict[str, float]:
    """TTFT and decode rate from Responses stream events (SDK models)."""
    first = last = None
    tokens = 0
    for event in events:
        if event.type == "response.output_text.delta":
            now = time.perf_counter()
            first = first or now
            last = now
        elif event.type in ("response.completed", "response.incomplete"):
            tokens = event.response.usage.output_tokens
            break
    assert first is not None and last is not None and tokens
    decode = (tokens - 1) / (last - first) if last > first else float("nan")
    return {"ttft_ms": _ms(first - t0), "tokens_per_s": round(decode, 1), "completion_tokens": tokens}


def stream_response(client: OpenAI, question: str) -> dict[str, float]:
    t0 = time.perf_counter()
    return _timed(t0, client.responses.create(model=MODEL, input=question, stream=True, temperature=0, max_output_tokens=80))


def _summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    return {"ttft_ms": _stats([r["ttft_ms"] for r in rows]),
            "tokens_per_s_median": round(statistics.median(r["tokens_per_s"] for r in rows), 1), "per_question": rows}


def bench(client: OpenAI, progress: Progress) -> dict[str, Any]:
    stream_text(client, [{"role": "user", "content": "Hello!"}])  # warm-up
    stream_response(client, "Hello!")
    # One API after the other, never the same question twice in a row: llama.cpp reuses the
    # KV cache of the slot's last prompt, so a repeated question would skip prompt processing.
    chat = [stream_text(client, [{"role": "user", "content": q}]) for q in QUESTIONS]
    resp = [stream_response(client, q) for q in QUESTIONS]
    ws = []
    with client.responses.connect() as conn:
        for q in QUESTIONS:
            t0 = time.perf_counter()
            conn.send({"type": "response.create", "model": MODEL, "input": q, "temperature": 0, "max_output_tokens": 80})
            ws.append(_timed(t0, conn))
    progress(f"text: {len(QUESTIONS)} questions on each API")
    tool, chat_tool = [], []
    chat_weather = {"type": "function", "function": {k: v for k, v in WEATHER.items() if k != "type"}}
    cities = ("Paris", "London", "Tokyo")
    for city in cities:  # each API in its own block, as above (the decision prompt is the same on both)
        t0 = time.perf_counter()
        r = client.responses.create(model=MODEL, input=f"What is the weather in {city}?", tools=[WEATHER],  # type: ignore[list-item]
                                    tool_choice={"type": "function", "name": "get_weather"}, temperature=0)
        assert r.output[0].type == "function_call"
        tool.append(_ms(time.perf_counter() - t0))
    for city in cities:
        t0 = time.perf_counter()
        c = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": f"What is the weather in {city}?"}],
                                           tools=[chat_weather], tool_choice={"type": "function", "function": {"name": "get_weather"}},  # type: ignore[list-item]
                                           temperature=0)
        assert c.choices[0].message.tool_calls
        chat_tool.append(_ms(time.perf_counter() - t0))
    progress("forced tool calls: 3 on each API")
    return {"chat": _summary(chat), "responses": _summary(resp), "responses_ws": _summary(ws),
            "tool_call_ms": {"responses": {**_stats(tool), "all": tool}, "chat": {**_stats(chat_tool), "all": chat_tool}}}


def run(port: int, progress: Progress) -> dict[str, Any]:
    return on_server(port, lambda client: bench(client, progress))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="loopback port (default: a free one)")
    parser.add_argument("--json-only", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    result = run(args.port or _free_port(), progress)
    if not args.json_only:
        for name in ("chat", "responses", "responses_ws"):
            r = result[name]
            print(f"{name}: TTFT median {r['ttft_ms']['median']} ms (p95 {r['ttft_ms']['p95']}), {r['tokens_per_s_median']} tokens/s")
        t = result["tool_call_ms"]
        print(f"forced tool call: median {t['responses']['median']} ms (chat: {t['chat']['median']} ms)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
