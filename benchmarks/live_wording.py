"""Measure what the Live stand-in's small model says around a delegation: the acknowledgement, and
the reply that carries the result.

Run ``.venv/bin/python benchmarks/live_wording.py [--n 20]``. In this process, on the stand-in's
own LLM (:class:`voicekit.standin.engines.llm.LLMEngine`, sampled at its default temperature,
seeds 0..n-1), with 04b's instructions and its question "What is the weather like in Paris
today?". Prints one JSON object on the last line of stdout.

acknowledgement
    The turn :mod:`voicekit.standin.live.replies` speaks after ``session.delegation.created``:
    :data:`~voicekit.standin.live.delegation.ACK_INSTRUCTION` alone (``before``) and with
    :data:`~voicekit.standin.live.delegation.ACK_GRAMMAR` (``now``). ``answered`` counts the
    replies that guess the answer instead (a digit, or a weather word other than "weather" and
    "forecast": sunny, degree, rain, ...).
commentary
    The reply after ``session.commentary.append`` "Sunny and 21 degrees in Paris." (under the
    :mod:`voicekit.standin.engines.carry` grammar), after two acknowledgements: one that guessed
    (as 04b's once did) and one that did not. The note worded as before (the instruction after
    the result) and as now (:data:`voicekit.standin.live.context.COMMENTARY_NOTE`).
    ``echoed`` counts the replies that read the note's instruction out.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from typing import Any

from voicekit.standin.engines.carry import carry_grammar
from voicekit.standin.engines.llm import LLMEngine, TextDelta, Turn
from voicekit.standin.live.context import COMMENTARY_NOTE
from voicekit.standin.live.delegation import ACK_GRAMMAR, ACK_INSTRUCTION

INSTRUCTIONS = ("You are a friendly voice assistant. Answer in one short sentence. "
                "Delegate every question about the weather to the backend.")
QUESTION = "What is the weather like in Paris today?"
RESULT = "Sunny and 21 degrees in Paris."
NOTE_BEFORE = "News for the user from the backend: {} Tell the user in one sentence."
ACKNOWLEDGED = ("Paris is currently in the midst of a heatwave, with temperatures reaching 40 degrees Celsius (104 degrees",
                "I am checking the weather in Paris today.")
ANSWERED = re.compile(r"\d|sunny|degree|heat|rain|cloud|temperat|warm|cold|hot\b|breeze|wind|mist", re.IGNORECASE)
ECHOED = re.compile(r"tell the user|in (one|a) (short )?sentence|backend|news for", re.IGNORECASE)


def _text(llm: LLMEngine, turns: list[Turn], **kw: Any) -> str:
    return "".join(d.text for d in llm.respond(turns, tool_choice="none", **kw) if isinstance(d, TextDelta)).strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="sampled replies per case (seeds 0..n-1)")
    args = parser.parse_args(argv)
    llm = LLMEngine()
    out: dict[str, Any] = {"n": args.n, "acknowledgement": {}, "commentary": {}}
    ask = [Turn("system", f"{INSTRUCTIONS}\n{ACK_INSTRUCTION}"), Turn("user", QUESTION)]
    for name, grammar in (("before", None), ("now", ACK_GRAMMAR)):
        replies = [_text(llm, ask, max_tokens=24, seed=s, options=grammar and {"grammar": grammar}) for s in range(args.n)]
        out["acknowledgement"][name] = {"answered": sum(bool(ANSWERED.search(r)) for r in replies),
                                        "replies": sorted(set(replies))}
    for name, note in (("before", NOTE_BEFORE), ("now", COMMENTARY_NOTE)):
        replies = [_text(llm, [Turn("system", INSTRUCTIONS), Turn("user", QUESTION), Turn("assistant", said),
                               Turn("system", note.format(RESULT))],
                         max_tokens=120, seed=s, options={"grammar": carry_grammar(RESULT)})
                   for said in ACKNOWLEDGED for s in range(args.n)]
        out["commentary"][name] = {"echoed": sum(bool(ECHOED.search(r)) for r in replies), "of": len(replies),
                                   "carried": sum(RESULT in r for r in replies), "replies": sorted(set(replies))}
    out["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
