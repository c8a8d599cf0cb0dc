"""Measure how often a delegation result is carried in the spoken reply (issue 24, defect 8).

Run ``PYTHONPATH=. .venv/bin/python benchmarks/delegation_carry.py [--runs 10]``. The script
starts a stand-in in this process (:class:`voicekit.standin.StandinServer`, real engines),
drives it only through the official SDK, and prints one JSON object on the last line.

Live
    A ``gpt-live-1`` session started with a history (the user asked about the weather
    in Paris, the model said it would check), then ``session.commentary.append`` with
    the result "In Paris it is sunny and eighteen degrees."; the spoken reply's output
    transcript is collected until ``session.usage.updated``.
Realtime
    A ``gpt-realtime-mini`` conversation: the user's question, a ``get_weather``
    function call and its ``function_call_output``
    (``{"city": "Paris", "temperature_c": 18, "conditions": "sunny"}``), then
    ``response.create``; the reply's audio transcript is collected until ``response.done``.

A reply *carries* the result when it says "sunny" and "eighteen" or "18".
Target (issue 24): at least 9 of 10 runs on each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

from openai import AsyncOpenAI, OpenAI

from voicekit.standin import StandinServer

QUESTION = "What's the weather like in Paris today?"
RESULT = "In Paris it is sunny and eighteen degrees."
TOOL_OUTPUT = json.dumps({"city": "Paris", "temperature_c": 18, "conditions": "sunny"})
INSTRUCTIONS = "You are a friendly voice assistant. Weather questions are delegated to the backend."


def carried(text: str) -> bool:
    low = text.lower()
    return "sunny" in low and ("eighteen" in low or "18" in low)


async def live_once(base_url: str) -> str:
    """One Live session: history, then the commentary; the spoken reply's transcript."""
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check that."}]}]
    async with AsyncOpenAI(base_url=base_url, api_key="bench-no-key", max_retries=0) as client, \
            client.live.connect(max_retries=0) as conn:
        await conn.session.start(session={"model": "gpt-live-1", "instructions": INSTRUCTIONS,  # type: ignore[arg-type]
                                          "input": history})
        words: list[str] = []
        appended = False
        while True:
            event = json.loads(await asyncio.wait_for(conn.recv_bytes(), 120))
            kind = event["type"]
            if kind == "session.started":
                await conn.send({"type": "session.commentary.append", "content": RESULT, "delegation_id": None})
            elif kind == "session.commentary.appended":
                appended = True
            elif kind == "session.output_transcript.delta" and appended:
                words.append(event["delta"])
            elif kind == "session.usage.updated" and appended and words:
                return "".join(words).strip()
            elif kind == "error":
                raise RuntimeError(event["error"])


def realtime_once(client: OpenAI) -> str:
    """One Realtime conversation ending in a function_call_output; the reply's audio transcript."""
    with client.realtime.connect(model="gpt-realtime-mini") as conn:
        conn.send({"type": "session.update", "session": {"type": "realtime", "instructions": INSTRUCTIONS,
                                                         "audio": {"input": {"turn_detection": None}}}})
        items: list[dict[str, Any]] = [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
            {"type": "function_call", "name": "get_weather", "call_id": "call_bench", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "call_bench", "output": TOOL_OUTPUT},
        ]
        for item in items:
            conn.send({"type": "conversation.item.create", "item": item})
        conn.send({"type": "response.create"})
        text: list[str] = []
        while True:
            event = json.loads(conn.recv_bytes())
            if event["type"] == "response.output_audio_transcript.delta":
                text.append(event["delta"])
            elif event["type"] == "response.done":
                return "".join(text).strip()
            elif event["type"] == "error":
                raise RuntimeError(event["error"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    out: dict[str, Any] = {"result": RESULT, "tool_output": TOOL_OUTPUT, "runs": args.runs}
    with StandinServer() as server, OpenAI(base_url=server.base_url, api_key="bench-no-key", max_retries=0) as client:
        live = [asyncio.run(live_once(server.base_url)) for _ in range(args.runs)]
        print("live:", *live, sep="\n  ", file=sys.stderr)
        realtime = [realtime_once(client) for _ in range(args.runs)]
        print("realtime:", *realtime, sep="\n  ", file=sys.stderr)
    out["live"] = {"carried": sum(map(carried, live)), "replies": live}
    out["realtime"] = {"carried": sum(map(carried, realtime)), "replies": realtime}
    out["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
