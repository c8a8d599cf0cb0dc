"""The constrained tool decision: its JSON schema (a grammar for llama.cpp, ``response_format``
for an upstream) and its system prompt."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .json_bounds import MAX_STRING_CHARS, bounded
from .llm_types import LLMUsage, TextDelta, ToolCall, ToolSpec, Turn

__all__ = ["MAX_ARGUMENT_CHARS", "decide_or_stream", "tool_choice_schema"]


MAX_ARGUMENT_CHARS = MAX_STRING_CHARS
"""The longest free string argument the decision grammar lets the model write. SmolLM2 can
loop inside a string ("a masterpiece of Shakespeare's language. It is a masterpiece..."),
and an unbounded string would run into the pass's token cap and fail as unfinished
JSON; with the bound the grammar closes the string and the call stays valid. Arrays are
bounded the same way (:data:`.json_bounds.MAX_ARRAY_ITEMS`): with ``tool_choice="required"``
SmolLM2 otherwise repeated one enum item (``"columns": ["id", "id", ...``) to the cap."""


def _inline_refs(schema: Any, defs: dict[str, Any] | None = None, seen: tuple[str, ...] = ()) -> Any:
    """``schema`` with its local ``$ref`` s (``#/$defs/X``, ``#/definitions/X``) replaced by what they name.

    Each tool's parameters become one branch of the decision schema, so a ``$ref`` to the
    tool's own ``$defs`` (what pydantic and ``openai.pydantic_function_tool`` write for an
    Enum or a nested model) would point at the wrong root. A recursive reference is left
    unconstrained (``{}``) at its second visit; the grammar has no recursion to offer.
    """
    if isinstance(schema, list):
        return [_inline_refs(s, defs, seen) for s in schema]
    if not isinstance(schema, dict):
        return schema
    if defs is None:
        defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith(("#/$defs/", "#/definitions/")):
        name = ref.rsplit("/", 1)[1]
        if name in seen or name not in defs:
            return {}
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {**_inline_refs(defs[name], defs, (*seen, name)), **_inline_refs(rest, defs, seen)}
    return {k: _inline_refs(v, defs, seen) for k, v in schema.items() if k not in ("$defs", "definitions")}


def tool_choice_schema(tools: Sequence[ToolSpec], allow_none: bool) -> dict[str, Any]:
    """The JSON schema the decision pass is constrained to.

    Parameters
    ----------
    tools : sequence of ToolSpec
        The tools the model may call (non-empty).
    allow_none : bool
        Whether ``{"tool": "none"}`` (reply instead) is allowed.

    Returns
    -------
    dict: ``{"anyOf": [...]}``, one branch per tool plus the optional "none" branch;
    free string arguments are bounded to :data:`MAX_ARGUMENT_CHARS` and arrays to
    :data:`.json_bounds.MAX_ARRAY_ITEMS` (:func:`.json_bounds.bounded`), and each tool's
    ``$defs`` references are inlined (:func:`_inline_refs`).
    """
    branches: list[dict[str, Any]] = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "arguments": bounded(_inline_refs(t.parameters or {"type": "object"}))},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in tools
    ]
    if allow_none:
        branches.append(
            {"type": "object", "properties": {"tool": {"const": "none"}}, "required": ["tool"], "additionalProperties": False}
        )
    return {"anyOf": branches}


def _decision_prompt(tools: Sequence[ToolSpec]) -> str:
    """The decision pass's system message.

    Of the wordings tried on SmolLM2-135M (benchmarks/chat.py's prompt set),
    this one picked right most often; the model still leans to "none".
    """
    lines = ["You can call these tools:"]
    for t in tools:
        props = (t.parameters or {}).get("properties", {})
        lines.append(f"- {t.name}: {t.description.strip()} Arguments: {json.dumps(props)}")
    # The same words with or without the "none" branch: when a call is required,
    # the schema alone removes "none" (wording it differently made choices worse).
    lines.append('If a tool helps answer the user, answer with the tool call as JSON. Otherwise answer {"tool": "none"}.')
    return "\n".join(lines)


def decide_or_stream(
    model: Any, turns: Sequence[Turn], tools: Sequence[ToolSpec], tool_choice: str | None, usage: LLMUsage,
    *, seed: int | None, **stream_args: Any,
) -> Iterator[TextDelta | ToolCall]:
    """One turn of ``model`` (``decide`` and ``stream`` as :class:`.llm.LLMEngine`'s): the
    decision pass when tools may be called, then its call, or else the streamed reply.

    ``tool_choice``: ``"auto"``, ``"required"``, ``"none"``/None, or a tool's name. Right
    after a tool result, ``"auto"`` replies without a decision. The call's time goes to
    ``usage.ttft_s``; when the decision pass began and ended, to ``usage.decision_start`` and
    ``usage.decision_done`` (``time.monotonic()`` s).

    Raises
    ------
    ValueError
        If ``tool_choice`` names a tool that is not in ``tools``.
    """
    after_tool = bool(turns) and turns[-1].role == "tool"
    if tools and tool_choice not in (None, "none") and not (tool_choice == "auto" and after_tool):
        choices = list(tools) if tool_choice in ("auto", "required") else [t for t in tools if t.name == tool_choice]
        if not choices:
            raise ValueError(f"tool_choice names {tool_choice!r}, expected one of {[t.name for t in tools]}")
        start = time.perf_counter()
        usage.decision_start = time.monotonic()
        call = model.decide(turns, choices, required=tool_choice != "auto", seed=seed, usage=usage)
        usage.decision_done = time.monotonic()
        if call is not None:
            usage.finish_reason = "tool_calls"
            usage.ttft_s = time.perf_counter() - start
            yield call
            return
    for text in model.stream(turns, seed=seed, usage=usage, **stream_args):
        yield TextDelta(text)
