"""A response's settings: the session's, with ``response.create``'s ``response`` overrides.

The session holds ``RealtimeSessionCreateRequest`` fields; ``response.create``
may override ``instructions``, ``output_modalities``, ``audio.output``,
``tools``, ``tool_choice``, ``max_output_tokens``, ``metadata``,
``conversation`` and ``input`` (SDK: ``openai.types.realtime.RealtimeResponseCreateParams``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engines.llm import ToolSpec
from .conversation import Item

__all__ = [
    "REALTIME_DEFAULT_MAX_TOKENS",
    "ResponseConfig",
    "reply_max_tokens",
    "response_config",
    "speech_of",
    "tool_choice_name",
    "tool_specs",
]

REALTIME_DEFAULT_MAX_TOKENS = 150
"""The reply cap when ``max_output_tokens`` is ``"inf"`` (about 100 words, 40 s of speech).

SmolLM2-135M sometimes rambles; a spoken reply that long is never wanted, and
Piper would spend seconds of CPU on it. A reply cut here ends ``incomplete``
with reason ``max_output_tokens``, so the cut is visible.
"""


@dataclass(frozen=True)
class ResponseConfig:
    """A response's settings: the session's, with ``response.create`` overrides applied.

    ``max_output_tokens`` is as sent (an int or ``"inf"``); ``context`` is the
    items the model reads (None: the whole conversation); ``conversation`` is
    ``"auto"`` (output joins the conversation) or ``"none"`` (out of band).
    """

    instructions: str
    output_modalities: tuple[str, ...]
    voice: str
    speed: float
    output_format: dict[str, Any]
    tools: tuple[ToolSpec, ...]
    tool_choice: str | None
    max_output_tokens: int | str
    metadata: dict[str, str] | None
    conversation: str
    context: list[Item] | None
    truncation: Any = "auto"


def tool_specs(tools: list[dict[str, Any]]) -> tuple[ToolSpec, ...]:
    """Session ``tools`` (``RealtimeFunctionTool`` dicts) as :class:`ToolSpec`."""
    return tuple(
        ToolSpec(t["name"], t.get("description") or "", t.get("parameters") or {"type": "object", "properties": {}})
        for t in tools
    )


def tool_choice_name(choice: Any) -> str | None:
    """``"auto"``, ``"none"``, ``"required"`` or ``{"type": "function", "name": ...}`` as the LLM's string."""
    if isinstance(choice, dict):
        return str(choice.get("name"))
    return None if choice is None else str(choice)


def speech_of(config: ResponseConfig) -> tuple[str, float] | None:
    """A response's ``(voice, speed)``, or None when it has no audio output."""
    return (config.voice, config.speed) if "audio" in config.output_modalities else None


def reply_max_tokens(config: ResponseConfig) -> int:
    """The LLM's token budget for a response: ``max_output_tokens``, or the reply cap for ``"inf"``."""
    return REALTIME_DEFAULT_MAX_TOKENS if config.max_output_tokens == "inf" else int(config.max_output_tokens)


def response_config(session: dict[str, Any], overrides: dict[str, Any], context: list[Item] | None) -> ResponseConfig:
    """The settings of a response in ``session`` with ``overrides`` (``response.create``'s
    ``response``); ``context`` is its ``input`` as items (None: the whole conversation)."""
    s = session
    out = (overrides.get("audio") or {}).get("output") or {}
    return ResponseConfig(
        instructions=overrides.get("instructions") or s["instructions"] or "",
        output_modalities=tuple(overrides.get("output_modalities") or s["output_modalities"]),
        voice=out.get("voice") or s["audio"]["output"]["voice"],
        speed=float(s["audio"]["output"].get("speed") or 1.0),
        output_format=out.get("format") or s["audio"]["output"]["format"],
        tools=tool_specs(overrides["tools"] if overrides.get("tools") is not None else s["tools"]),
        tool_choice=tool_choice_name(overrides.get("tool_choice", s["tool_choice"])),
        max_output_tokens=overrides.get("max_output_tokens", s["max_output_tokens"]) or "inf",
        metadata=overrides.get("metadata"),
        conversation=overrides.get("conversation") or "auto",
        context=context,
        truncation=s.get("truncation", "auto"),
    )
