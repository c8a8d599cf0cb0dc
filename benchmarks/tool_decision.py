"""Where the tool decision pass's time goes: prompt processing against decoding, whole against stopped early.

Run ``.venv/bin/python benchmarks/tool_decision.py [--rounds N]``. In this process (no server),
it loads the stand-in's LLM (:class:`voicekit.standin.engines.llm.LLMEngine`) and, for each
of ``chat.py``'s twenty tool-choice questions with its three tools, runs the decision pass
twice, back to back in the decision slot:

whole
    The pass written to its end (``{"tool": "none"}`` and the end of generation), as the
    stand-in ran it before ``engines/early_decision.py``; llama.cpp's own timings:
    ``prompt_n`` / ``cache_n`` (tokens processed / reused from the slot's cache),
    ``prompt_ms``, ``predicted_n``, ``predicted_ms``.
early
    :meth:`LLMEngine.decide` as the stand-in runs it now (stopped once it wrote ``none``):
    wall time and decoded tokens.

The pass that runs second finds its whole prompt in the slot's cache, so the two
alternate which goes first (``early_first``), and ``*_when_first`` compares only passes that
ran first. The first round warms the slot and is not counted. The last line of stdout is one JSON
object: per question the figures above, and ``summary`` (medians, ms and tokens; the
number of questions whose decision differed, which must be 0) and ``machine`` (load
averages before and after).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chat import TOOL_CASES, TOOLS
from realtime import loadavg

from voicekit.standin.engines.llm import LLMEngine, LLMUsage, ToolSpec, Turn, tool_choice_schema
from voicekit.standin.engines.tool_choice import _decision_prompt


def _tools() -> list[ToolSpec]:
    return [ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"]) for t in TOOLS]


def _whole(engine: LLMEngine, tools: list[ToolSpec], question: str) -> dict[str, Any]:
    req = engine._request([Turn("system", _decision_prompt(tools)), Turn("user", question)], None, 0.0, None,
                          {"json_schema": tool_choice_schema(tools, allow_none=True)})
    start = time.perf_counter()
    whole = engine._complete({**req, "id_slot": engine._decision_slot})
    wall_ms = 1000 * (time.perf_counter() - start)
    timings = whole.get("timings", {})
    return {"tool": json.loads(whole["choices"][0]["message"]["content"]).get("tool"), "wall_ms": round(wall_ms, 1),
            "prompt_n": timings.get("prompt_n"), "cache_n": timings.get("cache_n"),
            "prompt_ms": round(timings.get("prompt_ms", 0.0), 1), "predicted_n": timings.get("predicted_n"),
            "predicted_ms": round(timings.get("predicted_ms", 0.0), 1)}


def _early(engine: LLMEngine, tools: list[ToolSpec], question: str) -> dict[str, Any]:
    usage = LLMUsage()
    start = time.perf_counter()
    call = engine.decide([Turn("user", question)], tools, required=False, usage=usage)
    wall_ms = 1000 * (time.perf_counter() - start)
    return {"tool": call.name if call else "none", "wall_ms": round(wall_ms, 1),
            "completion_tokens": usage.completion_tokens, "cached_tokens": usage.cached_tokens}


def one(engine: LLMEngine, tools: list[ToolSpec], question: str, early_first: bool) -> dict[str, Any]:
    """Both passes for ``question``, in the given order (the second finds the whole prompt cached)."""
    if early_first:
        early = _early(engine, tools, question)
        whole = _whole(engine, tools, question)
    else:
        whole = _whole(engine, tools, question)
        early = _early(engine, tools, question)
    return {"question": question, "early_first": early_first, "whole": whole, "early": early}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the questions; the first warms (default 2)")
    args = parser.parse_args(argv)
    before = loadavg()
    engine, tools = LLMEngine(), _tools()
    rows: list[dict[str, Any]] = []
    for round_ in range(max(2, args.rounds)):
        for i, (question, _, _) in enumerate(TOOL_CASES):
            row = one(engine, tools, question, early_first=(i + round_) % 2 == 0)
            if round_:
                rows.append(row)
                print(json.dumps(row), file=sys.stderr)
    none = [r for r in rows if r["whole"]["tool"] == "none"]

    def med(values: list[float]) -> float:
        return round(statistics.median(values), 1) if values else 0.0

    summary = {
        "n": len(rows), "n_none": len(none),
        "decisions_differ": sum(r["whole"]["tool"] != r["early"]["tool"] for r in rows),
        "none_whole_wall_ms": med([r["whole"]["wall_ms"] for r in none]),
        "none_early_wall_ms": med([r["early"]["wall_ms"] for r in none]),
        "none_whole_wall_ms_when_first": med([r["whole"]["wall_ms"] for r in none if not r["early_first"]]),
        "none_early_wall_ms_when_first": med([r["early"]["wall_ms"] for r in none if r["early_first"]]),
        "none_whole_predicted_n": med([r["whole"]["predicted_n"] for r in none]),
        "none_early_completion_tokens": med([r["early"]["completion_tokens"] for r in none]),
        "prompt_n": med([r["whole"]["prompt_n"] for r in rows]), "cache_n": med([r["whole"]["cache_n"] for r in rows]),
        "prompt_ms": med([r["whole"]["prompt_ms"] for r in rows]),
        "predicted_ms_per_token": med([r["whole"]["predicted_ms"] / max(1, r["whole"]["predicted_n"]) for r in rows]),
    }
    print(json.dumps({"per_question": rows, "summary": summary,
                      "machine": {"loadavg_before": before, "loadavg_after": loadavg()}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
