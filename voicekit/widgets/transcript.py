"""``Transcript``: the live text of a voice conversation, one line per speaker turn."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from ._base import CSS, HERE

__all__ = ["Transcript"]

ROLES = ("user", "assistant")


class Transcript(anywidget.AnyWidget):
    """User and assistant lines of a conversation, updated as text streams in.

    A :class:`~voicekit.realtime.RealtimeSession` given ``transcript=`` calls
    :meth:`show` with the user's input transcription and the assistant's audio
    transcript (or text) as they arrive. The browser renders the text as text
    (never as HTML).

    Parameters
    ----------
    max_lines : int
        Lines kept (default 200); the oldest go first.

    Attributes
    ----------
    lines : list of dict
        ``{"conversation": str, "turn": int, "role": "user" | "assistant", "text": str}``,
        in order: conversations in the order they first spoke, turns in order within
        each. A line is keyed by (conversation, turn, role), so an agent's ``reset()``
        (a new conversation id) starts new lines under a divider and overwrites
        nothing. Synced to the browser: text only, no audio.
    """

    _esm = HERE / "transcript.js"
    _css = CSS
    lines = traitlets.List(traitlets.Dict()).tag(sync=True)
    max_lines = traitlets.Int(200).tag(sync=True)

    def show(self, turn: int, role: str, text: str, conversation: str = "") -> None:
        """Set the text of ``role``'s line in ``turn`` of ``conversation`` (added if new).

        Parameters
        ----------
        turn : int
            The turn's index within its conversation (0, 1, 2...).
        role : str
            ``"user"`` or ``"assistant"``.
        text : str
            The whole text so far (not a delta).
        conversation : str
            The conversation's id (a Realtime session id, an agent's conversation id).

        Raises
        ------
        ValueError
            If ``role`` is not "user" or "assistant".
        """
        if role not in ROLES:
            raise ValueError(f"expected role 'user' or 'assistant', got {role!r}")
        lines = [dict(line) for line in self.lines]
        for line in lines:
            if line.get("conversation", "") == conversation and line["turn"] == turn and line["role"] == role:
                line["text"] = text
                break
        else:
            lines.append({"conversation": conversation, "turn": int(turn), "role": role, "text": text})
            # the user's transcript can arrive after the assistant began: keep turn order
            first: dict[str, int] = {}
            for line in lines:
                first.setdefault(line.get("conversation", ""), len(first))
            lines.sort(key=lambda line: (first[line.get("conversation", "")], line["turn"], ROLES.index(line["role"])))
        self.lines = lines[-self.max_lines:]

    def clear(self) -> None:
        """Remove every line."""
        self.lines = []

    @property
    def text(self) -> str:
        """The conversations as plain text, one ``You:`` / ``Assistant:`` line each, a
        ``--- new conversation ---`` line between conversations."""
        out: list[str] = []
        previous = None
        for line in self.lines:
            conversation = line.get("conversation", "")
            if previous is not None and conversation != previous:
                out.append("--- new conversation ---")
            previous = conversation
            out.append(f"{_label(line['role'])}: {line['text']}")
        return "\n".join(out)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(empty transcript)")


def _label(role: str) -> str:
    return "You" if role == "user" else "Assistant"
