"""Stop a free-text reply at the number of sentences its instructions ask for.

SmolLM2-135M reads "Answer in one short sentence." and writes six (issue 25, item 7:
04b's first reply; 03's "Repeat what the user said."). OpenAI's models follow such an
instruction by ending their reply there, with ``finish_reason`` ``"stop"``. The local
engine does the same on the model's behalf: it stops generating (llama.cpp's own stop,
not a trim of text already sent) at the end of the sentence the instructions allow, and
reports ``"stop"``. Every API (Chat Completions, Responses, Realtime, GPT-Live) asks
the same engine, so the rule is the same on each.

Only an upper bound is read, and only when the instructions ask for exactly one count:
"one short sentence" (1), "one or two sentences" (2), "in three sentences", "at most
two sentences". "At least five sentences", a conditional second count ("When asked for
a story, tell a long one of at least five sentences.") or none at all leave the reply
alone, and so does structured output (a ``json_schema`` or ``grammar``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from .llm_types import Turn

__all__ = ["SentenceLimit", "asked_sentences", "usage_of_cut_reply"]

_NUMBERS = {"a": 1, "one": 1, "a single": 1, "single": 1, "two": 2, "three": 3, "four": 4, "five": 5,
            "six": 6, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "6": 6}
_NUMBER = r"(a single|single|one|two|three|four|five|six|[1-6]|a)"
_ASK = re.compile(
    rf"\b(at least |at most |no more than |in |with |of )?{_NUMBER}(?: or {_NUMBER})?"
    r"(?: (?:short|long|brief|full|complete|simple))? sentences?\b", re.IGNORECASE)
_END = re.compile(r"[.!?]+[\"')\]]*(?=\s)")
_ABBREVIATIONS = ("mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "vs.", "no.")


def asked_sentences(turns: Sequence[Turn]) -> int | None:
    """The most sentences the system (or developer) turns allow, or None for no limit.

    None when no count is asked, when the one count is a lower bound ("at least"), or
    when the instructions ask for more than one count (a conditional rule).
    """
    text = " ".join(t.content for t in turns if t.role in ("system", "developer"))
    asks = list(_ASK.finditer(text))
    if len(asks) != 1:
        return None
    bound, low, high = asks[0].group(1), asks[0].group(2), asks[0].group(3)
    if (bound or "").strip().lower() == "at least":
        return None
    return _NUMBERS[(high or low).lower()]


class SentenceLimit:
    """Feed the reply's text pieces; get back what may be sent, and whether it is complete.

    ``limit`` None passes everything through. A sentence ends at ``.``, ``!`` or ``?``
    (and closing quotes or brackets) followed by whitespace, so "10.5" and a piece that
    ends on a full stop are not counted until the next piece shows a space.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.done = False
        self.tokens = 0  # text pieces llama.cpp generated (one token each), counted after the cut too
        self._text = ""
        self._sent = 0

    def feed(self, piece: str) -> str:
        """The part of ``piece`` to send (empty once :attr:`done`)."""
        self.tokens += bool(piece)
        if self.done:
            return ""
        self._text += piece
        if self.limit is not None:
            ends = [m.end() for m in _END.finditer(self._text)
                    if not self._text[:m.end()].lower().endswith(_ABBREVIATIONS)]
            if len(ends) >= self.limit:
                cut = max(ends[self.limit - 1], self._sent)
                out, self._sent, self.done = self._text[self._sent:cut], cut, True
                return out
        out, self._sent = self._text[self._sent:], len(self._text)
        return out


def usage_of_cut_reply(complete: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any],
                       tokens: int) -> dict[str, Any]:
    """Token counts of a reply stopped at its sentence limit, in the Chat Completions ``usage`` shape.

    llama.cpp sends no usage for a generation it was told to stop, so the prompt is counted by
    a one-token pass over the same request (its prefix is in the slot's cache: about 30 ms),
    and the completion is the ``tokens`` generated. Cached tokens of the stopped pass are
    not known, and are reported as none.
    """
    counted = complete({**request, "stream": False, "max_tokens": 1})
    prompt = int((counted.get("usage") or {}).get("prompt_tokens", 0))
    return {"prompt_tokens": prompt, "completion_tokens": tokens, "total_tokens": prompt + tokens}
