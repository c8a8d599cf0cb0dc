"""Backends for GPT-Live's client delegation: the work the voice model hands to your app.

With client delegation (``session.delegation`` omitted, or ``{"type": "client"}``) the
Live model emits ``session.delegation.created`` when a request needs reasoning or a
tool, and keeps talking (an acknowledgement). The application does the work and sends
the result back as ``session.commentary.append`` with that ``delegation_id``; the model
then speaks it (OpenAI guide "Delegation and tools in GPT-Live", live-delegation).

A backend here is any callable ``backend(task) -> str``: ``task`` is what the user
asked (their transcript since the model last spoke), the result is the text the voice
model should communicate. :class:`ChatBackend` and :class:`ResponsesBackend` are the
kit's own tool-using backends, over Chat Completions and the Responses API, with the
same :func:`voicekit.agents.tool` functions as the other agents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..agents.tools import Tool, Toolbox, ToolCallRecord

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["BACKEND_INSTRUCTIONS", "ChatBackend", "ResponsesBackend"]

BACKEND_INSTRUCTIONS = (
    "You are the backend of a voice assistant. Do the user's task with your tools, then "
    "state the result in one or two plain sentences for the voice model to say."
)
"""The backend prompt: business rules and tool use, kept apart from the voice prompt
(live-delegation: "start with your existing backend prompt")."""


@dataclass
class _Backend:
    client: OpenAI
    tools: Iterable[Tool | Callable[..., Any]] = ()
    model: str = "gpt-4.1-mini"
    instructions: str = BACKEND_INSTRUCTIONS
    tool_choice: str = "auto"
    """For the first request: ``"auto"``, ``"required"`` (always use a tool), ``"none"``."""
    max_tokens: int = 120
    calls: list[ToolCallRecord] = field(default_factory=list)
    """Every tool call this backend ran, in order."""

    def __post_init__(self) -> None:
        self.toolbox = Toolbox(self.tools)


class ChatBackend(_Backend):
    """Client delegation over Chat Completions: one request with tools, the tools run,
    a second request (``tool_choice="none"``) writes the result.

    Parameters
    ----------
    client : openai.OpenAI
        Any sync client (OpenAI, or the stand-in).
    tools : iterable of callables or Tool
        Typed, documented functions (:func:`voicekit.agents.tool`).
    model, instructions, tool_choice, max_tokens
        The chat model (default ``gpt-4.1-mini``), the backend prompt, the first
        request's tool choice, and the answer's token cap.
    """

    def __call__(self, task: str) -> str:
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.instructions},
                                          {"role": "user", "content": task}]
        extra: dict[str, Any] = {}
        if self.toolbox:
            extra = {"tools": self.toolbox.chat_tools(), "tool_choice": self.tool_choice}
        first = self.client.chat.completions.create(
            model=self.model, messages=messages, max_completion_tokens=self.max_tokens,  # type: ignore[arg-type]
            temperature=0, **extra)
        message = first.choices[0].message
        calls = [c for c in message.tool_calls or () if c.type == "function"]
        if not calls:
            return (message.content or "").strip()
        messages.append({"role": "assistant", "content": message.content, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.function.name, "arguments": c.function.arguments}}
            for c in calls]})
        for c in calls:
            record = self.toolbox.run(c.function.name, c.function.arguments, c.id)
            self.calls.append(record)
            messages.append({"role": "tool", "tool_call_id": c.id, "content": record.output})
        final = self.client.chat.completions.create(  # type: ignore[call-overload]
            model=self.model, messages=messages, max_completion_tokens=self.max_tokens, temperature=0,
            tools=self.toolbox.chat_tools(), tool_choice="none")
        return (final.choices[0].message.content or "").strip() or _outputs(self.calls[-len(calls):])


class ResponsesBackend(_Backend):
    """Client delegation over the Responses API: ``function_call`` items out, the tools
    run, ``function_call_output`` items back with ``previous_response_id``, then the
    result's ``output_text``. Parameters as :class:`ChatBackend`."""

    def __call__(self, task: str) -> str:
        extra: dict[str, Any] = {}
        if self.toolbox:
            extra = {"tools": self.toolbox.responses_tools(), "tool_choice": self.tool_choice}
        first = self.client.responses.create(
            model=self.model, instructions=self.instructions, input=task,
            max_output_tokens=self.max_tokens, temperature=0, **extra)
        calls = [o for o in first.output if o.type == "function_call"]
        if not calls:
            return first.output_text.strip()
        outputs = []
        for c in calls:
            record = self.toolbox.run(c.name, c.arguments, c.call_id)
            self.calls.append(record)
            outputs.append({"type": "function_call_output", "call_id": c.call_id, "output": record.output})
        final = self.client.responses.create(  # type: ignore[call-overload]
            model=self.model, instructions=self.instructions, input=outputs, previous_response_id=first.id,
            max_output_tokens=self.max_tokens, temperature=0, tools=self.toolbox.responses_tools(),
            tool_choice="none")
        return final.output_text.strip() or _outputs(self.calls[-len(calls):])


def _outputs(records: list[ToolCallRecord]) -> str:
    """The tools' own outputs, when the model wrote nothing about them."""
    return " ".join(r.output if isinstance(r.output, str) else json.dumps(r.output) for r in records)
