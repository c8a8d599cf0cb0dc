"""Do the stand-in's greedy (temperature 0) answers stay the same while other sessions use the LLM?

Run ``.venv/bin/python benchmarks/determinism.py [--rounds 2]``. It starts
``python -m voicekit serve`` on a free loopback port (as ``standin.py`` does),
talks to it only through the ``openai`` SDK, and prints one JSON object on the
last line of stdout.

Each round asks six greedy questions through Chat Completions: three free-text
replies (``temperature=0``) and three required tool calls (the stand-in's tool
decision pass is always greedy). The rounds run first alone, then while two
other clients keep the LLM busy: one streams sampled stories (the reply slot),
one asks for sampled tool calls (the decision slot). ``same`` is true when
every answer under load equals the answer alone; ``diff`` lists the ones that
changed. ``alone_s`` / ``loaded_s`` are the mean seconds per round, which
show what running greedy requests alone costs the other sessions.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from openai import OpenAI

sys.path.insert(0, str(Path(__file__).resolve().parent))
from standin import Progress, _free_port, spawn_server, wait_ready

MODEL = "gpt-4o-mini"
SYSTEM = "You are a helpful voice assistant. Answer in one or two sentences."
PROMPTS = ["What is the weather like in Paris today?", "Set a timer for seven minutes please.",
           "What time is it in Tokyo?"]
TOOLS: list[Any] = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
     "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}},
    {"type": "function", "function": {"name": "set_timer", "description": "Set a timer",
     "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]}}},
]


def greedy(client: OpenAI, prompt: str, kind: str) -> str:
    """One greedy answer: the reply's text, or ``name(arguments)`` of the required tool call."""
    messages: Any = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
    if kind == "tool":
        r = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required",
                                           temperature=0)
        call: Any = (r.choices[0].message.tool_calls or [None])[0]
        return f"{call.function.name}({call.function.arguments})" if call else "(no call)"
    r = client.chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=60)
    return r.choices[0].message.content or ""


def one_round(client: OpenAI) -> dict[str, str]:
    return {f"{kind}: {p}": greedy(client, p, kind) for kind in ("text", "tool") for p in PROMPTS}


def busy(client: OpenAI, kind: str, stop: threading.Event) -> None:
    """Keep the LLM busy until ``stop``: sampled stories, or sampled tool calls."""
    i = 0
    while not stop.is_set():
        i += 1
        if kind == "tool":
            client.chat.completions.create(
                model=MODEL, tools=TOOLS, tool_choice="required", temperature=0.7,
                messages=[{"role": "user", "content": f"Weather in city number {i} and a timer of {i} minutes"}])
            continue
        stream = client.chat.completions.create(
            model=MODEL, temperature=0.9, max_tokens=200, stream=True,
            messages=[{"role": "user", "content": f"Tell me a long story about dragon number {i}."}])
        for _ in stream:
            if stop.is_set():
                stream.close()
                break


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds alone and rounds under load (default 2)")
    ap.add_argument("--json-only", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args()
    say = Progress(args.json_only)
    port = _free_port()
    client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0, timeout=600)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            wait_ready(client, proc, port, time.perf_counter())
            t = time.perf_counter()
            alone = [one_round(client) for _ in range(args.rounds)]
            alone_s = (time.perf_counter() - t) / args.rounds
            say(f"alone: {alone_s:.1f} s per round")
            stop = threading.Event()
            workers = [threading.Thread(target=busy, args=(client, k, stop), daemon=True) for k in ("story", "tool")]
            for w in workers:
                w.start()
            t = time.perf_counter()
            loaded = [one_round(client) for _ in range(args.rounds)]
            loaded_s = (time.perf_counter() - t) / args.rounds
            stop.set()
            for w in workers:
                w.join(120)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    diff = {k: [r[k] for r in alone + loaded] for k in alone[0] if len({r[k] for r in alone + loaded}) > 1}
    print(json.dumps({"rounds": args.rounds, "same": not diff, "diff": diff, "answers": alone[0],
                      "alone_s": round(alone_s, 2), "loaded_s": round(loaded_s, 2),
                      "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
