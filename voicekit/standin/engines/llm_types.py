"""The values that cross the LLM boundary: tools, turns, reply pieces and usage.

Shared by the local engine (:mod:`.llm`), an upstream (:mod:`.upstream`) and the
decision schema (:mod:`.tool_choice`), so none of them imports another for its types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["LLMUsage", "TextDelta", "ToolCall", "ToolSpec", "Turn"]


@dataclass(frozen=True)
class ToolSpec:
    """One function tool: ``name``, ``description`` and JSON-schema ``parameters``.

    Mirrors ``openai.types.shared_params.FunctionDefinition``.
    """

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class Turn:
    """One message as the model sees it: ``role`` is system, user, assistant or tool."""

    role: str
    content: str
    tool_name: str | None = None


@dataclass(frozen=True)
class TextDelta:
    """A piece of reply text, as it is generated."""

    text: str


@dataclass(frozen=True)
class ToolCall:
    """A decided tool call; ``arguments`` is a JSON object string."""

    name: str
    arguments: str


@dataclass
class LLMUsage:
    """Tokens the model really processed for one request (all passes summed).

    ``finish_reason`` is ``"stop"``, ``"length"`` or ``"tool_calls"``;
    ``ttft_s`` is the time to the first generated token in seconds.
    ``decision_start`` and ``decision_done`` are when the tool decision pass
    (:mod:`.tool_choice`) began and ended, ``time.monotonic()`` seconds (None when
    the turn had none): the stages ``tool_decision_start`` / ``tool_decision_done``
    of a spoken turn (:mod:`..timings`).
    """

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    finish_reason: str = "stop"
    ttft_s: float | None = None
    decision_start: float | None = None
    decision_done: float | None = None

    def decision_marks(self) -> dict[str, float]:
        """``{"tool_decision_start": s, "tool_decision_done": s}`` (monotonic s), those that happened."""
        marks = {"tool_decision_start": self.decision_start, "tool_decision_done": self.decision_done}
        return {k: v for k, v in marks.items() if v is not None}

    def add(self, usage: dict[str, Any]) -> None:
        self.prompt_tokens += int(usage.get("prompt_tokens", 0))
        self.completion_tokens += int(usage.get("completion_tokens", 0))
        details = usage.get("prompt_tokens_details") or {}
        self.cached_tokens += int(details.get("cached_tokens", 0))
