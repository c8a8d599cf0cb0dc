"""When and what the Live model says: answers, delegations, acknowledgements, commentary.

Every spoken turn goes through :func:`say`, one at a time (a turn that comes
while another plays starts where it ends on the timeline). After each turn the
session sends ``session.usage.updated``.

- :func:`answer_user`: a user utterance has ended. With delegation configured
  the model first decides whether to delegate (:mod:`.delegation`); otherwise
  it answers.
- :func:`delegate`: ``session.delegation.created`` (``openai.types.live.DelegationCreatedEvent``)
  with the session's target, then an acknowledgement after
  ``acknowledgement_delay_ms`` unless commentary or thinking arrives first.
- :func:`speak_context`: after ``session.commentary.append`` the model speaks
  the result, under a grammar that makes the reply carry it (:mod:`..engines.carry`).
"""

from __future__ import annotations

import asyncio
import logging

from ..engines.carry import carry_grammar
from ..engines.llm import LanguageModel, Turn
from ..engines.upstream import UpstreamLLM
from ..realtime.headstart import HeadStart
from ..timings import TurnClock
from .delegation import ACK_GRAMMAR, ACK_INSTRUCTION, Delegation, delegation_rules, wants_delegation
from .errors import new_id
from .speaker import Outcome, Utterance
from .state import LiveState

__all__ = ["ACK_MAX_TOKENS", "CARRY_MAX_TOKENS", "REPLY_MAX_TOKENS", "answer_user", "cancel_acknowledgements", "delegate", "head_start",
           "say", "speak_context"]

log = logging.getLogger("voicekit.standin.live")

REPLY_MAX_TOKENS = 80
"""The LLM's budget for one spoken reply (about 50 words; Live answers are short)."""

CARRY_MAX_TOKENS = 120
"""The budget of a reply that carries commentary: the carried words (at most
:data:`..engines.carry.MAX_PREFIX_CHARS` characters) and the model's short addition."""

ACK_MAX_TOKENS = 24
"""The budget of an automatic acknowledgement (one short sentence)."""


async def say(conn: LiveState, *, extra_system: str = "", max_tokens: int = REPLY_MAX_TOKENS,
              head_start: HeadStart | None = None, grammar: str | None = None,
              clock: TurnClock | None = None) -> Outcome:
    """Speak one turn written by the LLM from the session context; returns how it went.

    ``grammar`` (GBNF) constrains what the LLM may write (:mod:`..engines.carry`).

    The turn joins the context as far as it was heard (all of it, unless it was stopped).
    ``head_start`` is adopted if it was made for exactly this turn (see :mod:`.speaker`);
    ``clock`` gets the turn's stage times (:mod:`..timings`).
    """
    assert conn.session is not None
    async with conn.speak_lock:
        if conn.closed:
            if head_start is not None:
                head_start.close()
            return Outcome(stopped=True)
        utterance = Utterance(conn.engines, conn.context.turns(extra_system),
                              voice=conn.session["audio"]["output"]["voice"], max_tokens=max_tokens,
                              emit=conn.emit, now_ms=conn.now_ms, not_before_ms=conn.output_end_ms,
                              first=not any(t.heard for t in conn.turns), head_start=head_start,
                              rate=int(conn.session["audio"]["format"]["rate"]), grammar=grammar, clock=clock,
                              timed_audio=conn.webrtc is not None)
        conn.current = utterance
        try:
            outcome = await utterance.play()
        finally:
            conn.current = None
        if outcome.end_ms is not None:
            conn.output_end_ms = float(outcome.end_ms)
        conn.last_prompt_tokens = outcome.usage.prompt_tokens
        conn.context.add("assistant", outcome.heard)
        conn.turns.append(outcome)
        if not conn.closed:
            conn.emit_usage()
        log.debug("model said %r%s", outcome.heard, " (stopped)" if outcome.stopped else "")
        return outcome


def _rules(conn: LiveState) -> list[str]:
    assert conn.session is not None
    texts = [conn.session["instructions"]]
    texts += [e.text for e in conn.context.entries if e.kind == "instructions"]
    backend = (conn.session["delegation"] or {}).get("responses") or {}
    if backend.get("instructions"):
        texts.append(str(backend["instructions"]))
    rules = delegation_rules(texts)
    for tool in backend.get("tools") or []:  # a backend tool is a delegation rule of its own
        rules.append(f"Delegate: {str(tool.get('name', '')).replace('_', ' ')}. {tool.get('description') or ''}")
    return rules


async def answer_user(conn: LiveState, head_start: HeadStart | None = None, clock: TurnClock | None = None) -> None:
    """The user's utterance has ended (its transcript is in the context): delegate it or answer it
    (``clock``: the utterance's stage times, :mod:`..timings`)."""
    assert conn.session is not None
    if conn.delegation_given:
        if head_start is not None:
            head_start.close()
        rules = _rules(conn)
        if conn.session["delegation"]["type"] == "responses" and not rules:
            rules = ["Delegate requests to the backend."]
        wanted, how = await asyncio.to_thread(wants_delegation, conn.engines.llm, conn.context.turns(), rules)
        if wanted and not conn.closed:
            log.debug("delegating (%s)", how)
            await delegate(conn)
            return
    await say(conn, head_start=head_start, clock=clock)


def head_start(conn: LiveState, transcript: str, clock: TurnClock | None = None) -> HeadStart | None:
    """Start the answer to a user utterance transcribed during its end-of-turn silence, or None.

    Only when the answer is certain to be a plain spoken reply: no delegation
    configured, the model silent, and nothing queued to say.
    """
    assert conn.session is not None
    if conn.delegation_given or conn.current is not None or conn.speak_lock.locked() or not transcript.strip():
        return None
    turns = [*conn.context.turns(), Turn("user", transcript.strip())]
    return HeadStart(conn.engines.llm, turns, tools=(), tool_choice="none", max_tokens=REPLY_MAX_TOKENS,
                     tts=conn.engines.tts, speech=(conn.session["audio"]["output"]["voice"], 1.0), clock=clock)


async def delegate(conn: LiveState) -> Delegation:
    """Emit ``session.delegation.created`` (or start the Responses backend) and schedule the acknowledgement."""
    assert conn.session is not None
    settings = conn.session["delegation"]
    target = settings["type"]
    delegation = Delegation(new_id("dlg"), target)
    conn.delegations[delegation.id] = delegation
    if target == "client":
        body: dict[str, object] = {"id": delegation.id, "target": target, "type": "delegation"}
        conn.emit({"type": "session.delegation.created", "delegation": body, "offset_ms": int(conn.now_ms())})
        delegation.announced = True
    else:  # announced with its response_id once the Responses backend has created the response
        assert conn.backend is not None
        conn.spawn(conn.backend.run(delegation))
    delay_s = int(settings.get("acknowledgement_delay_ms") or 0) / 1000
    task = asyncio.ensure_future(_acknowledge(conn, delay_s))
    conn.acks.add(task)
    task.add_done_callback(conn.acks.discard)
    return delegation


async def _acknowledge(conn: LiveState, delay_s: float) -> None:
    await asyncio.sleep(delay_s)
    conn.acks_started.add(asyncio.current_task())  # type: ignore[arg-type]
    await say(conn, extra_system=ACK_INSTRUCTION, max_tokens=ACK_MAX_TOKENS, grammar=ACK_GRAMMAR)


def cancel_acknowledgements(conn: LiveState) -> None:
    """Cancel every acknowledgement not yet requested (commentary or thinking arrived)."""
    for task in list(conn.acks):
        if task not in conn.acks_started:
            task.cancel()


async def speak_context(conn: LiveState) -> None:
    """Speak what the newest commentary says (it is already in the context).

    The reply is written under :func:`..engines.carry.carry_grammar` of that commentary,
    so it carries the result: SmolLM2 read it as a note and talked past it, carrying
    "sunny and eighteen degrees" in 2 of 10 replies (10 of 10 under the grammar).
    """
    newest = next((e.text for e in reversed(conn.context.entries) if e.kind == "commentary"), "")
    await say(conn, grammar=carry_grammar(newest), max_tokens=CARRY_MAX_TOKENS)


async def prefill(conn: LiveState) -> None:
    """Run the LLM's prompt pass over the session's instructions now, while the user speaks.

    llama.cpp keeps a prompt's state (its slot, and a prompt cache in RAM,
    :mod:`..engines.llm`), so a later prompt that starts the same way skips that
    part. A new session's first answer otherwise pays for its whole system prompt
    after the user stopped speaking (figures: ``benchmarks/README.md``, GPT-Live).
    Skipped with an upstream LLM (a paid request); a failure is logged, never sent
    (an optimisation).
    """
    llm = conn.engines.llm
    if isinstance(llm, UpstreamLLM):
        return
    turns = [*conn.context.turns(), Turn("user", "Hello.")]  # the prefix: up to the user's turn
    try:
        await asyncio.to_thread(_prompt_pass, llm, turns)
    except Exception:  # the answer will run the same pass and report its own error
        log.warning("prefilling the session's instructions failed", exc_info=True)


def _prompt_pass(llm: LanguageModel, turns: list[Turn]) -> None:
    for _ in llm.respond(turns, tool_choice="none", max_tokens=1):
        pass
