"""When the Live model hands work to the backend: the decision, and the delegations in flight.

The decision
------------
With the stand-in's own SmolLM2-135M, a transparent rule decides: the request
is delegated when one of its content words (4 letters or more, not a stop word)
starts like a content word of a delegation rule, on their first 4 letters
("forward" matches "forward", "moving" matches "move"); a rule with no content
word ("Always delegate.") covers every request. The rules are the sentences of
the frontend instructions (and of ``session.instructions.append`` and, with
Responses delegation, the backend instructions) that mention delegating or the
backend.

The model's own judgement is not used there, because SmolLM2's answer from the
grammar-constrained tool decision pass
(:meth:`voicekit.standin.engines.llm.LLMEngine.decide`, the pass the chat
endpoint uses for ``tool_choice="auto"``) is near chance: backed by the rule it
decided fewer requests right than the rule alone, and it sent "Please tell me a
long story about a dragon." to a weather backend. With an upstream LLM
(:class:`voicekit.standin.engines.upstream.UpstreamLLM`), that pass runs first,
with one tool, :data:`DELEGATE_TOOL_NAME`, described by the rules, and the rule
backs it up. The stand-in only considers delegating when the session's
``delegation`` was given at start; with none (the default is client delegation)
it answers every request itself, since it could not judge from the instructions
alone.

Acknowledgement
---------------
After ``session.delegation.created``, the model speaks a short
acknowledgement ``acknowledgement_delay_ms`` later (``ClientDelegation``
docstring; default 0); any ``session.commentary.append`` or
``session.thinking.append`` in the meantime cancels every pending
acknowledgement. The acknowledgement is written under :data:`ACK_GRAMMAR`,
so that it says the request is being checked rather than guessing the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..engines.llm import LanguageModel, ToolSpec, Turn
from ..engines.upstream import UpstreamLLM

__all__ = ["ACK_GRAMMAR", "ACK_INSTRUCTION", "DELEGATE_TOOL_NAME", "Delegation", "delegation_rules", "rule_matches",
           "wants_delegation"]

DELEGATE_TOOL_NAME = "delegate"

ACK_INSTRUCTION = ("You have passed the user's request to a colleague who is working on it. In one short "
                   "sentence, tell the user you are checking. Give no answer yet.")

ACK_GRAMMAR = ('root ::= opening rest\n'
               'opening ::= "Let me check" | "Let me look" | "One moment" | "I am checking" | "I will check"\n'
               'rest ::= [^0-9\\n.!?]{0,48} [.!]\n')
"""The acknowledgement's GBNF grammar (llama.cpp's ``grammar`` field): it opens as a check does,
holds no digit, and ends at its first sentence; the model writes the rest ("I am checking the
weather in Paris today."). Asked by :data:`ACK_INSTRUCTION` alone, SmolLM2-135M guessed the
answer instead in 50 of 60 sampled acknowledgements ("Paris is currently in the midst of a
heatwave, with temperatures reaching 40 degrees"), which the delegation's true result then
contradicted; under the grammar in none of 60 (``benchmarks/live_wording.py``)."""

_RULE_WORDS = re.compile(r"delegat|backend|hand off|hand over|hand it|hand the|look up|look it up|ask the application",
                         re.IGNORECASE)
_WORD = re.compile(r"[a-z]+")
_STOP = frozenset([
    "about", "above", "after", "again", "also", "always", "answer", "anything", "asks", "asked", "back",
    "backend", "before", "being", "both", "cannot", "could", "delegate", "delegated", "delegates", "delegation",
    "does", "doing", "each", "every", "from", "have", "having", "here", "into", "just", "like", "make", "many",
    "more", "most", "must", "never", "only", "other", "over", "please", "question", "questions", "request",
    "requests", "same", "should", "some", "such", "than", "that", "their", "them", "then", "there", "these",
    "they", "this", "those", "through", "tool", "tools", "user", "users", "very", "want", "what", "when", "where",
    "which", "while", "will", "with", "would", "your", "yours", "yourself", "that's", "it's", "don't", "dont",
    "send", "task", "tasks", "work", "handle", "handles", "handled", "everything", "something",
])


@dataclass
class Delegation:
    """One delegation: ``id`` (``dlg_...``), ``target`` (client or responses), whether it is ``answered``
    and whether ``session.delegation.created`` has been sent (``announced``)."""

    id: str
    target: str
    answered: bool = False
    announced: bool = False


def delegation_rules(texts: list[str]) -> list[str]:
    """The sentences of ``texts`` that say what to delegate (they mention delegating or the backend)."""
    out = []
    for text in texts:
        for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text):
            if _RULE_WORDS.search(sentence):
                out.append(sentence.strip())
    return out


def _content_words(text: str) -> set[str]:
    return {w[:4] for w in _WORD.findall(text.lower()) if len(w) >= 4 and w not in _STOP}


def rule_matches(request: str, rules: list[str]) -> bool:
    """Whether ``request`` shares a content word (first 4 letters) with a delegation rule.

    A rule with no content word of its own ("Always delegate.", "Delegate every
    request to the backend.") covers every request.
    """
    words = [_content_words(r) for r in rules]
    if any(not w for w in words):
        return bool(request.strip())
    return bool(set().union(*words) & _content_words(request))


def wants_delegation(llm: LanguageModel, turns: list[Turn], rules: list[str]) -> tuple[bool, str]:
    """Decide whether the newest user turn goes to the backend; returns ``(delegate, how)``.

    ``how`` is ``"decision_pass"`` when an upstream LLM's constrained pass chose the
    delegate tool, ``"rule"`` when the word rule did, ``"none"`` otherwise (see
    "The decision" above). With an upstream LLM this makes a request: call it on a
    worker thread.
    """
    if not rules:
        return False, "none"
    if isinstance(llm, UpstreamLLM):
        tool = ToolSpec(DELEGATE_TOOL_NAME, "Hand the user's request to the backend. " + " ".join(rules),
                        {"type": "object", "properties": {"request": {"type": "string", "maxLength": 80}},
                         "required": ["request"]})
        try:
            call = llm.decide(turns, [tool], required=False)
        except Exception:  # noqa: BLE001 -- a decision cut at its token cap counts as "none"
            call = None
        if call is not None:
            return True, "decision_pass"
    users = [t.content for t in turns if t.role == "user"]
    if users and rule_matches(users[-1], rules):
        return True, "rule"
    return False, "none"
