"""Which llama.cpp slot a reply decodes in: several reply slots decoding together, each going back to its session.

llama.cpp's server keeps ``n_parallel`` *slots*, each with its own KV cache
(:data:`.llm.N_CTX` tokens), and decodes the requests of busy slots together in
one batch (continuous batching). The stand-in's LLM has :func:`reply_slots`
reply slots (default :data:`DEFAULT_REPLY_SLOTS`, environment variable
:data:`SLOTS_ENV`) and one more slot, :func:`decision_slot`, for the tool
decision pass, whose prompt starts differently from a reply's. So up to that
many sessions' sampled replies decode at once instead of one after another;
greedy requests still run alone (:mod:`.greedy_gate`).

:class:`SlotPool` picks the slot (llama.cpp's ``id_slot``) itself, so a reply
goes where its conversation already is: among the free slots, the one whose
last prompt is a prefix (in whole messages) of this one, the longest such;
else the free slot used least recently (an empty one first), so a new session
does not evict another's cached conversation while a slot is idle. llama.cpp's
own choice (``slot_prompt_similarity``) would pick a slot that shares only the
system prompt, and two sessions with the same instructions would then take
turns evicting each other. With every slot busy a request waits for one.

Memory: each slot's KV cache is allocated when the model loads: for
SmolLM2-135M at 2,048 tokens, 45 MiB in ``f16`` (the default) and 24 MiB in
``q8_0`` (:mod:`.kv_cache`); it takes memory as the slot's conversations fill
it (:mod:`.zero_pages`), up to that size. The RSS this costs is measured in
``benchmarks/README.md`` ("A class", "Memory").
``VOICEKIT_LLM_SLOTS=1`` gives the memory back and replies run one at a time again.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["DEFAULT_REPLY_SLOTS", "SLOTS_ENV", "SlotPool", "decision_slot", "reply_slots"]

SLOTS_ENV = "VOICEKIT_LLM_SLOTS"
"""Environment variable with the number of reply slots (a positive integer)."""

DEFAULT_REPLY_SLOTS = 4
"""Reply slots when :data:`SLOTS_ENV` is unset: four sessions' replies decode together."""


def reply_slots() -> int:
    """The number of reply slots: :data:`SLOTS_ENV`, else :data:`DEFAULT_REPLY_SLOTS`.

    Raises
    ------
    ValueError
        If :data:`SLOTS_ENV` is set to anything but a positive integer.
    """
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if not raw:
        return DEFAULT_REPLY_SLOTS
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{SLOTS_ENV} must be a positive integer (LLM reply slots), got {raw!r}")
    return int(raw)


def decision_slot(n_reply: int) -> int:
    """The slot id of the tool decision pass: the one after the ``n_reply`` reply slots (0 .. n_reply - 1)."""
    return n_reply


Prompt = tuple[tuple[str, str], ...]


def prompt_key(messages: Sequence[dict[str, Any]]) -> Prompt:
    """A request's ``messages`` as ``((role, content), ...)``, what a slot's cache holds."""
    return tuple((str(m.get("role")), str(m.get("content"))) for m in messages)


class SlotPool:
    """``n`` reply slots, each held by one request at a time; :meth:`hold` picks one (see the module).

    Parameters
    ----------
    n : int
        Reply slots, ids ``0 .. n - 1``.
    """

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"expected at least one reply slot, got {n}")
        self.n = n
        self._cond = threading.Condition()
        self._busy: set[int] = set()
        self._prompts: list[Prompt] = [() for _ in range(n)]
        self._last_used: list[float] = [-math.inf] * n
        self._clock = itertools.count()

    def _pick(self, prompt: Prompt) -> int:
        free = [i for i in range(self.n) if i not in self._busy]

        def score(i: int) -> tuple[int, float]:
            held = self._prompts[i]
            resumes = bool(held) and prompt[: len(held)] == held
            return (len(held) if resumes else 0, -self._last_used[i])

        return max(free, key=score)

    @contextmanager
    def hold(self, messages: Sequence[dict[str, Any]]) -> Iterator[int]:
        """``with pool.hold(req["messages"]) as slot:`` a free slot for this prompt (waits while all are busy)."""
        prompt = prompt_key(messages)
        with self._cond:
            self._cond.wait_for(lambda: len(self._busy) < self.n)
            slot = self._pick(prompt)
            self._busy.add(slot)
            self._prompts[slot] = prompt
        try:
            yield slot
        finally:
            with self._cond:
                self._busy.discard(slot)
                self._last_used[slot] = next(self._clock)
                self._cond.notify_all()

    def run(self, handle: Any, req: dict[str, Any], *args: Any) -> Any:
        """``handle(req, *args)`` with ``req["id_slot"]`` set to a slot held for the call."""
        with self.hold(req.get("messages", ())) as slot:
            return handle({**req, "id_slot": slot}, *args)

    @property
    def busy(self) -> int:
        """How many slots decode a request now."""
        with self._cond:
            return len(self._busy)
