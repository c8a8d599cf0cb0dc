"""The tool decision pass, stopped as soon as it has decided to reply instead of calling a tool.

The decision pass (:mod:`.tool_choice`) asks the model for ``{"tool": "none"}`` or
``{"tool": "<name>", "arguments": {...}}`` under a grammar. Once the text written so far
can only end as ``{"tool": "none"}`` (the name under way is a prefix of ``none`` and of no
tool's name, or it is complete), the rest (the closing quote and brace, and the end of
generation) is fixed by the grammar and carries no information, so the pass stops there:
llama.cpp streams the pass to :class:`EarlyDecision`, which tells it to stop at its next
token. The tokens written up to that point are the same ones the whole pass writes
(greedy decoding, the same grammar and prompt), so the decision is the one the whole
pass would have made; a tool call is always written to its end. What it saves is
measured in ``benchmarks/README.md`` ("A turn with tools").

Token counts come from llama.cpp's per-token timings (``timings_per_token``: ``prompt_n``,
``cache_n``, ``predicted_n``), since a stopped stream sends no ``usage``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["EarlyDecision", "settled_none"]

_NAME = re.compile(r'\s*\{\s*"tool"\s*:\s*"([^"\\]*)(")?')
"""The decision JSON up to its tool name (the schema puts ``tool`` first), maybe unfinished."""


def settled_none(text: str, names: Sequence[str]) -> bool:
    """Whether the decision JSON written so far (``text``) can only end as ``{"tool": "none"}``.

    Parameters
    ----------
    text : str
        The pass's output so far (JSON, maybe cut anywhere).
    names : sequence of str
        The names of the tools the pass may call.

    Returns
    -------
    bool
        True once the tool name written is ``none``, or a non-empty start of ``none`` that
        starts no name in ``names``; False while it may still become a call.
    """
    match = _NAME.match(text)
    if match is None:
        return False
    name, closed = match.group(1), match.group(2) is not None
    if closed:
        return name == "none"
    return bool(name) and "none".startswith(name) and not any(n.startswith(name) for n in names)


class EarlyDecision:
    """The streaming callback of one decision pass: collects its text, and stops it once decided.

    Parameters
    ----------
    names : sequence of str
        The tools the pass may call.
    allow_none : bool
        Whether ``{"tool": "none"}`` is allowed (False: the pass is never stopped early).

    Attributes
    ----------
    text : str
        The output so far.
    stopped : bool
        Whether the pass was stopped because it decided ``none``.
    usage : dict
        The pass's token counts in the Chat Completions ``usage`` shape (``prompt_tokens``,
        ``completion_tokens``, ``total_tokens``, ``prompt_tokens_details.cached_tokens``).
    error : dict or None
        A chunk that carried llama.cpp's ``error``.
    """

    def __init__(self, names: Sequence[str], allow_none: bool) -> None:
        self.names = tuple(names)
        self.allow_none = allow_none
        self.text = ""
        self.stopped = False
        self.error: dict[str, Any] | None = None
        self._timings: dict[str, Any] = {}
        self._usage: dict[str, Any] | None = None

    def __call__(self, chunk: dict[str, Any]) -> bool:
        """Take one streamed chunk; True tells llama.cpp to stop."""
        if "error" in chunk:
            self.error = chunk
            return True
        if isinstance(chunk.get("timings"), dict):
            self._timings = chunk["timings"]
        if chunk.get("usage"):
            self._usage = chunk["usage"]
        for choice in chunk.get("choices", []):
            self.text += (choice.get("delta") or {}).get("content") or ""
        if self.allow_none and not self.stopped and settled_none(self.text, self.names):
            self.stopped = True
        return self.stopped

    @property
    def usage(self) -> dict[str, Any]:
        if self._usage is not None and not self.stopped:
            return self._usage
        cached = int(self._timings.get("cache_n", 0))
        prompt = cached + int(self._timings.get("prompt_n", 0))
        completion = int(self._timings.get("predicted_n", 0))
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached}}

    def result(self) -> dict[str, Any] | None:
        """The decided JSON object: ``{"tool": "none"}`` when stopped early, else the parsed text.

        Raises
        ------
        json.JSONDecodeError
            If the pass ended without finishing its JSON (it filled the context).
        """
        if self.stopped:
            return {"tool": "none"}
        obj = json.loads(self.text)
        return obj if isinstance(obj, dict) else None


def stream_request(req: dict[str, Any]) -> dict[str, Any]:
    """``req`` (a llama.cpp chat request) as a stream with per-token timings and usage."""
    return {**req, "stream": True, "stream_options": {"include_usage": True}, "timings_per_token": True}
