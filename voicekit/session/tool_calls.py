"""The record of one tool call a turn made, the same on every turn type of the kit.

``turn.tool_calls`` is a list of :class:`ToolCallRecord` on a Realtime
:class:`~voicekit.realtime.Turn`, a GPT-Live :class:`~voicekit.live.turns.LiveTurn` and a
:class:`~voicekit.agents.CascadedTurn`, so that code comparing the agents (notebook 07)
reads them one way. A record is read by attribute (``call.name``) or by key
(``call["name"]``, as the Realtime ``function_call`` item it comes from).

Sources: a Realtime ``function_call`` item (``openai.types.realtime.RealtimeConversationItemFunctionCall``:
``name``, ``call_id``, ``arguments``), a Chat Completions tool call
(``openai.types.chat.ChatCompletionMessageToolCall``), a GPT-Live client delegation
(``session.delegation.created``; its ``delegation`` id as ``call_id``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["ToolCallRecord"]


@dataclass(eq=False)
class ToolCallRecord(Mapping[str, Any]):
    """One tool call the model made, and what it got back.

    Attributes
    ----------
    name : str
        The function's name (``"delegation"`` for a GPT-Live delegation).
    arguments : str
        The arguments as the model wrote them: JSON text (a GPT-Live delegation: the
        user's words it hands over).
    output : str or None
        The text the model read back (JSON for non-string results, or ``{"error": ...}``
        when the call failed, so the model can say so); None where the kit did not run
        it (no function given, or a delegation: see ``LiveSession.delegations``).
    ok : bool or None
        False when the call raised; None where the kit did not run it.
    call_id : str or None
        The call's id (``call_...``), or the delegation id.

    Equality is by value, with another record or with a mapping of the same five keys.
    """

    name: str
    arguments: str
    output: str | None = None
    ok: bool | None = None
    call_id: str | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in self._keys():
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))
