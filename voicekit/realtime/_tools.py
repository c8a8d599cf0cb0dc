"""Running a Realtime session's function calls in Python and answering them.

Private to :mod:`voicekit.realtime`. When a ``response.done`` holds ``function_call``
items, each is run (``functions[name](**arguments)``, in a worker thread) and
answered with a ``function_call_output`` item, then one ``response.create`` asks the
model to go on (OpenAI guide "Realtime conversations", "Function calling").
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["MAX_TOOL_ROUNDS", "answer_tools", "function_calls"]

logger = logging.getLogger("voicekit.realtime")

MAX_TOOL_ROUNDS = 4
"""Tool calls answered in one turn before the follow-up ``response.create`` says
``tool_choice: "none"`` (a ``"required"`` tool choice would otherwise loop)."""


def function_calls(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``function_call`` items of a completed response (empty otherwise)."""
    if response.get("status") != "completed":
        return []
    return [dict(o) for o in response.get("output") or [] if o.get("type") == "function_call"]


async def answer_tools(calls: list[dict[str, Any]], functions: Mapping[str, Callable[..., Any]],
                       send: Callable[[dict[str, Any]], Awaitable[None]], *, rounds: int,
                       tool_choice: str | None, ran: Callable[[str, str, bool], None] | None = None) -> None:
    """Run ``calls``, the turn's ``rounds``-th, send their outputs and one ``response.create``
    (with ``tool_choice`` for that response unless None: then the session's; ``"none"`` from
    :data:`MAX_TOOL_ROUNDS` rounds on). A failing or unknown function answers
    ``{"error": ...}``: the model hears the error and can say so. ``ran(call_id, output, ok)`` is told each output."""
    for call in calls:
        fn = functions.get(call["name"])
        ok = True
        try:
            if fn is None:
                raise KeyError(f"no function named {call['name']!r} in RealtimeSession.functions")
            result = await asyncio.to_thread(fn, **json.loads(call.get("arguments") or "{}"))
            output = result if isinstance(result, str) else json.dumps(result)
        except Exception as exc:  # noqa: BLE001
            logger.warning("tool %s failed: %s", call["name"], exc)
            output, ok = json.dumps({"error": f"{type(exc).__name__}: {exc}"}), False
        if ran is not None:
            ran(call["call_id"], output, ok)
        await send({"type": "conversation.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"], "output": output}})
    if rounds >= MAX_TOOL_ROUNDS:
        tool_choice = "none"
    await send({"type": "response.create", **({"response": {"tool_choice": tool_choice}} if tool_choice else {})})
