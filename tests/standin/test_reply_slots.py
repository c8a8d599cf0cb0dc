"""Several sessions' sampled replies decode together, each in the slot holding its conversation (engines.reply_slots)."""

from __future__ import annotations

import threading

import pytest

from voicekit.standin.engines.llm import Turn
from voicekit.standin.engines.reply_slots import (
    DEFAULT_REPLY_SLOTS,
    SLOTS_ENV,
    SlotPool,
    decision_slot,
    reply_slots,
)

SYSTEM = {"role": "system", "content": "You are a helpful assistant."}


def _user(text: str) -> dict:
    return {"role": "user", "content": text}


def test_a_session_goes_back_to_the_slot_holding_its_conversation():
    pool = SlotPool(3)
    a1 = [SYSTEM, _user("Tell me about cats.")]
    b1 = [SYSTEM, _user("Tell me about dogs.")]
    with pool.hold(a1) as slot_a:
        pass
    with pool.hold(b1) as slot_b:
        pass
    assert slot_a != slot_b  # a new session takes an empty slot, not the one sharing only the system prompt
    a2 = [*a1, {"role": "assistant", "content": "Cats purr."}, _user("And lions?")]
    b2 = [*b1, {"role": "assistant", "content": "Dogs bark."}, _user("And wolves?")]
    with pool.hold(b2) as again_b, pool.hold(a2) as again_a:
        assert (again_a, again_b) == (slot_a, slot_b)


def test_a_new_session_takes_the_least_recently_used_slot_when_none_is_empty():
    pool = SlotPool(2)
    for text in ("first", "second", "first again"):
        with pool.hold([SYSTEM, _user(text)]):
            pass
    # slot of "first" was reused by nobody ("first again" is not a continuation): it took the LRU one, slot 0
    with pool.hold([SYSTEM, _user("second"), {"role": "assistant", "content": "ok"}, _user("more")]) as slot:
        assert slot == 1  # "second" is still there


def test_requests_wait_while_every_slot_is_busy_and_run_in_different_slots():
    pool = SlotPool(2)
    held: list[int] = []
    third_in = threading.Event()
    with pool.hold([_user("a")]) as s0, pool.hold([_user("b")]) as s1:
        held += [s0, s1]
        assert pool.busy == 2

        def third() -> None:
            with pool.hold([_user("c")]) as s:
                held.append(s)
                third_in.set()

        t = threading.Thread(target=third)
        t.start()
        assert not third_in.wait(0.2)  # every slot busy: it waits
    assert third_in.wait(5)
    t.join(5)
    assert sorted(held[:2]) == [0, 1] and held[2] in (0, 1) and pool.busy == 0


def test_slot_count_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(SLOTS_ENV, raising=False)
    assert reply_slots() == DEFAULT_REPLY_SLOTS and decision_slot(4) == 4
    monkeypatch.setenv(SLOTS_ENV, "2")
    assert reply_slots() == 2
    monkeypatch.setenv(SLOTS_ENV, "zero")
    with pytest.raises(ValueError, match="positive integer"):
        reply_slots()


LONG = 'root ::= "la" (" la"){400}'
"""A grammar that cannot finish before ``max_tokens``: a reply that keeps decoding while another starts."""


def test_a_second_sessions_sampled_reply_starts_while_the_first_still_decodes(monkeypatch):
    """On one reply slot the second reply waited for the whole first one; now they decode together."""
    from voicekit.standin.engines.llm import LLMEngine

    monkeypatch.delenv(SLOTS_ENV, raising=False)
    engine = LLMEngine()
    events: list[str] = []
    lock = threading.Lock()
    first_started = threading.Event()

    def consume(name: str, turns: list[Turn], options: dict | None, max_tokens: int) -> None:
        for _ in engine.stream(turns, temperature=0.7, max_tokens=max_tokens, options=options):
            with lock:
                if not events or events[-1] != f"{name} piece":
                    events.append(f"{name} piece")
            first_started.set()
        with lock:
            events.append(f"{name} done")

    a = threading.Thread(target=consume, args=("a", [Turn("user", "Sing.")], {"grammar": LONG}, 300))
    a.start()
    assert first_started.wait(60)
    b = threading.Thread(target=consume, args=("b", [Turn("user", "Say hello.")], None, 8))
    b.start()
    a.join(120)
    b.join(120)
    assert events.index("b piece") < events.index("a done"), events
