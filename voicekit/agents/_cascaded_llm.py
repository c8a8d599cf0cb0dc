"""One cascaded turn's LLM stage: streamed Chat Completions, with tool rounds.

Used by :mod:`voicekit.agents.cascaded`. The reply streams in
(``client.chat.completions.create(stream=True, tools=...)``); each speakable piece
(:func:`voicekit.phrases.speakable`) goes to the TTS worker at once. Tool calls are run
(:class:`~voicekit.agents.tools.Toolbox`) and answered, and the model asked again, up
to ``max_tool_rounds`` times; the last request says ``tool_choice="none"``. Sources:
OpenAI guides "Function calling" and "Streaming API responses".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..phrases import speakable
from .cascaded_turn import CascadedTurn, Speaker
from .pricing import Usage
from .tools import Toolbox

if TYPE_CHECKING:
    from openai import OpenAI

__all__ = ["ChatSettings", "chat_rounds", "run_tools"]


class ChatSettings(Protocol):
    """What the LLM stage reads from the agent."""

    client: OpenAI
    llm_model: str
    max_tokens: int
    temperature: float | None
    toolbox: Toolbox
    tool_choice: str
    max_tool_rounds: int


def chat_rounds(agent: ChatSettings, turn: CascadedTurn, messages: list[dict[str, Any]], speaker: Speaker,
                show: Callable[[CascadedTurn], None]) -> None:
    """Stream the reply to ``messages`` into ``speaker`` piece by piece, running tool calls
    in between (``messages`` grows by the assistant's calls and the tools' answers).

    Stops early when ``turn`` is cancelled; runs no tool before the turn is adopted
    (its gate open). ``show(turn)`` is called as the reply text grows.
    """
    m = turn.metrics
    pending, first_piece = "", True
    for round_ in range(agent.max_tool_rounds + 1):
        options: dict[str, Any] = {}
        if agent.toolbox:
            choice = (turn.tool_choice or agent.tool_choice) if round_ == 0 else "auto"
            options = {"tools": agent.toolbox.chat_tools(),
                       "tool_choice": choice if round_ < agent.max_tool_rounds else "none"}
        if agent.temperature is not None:
            options["temperature"] = agent.temperature
        t_req = time.perf_counter()
        stream = agent.client.chat.completions.create(  # type: ignore[call-overload]
            model=agent.llm_model, messages=messages, stream=True,
            stream_options={"include_usage": True}, max_completion_tokens=agent.max_tokens, **options)
        content: list[str] = []
        calls: dict[int, dict[str, str]] = {}
        with stream:
            for chunk in stream:
                if turn.cancelled.is_set():
                    break
                if chunk.usage is not None:
                    m.add_usage(Usage.from_chat(agent.llm_model, chunk.usage))
                for choice in chunk.choices:
                    if choice.finish_reason == "length":
                        m.status = "incomplete"  # the reply hit max_tokens, as Realtime reports it
                    d = choice.delta
                    if m.llm_ttft_ms is None and (d.content or d.tool_calls):
                        m.llm_ttft_ms = 1000 * (time.perf_counter() - t_req)
                    for tc in d.tool_calls or ():
                        call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        call["id"] = tc.id or call["id"]
                        if tc.function is not None:
                            call["name"] += tc.function.name or ""
                            call["arguments"] += tc.function.arguments or ""
                    if d.content:
                        content.append(d.content)
                        turn.reply_text += d.content
                        show(turn)
                        pieces, pending = speakable(pending + d.content, first=first_piece)
                        for piece in pieces:
                            speaker.say(piece)
                            first_piece = False
        if turn.cancelled.is_set() or not calls:
            break
        if not turn.wait_gate() or turn.cancelled.is_set():  # no tool runs for a turn that may not happen
            return
        run_tools(agent.toolbox, turn, messages, "".join(content), list(calls.values()))
    if pending.strip() and not turn.cancelled.is_set():
        speaker.say(pending.strip())


def run_tools(toolbox: Toolbox, turn: CascadedTurn, messages: list[dict[str, Any]], content: str,
              calls: Sequence[dict[str, str]]) -> None:
    """Append the assistant's tool calls and each tool's answer to ``messages`` (a failing
    tool answers ``{"error": ...}``: :meth:`Toolbox.run` never raises)."""
    messages.append({"role": "assistant", "content": content or None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for c in calls]})
    for c in calls:
        record = toolbox.run(c["name"], c["arguments"], c["id"])
        turn.tool_calls.append(record)
        turn.metrics.tool_calls.append(record.name)
        messages.append({"role": "tool", "tool_call_id": c["id"], "content": record.output})
