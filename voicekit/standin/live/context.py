"""What the Live model knows: instructions, startup history, speech both ways, appended context.

The session keeps one ordered list of :class:`Entry` values and renders it as
:class:`~voicekit.standin.engines.llm.Turn` values for the LLM. Kinds and how the
small model reads them:

==============  =====================================================  ====================
kind            source                                                 LLM turn
==============  =====================================================  ====================
instructions    ``session.instructions.append`` (developer)            system
input           ``session.input`` at start (developer/user/assistant)  same role
user            the input transcript of one user utterance             user
assistant       what the model said, as far as it got                  assistant
commentary      ``session.commentary.append``: speakable context       system note (to tell)
thinking        ``session.thinking.append``: silent context            system note
==============  =====================================================  ====================

Commentary is a system note placed where it arrived, asking the model to tell
it: measured on SmolLM2-135M after a spoken acknowledgement (2026-12-01), the
note, a user turn and a tool result all gave "The robot moved ten meters
forward and stopped."; a tool result after the acknowledgement gave a loop of
"No, no, no", since the template moves tool results before the last user turn.
The note ends with the commentary: with the instruction after it ("News for the
user from the backend: ... Tell the user in one sentence."), the reply, which
carries the commentary first (:mod:`..engines.carry`), went on to read that
instruction out in 4 of 120 sampled replies; with the commentary last, in none
(``benchmarks/live_wording.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engines.llm import Turn

__all__ = ["Context", "Entry"]

THINKING_NOTE = "Background for you; do not read it aloud: {}"
COMMENTARY_NOTE = "Tell the user this news from the backend in one sentence: {}"


@dataclass(frozen=True)
class Entry:
    """One context entry: ``kind`` (see the module table), ``role`` for ``input`` items, ``text``."""

    kind: str
    text: str
    role: str = ""
    delegation_id: str | None = None


class Context:
    """The session's context, oldest first.

    Parameters
    ----------
    instructions : str
        The frontend instructions (resolved at start; immutable).
    input_items : list of dict
        ``session.input``: ``InitialItem`` dicts with one text part each.
    """

    def __init__(self, instructions: str, input_items: list[dict[str, object]]) -> None:
        self.instructions = instructions
        self.entries: list[Entry] = []
        for item in input_items:
            content = item["content"]
            assert isinstance(content, list)
            self.entries.append(Entry("input", str(content[0]["text"]), role=str(item["role"])))

    def add(self, kind: str, text: str, delegation_id: str | None = None) -> None:
        """Append an entry; empty text is ignored."""
        if text.strip():
            self.entries.append(Entry(kind, text.strip(), delegation_id=delegation_id))

    def turns(self, extra_system: str = "") -> list[Turn]:
        """The context as LLM turns, the instructions (and ``extra_system``) first."""
        system = self.instructions + (f"\n{extra_system}" if extra_system else "")
        out = [Turn("system", system)]
        for e in self.entries:
            if e.kind == "input":
                out.append(Turn("system" if e.role == "developer" else e.role, e.text))
            elif e.kind == "instructions":
                out.append(Turn("system", e.text))
            elif e.kind in ("user", "assistant"):
                out.append(Turn(e.kind, e.text))
            elif e.kind == "commentary":
                out.append(Turn("system", COMMENTARY_NOTE.format(e.text)))
            elif e.kind == "thinking":
                out.append(Turn("system", THINKING_NOTE.format(e.text)))
        return out

    def last_user_text(self) -> str:
        """The newest user utterance's transcript ('' if none)."""
        return next((e.text for e in reversed(self.entries) if e.kind == "user"), "")
