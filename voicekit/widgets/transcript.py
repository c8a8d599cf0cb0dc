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
        ``{"turn": int, "role": "user" | "assistant", "text": str}``, in order.
        Synced to the browser: text only, no audio.
    """

    _esm = HERE / "transcript.js"
    _css = CSS
    lines = traitlets.List(traitlets.Dict()).tag(sync=True)
    max_lines = traitlets.Int(200).tag(sync=True)

    def show(self, turn: int, role: str, text: str) -> None:
        """Set the text of ``role``'s line in ``turn`` (added if new).

        Raises
        ------
        ValueError
            If ``role`` is not "user" or "assistant".
        """
        if role not in ROLES:
            raise ValueError(f"expected role 'user' or 'assistant', got {role!r}")
        lines = [dict(line) for line in self.lines]
        for line in lines:
            if line["turn"] == turn and line["role"] == role:
                line["text"] = text
                break
        else:
            lines.append({"turn": int(turn), "role": role, "text": text})
            # the user's transcript can arrive after the assistant began: keep turn order
            lines.sort(key=lambda line: (line["turn"], ROLES.index(line["role"])))
        self.lines = lines[-self.max_lines:]

    def clear(self) -> None:
        """Remove every line."""
        self.lines = []

    @property
    def text(self) -> str:
        """The conversation as plain text, one ``You:`` / ``Assistant:`` line each."""
        return "\n".join(f"{_label(line['role'])}: {line['text']}" for line in self.lines)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(empty transcript)")


def _label(role: str) -> str:
    return "You" if role == "user" else "Assistant"
