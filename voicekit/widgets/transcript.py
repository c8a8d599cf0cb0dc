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
        in the order they began: a new line goes at the end, so the newest turn is
        the last line whatever conversation it belongs to (a learner's live turn
        after another cell's conversation shows at the bottom, not above it). The
        one exception: a user line whose transcript arrived after its assistant line
        began goes just before that assistant line. A line is keyed by
        (conversation, turn, role), so an agent's ``reset()`` (a new conversation id)
        starts new lines under a divider and overwrites nothing. Where the lines
        switch conversation, a divider says "new conversation" (its first line) or
        "earlier conversation continues". Synced to the browser: text only, no audio;
        the browser's box scrolls to the last line.
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
            new = {"conversation": conversation, "turn": int(turn), "role": role, "text": text}
            # the user's transcript can arrive after the assistant began: it goes before that reply
            at = next((i for i, line in enumerate(lines) if role == "user" and line["role"] == "assistant"
                       and line.get("conversation", "") == conversation and line["turn"] == turn), len(lines))
            lines.insert(at, new)
        self.lines = lines[-self.max_lines:]

    def clear(self) -> None:
        """Remove every line."""
        self.lines = []

    @property
    def text(self) -> str:
        """The lines as plain text, one ``You:`` / ``Assistant:`` line each; where the
        conversation changes, ``--- new conversation ---`` (its first line) or
        ``--- earlier conversation continues ---`` (the browser shows the same dividers)."""
        out: list[str] = []
        previous = None
        seen: set[str] = set()
        for line in self.lines:
            conversation = line.get("conversation", "")
            if previous is not None and conversation != previous:
                out.append(f"--- {divider(conversation in seen)} ---")
            previous = conversation
            seen.add(conversation)
            out.append(f"{_label(line['role'])}: {line['text']}")
        return "\n".join(out)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(empty transcript)")


def divider(seen_before: bool) -> str:
    """The divider's words where the lines switch to a conversation (``transcript.js`` says the same)."""
    return "earlier conversation continues" if seen_before else "new conversation"


def _label(role: str) -> str:
    return "You" if role == "user" else "Assistant"
