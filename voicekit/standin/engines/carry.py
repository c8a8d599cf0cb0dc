"""A grammar that makes a reply carry a result: a tool's output, or a delegation's.

SmolLM2-135M reads a result well enough to talk *about* it, but not to repeat
it: asked about the weather after the result "In Paris it is sunny and eighteen
degrees.", it said "Paris, France, it's a beautiful day." Measured on
2026-12-06 (10 seeds at temperature 0.2, an 80-token reply): the result as a
system note at the end (the Live stand-in's placement) carried sunny and
eighteen in 2 of 10 replies, as the last user turn 2, merged into the system
prompt 1, and a tool result in JSON (``{"city": "Paris", "temperature_c": 18,
"conditions": "sunny"}``, the chat placement: a note before the question) 1.
Forcing the reply's first two or four words to be the result's gave 7 and 8.

So the reply is *constrained* (a llama.cpp GBNF grammar, its ``grammar`` request
field), not replaced: the model still writes every token, and the grammar only
rules out replies that leave the result out.

- A result in words (a Live ``session.commentary.append``, a tool output that is
  not JSON) is the reply's beginning: its first sentences (up to
  :data:`MAX_PREFIX_CHARS`) verbatim, then whatever the model adds, at most
  :data:`MAX_TAIL_CHARS`, or nothing. The protocol calls commentary "a result
  the model should communicate" (``openai.types.live.CommentaryAppendEvent``).
- A result in JSON gives facts: its first :data:`MAX_FACTS` short scalar values
  (strings of at most 40 characters, numbers; keys, booleans and nulls left
  out), which the reply must contain as whole words, in any order, each with
  its first letter in either case. Around them the model writes freely, at most
  :data:`MAX_GAP_CHARS` between two facts.

:func:`carry_grammar` returns None when there is nothing to carry.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from typing import Any

from .llm_types import Turn

__all__ = ["MAX_FACTS", "MAX_GAP_CHARS", "MAX_PREFIX_CHARS", "MAX_TAIL_CHARS", "carry_grammar", "facts_of", "with_carry_grammar"]

MAX_PREFIX_CHARS = 240
"""The most of a result in words that becomes the reply's beginning (whole sentences, or one cut at a word)."""

MAX_TAIL_CHARS = 80
"""The most the model may add after the carried result or its last fact."""

MAX_GAP_CHARS = 30
"""The most free text before the first fact and between two facts of a JSON result."""

MAX_FACTS = 4
"""Facts a JSON result contributes (4 facts in any order are 24 alternatives in the grammar)."""

_MAX_FACT_CHARS = 40
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _literal(text: str) -> str:
    """A GBNF string literal (GBNF takes JSON's escapes: \\", \\\\, \\n, \\uXXXX)."""
    return json.dumps(text)


def _either_case(fact: str) -> str:
    """The fact as a GBNF alternative: as given, and with its first letter in the other case."""
    other = fact[0].swapcase() + fact[1:]
    return _literal(fact) if other == fact else f"({_literal(fact)} | {_literal(other)})"


def facts_of(result: Any) -> list[str]:
    """The short scalar values of a parsed JSON result, in document order (at most :data:`MAX_FACTS`)."""
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, (int, float)):
            out.append(json.dumps(value))
        elif isinstance(value, str) and 0 < len(value.strip()) <= _MAX_FACT_CHARS:
            out.append(value.strip())

    walk(result)
    unique = list(dict.fromkeys(out))
    return unique[:MAX_FACTS]


def _prefix(text: str) -> str:
    """The result's first sentences, at most :data:`MAX_PREFIX_CHARS` (a longer first sentence is cut at a word)."""
    text = " ".join(text.split())
    if len(text) <= MAX_PREFIX_CHARS:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        if len(kept) + len(sentence) + 1 > MAX_PREFIX_CHARS:
            break
        kept = f"{kept} {sentence}".strip()
    return kept or text[:MAX_PREFIX_CHARS].rsplit(" ", 1)[0]


def carry_grammar(*results: str) -> str | None:
    """A GBNF grammar whose every reply carries the results (see the module docstring), or None.

    Parameters
    ----------
    *results : str
        Tools' outputs or a delegation's result, as the client sent them: JSON, or
        words. Several (the outputs of parallel calls) are carried as one: a JSON
        list when each is JSON, else their words joined.

    Returns
    -------
    str or None
        The grammar (llama.cpp's ``grammar`` request field); None for an empty
        result or JSON with no short scalar value.
    """
    texts = [r.strip() for r in results if r.strip()]
    if not texts:
        return None
    text = texts[0]
    if len(texts) > 1:
        try:
            text = json.dumps([json.loads(t) for t in texts])
        except ValueError:
            text = " ".join(texts)
    tail = f"tail ::= ([^A-Za-z0-9\\n] [^\\n]{{0,{MAX_TAIL_CHARS}}})?"
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if not isinstance(parsed, (dict, list)):
        return f"root ::= {_literal(_prefix(text))} tail\n{tail}\n"
    facts = facts_of(parsed)
    if not facts:
        return None
    names = [f"f{i}" for i in range(len(facts))]
    orders = " | ".join(" sep ".join(order) for order in itertools.permutations(names))
    rules = [
        f"root ::= lead ({orders}) tail",
        f"lead ::= ([^\\n]{{0,{MAX_GAP_CHARS}}} [ (])?",
        f"sep ::= [^A-Za-z0-9\\n] ([^\\n]{{0,{MAX_GAP_CHARS}}} [ (])?",
        tail,
        *(f"{name} ::= {_either_case(fact)}" for name, fact in zip(names, facts, strict=True)),
    ]
    return "\n".join(rules) + "\n"


def with_carry_grammar(turns: Sequence[Turn], options: dict[str, Any] | None) -> dict[str, Any] | None:
    """``options`` with a :mod:`.carry` grammar when the conversation ends on tool results.

    A reply written right after tool results must carry them (SmolLM2 otherwise
    talks about the weather without the tool's numbers). A request
    that constrains its reply itself (``json_schema``, ``grammar``) keeps its own.
    """
    outputs: list[str] = []
    for t in reversed(turns):
        if t.role != "tool":
            break
        outputs.insert(0, t.content)
    if not outputs or {"json_schema", "grammar"} & set(options or {}):
        return options
    grammar = carry_grammar(*outputs)
    return options if grammar is None else {**(options or {}), "grammar": grammar}
