"""Greedy (temperature 0) LLM requests run alone, so their answer does not depend on other sessions.

llama.cpp decodes the requests of its slots together, in one batch, and it does
not promise the same result then: "llama.cpp does not produce bit-for-bit
identical results as the batch size is changed" (ggml-org/llama.cpp pull
request 6950; issue 7052, "Non-deterministic output of the llama.cpp server
when using multiple slots"). On the stand-in it was worse than rounding. While
other sessions asked for stories and tool calls, a required tool call for "Set
a timer for seven minutes please." came back as ``get_weather({"city":
"city_9"})``, words of the *other* session's prompt ("Weather in city number
9 ..."): 5 of 6 rounds of six greedy questions changed under load
(``benchmarks/determinism.py``, 2026-12-06). With this gate, 0 of 12 rounds
changed. Sampled replies were not seen to mix (two sessions at once, 24
replies, each repeating its own secret word).

:class:`GreedyGate` is a readers-writer gate over the engine:

- a greedy request (every tool decision, and any request with
  ``temperature=0``) is *exclusive*: it waits until no other request decodes,
  and none starts while it runs;
- any other request is *shared*: such requests run together, as llama.cpp
  batches them, as long as no greedy request runs or waits (a waiting greedy
  request is served first, so sampled requests cannot starve it).

So the same greedy request gives the same answer alone or under load, which a
temperature-0 self-check needs. Greedy requests keep llama.cpp's prompt cache.
Skipping it (``cache_prompt: false``) would also rule out the small differences
of a cached prefix (ggml-org/llama.cpp issue 6734), but it cost every GPT-Live
turn after 04b's Run All 3 s (its long conversation processed again on each
decision: 4.1-5.0 s against 1.2-2.5 s with the cache, load about 1,
``benchmarks/live_after_run_all.py``), and the rounds above did not need it. So
a greedy answer repeats under load; after a different history of requests it
may, rarely, not. Sampled requests keep the batching; like OpenAI's ``seed``,
their repeatability is best effort.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")

__all__ = ["GreedyGate"]


class GreedyGate:
    """A writer-preferring readers-writer lock: :meth:`hold` ``(exclusive=True)`` runs alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0  # requests decoding together now
        self._exclusive = False  # a greedy request decodes now
        self._waiting_exclusive = 0

    @contextmanager
    def hold(self, *, exclusive: bool) -> Iterator[None]:
        """Hold the engine for one request: alone if ``exclusive``, else beside other shared holders."""
        with self._cond:
            if exclusive:
                self._waiting_exclusive += 1
                try:
                    self._cond.wait_for(lambda: not self._exclusive and self._shared == 0)
                finally:
                    self._waiting_exclusive -= 1
                self._exclusive = True
            else:
                self._cond.wait_for(lambda: not self._exclusive and self._waiting_exclusive == 0)
                self._shared += 1
        try:
            yield
        finally:
            with self._cond:
                if exclusive:
                    self._exclusive = False
                else:
                    self._shared -= 1
                self._cond.notify_all()

    def run(self, handle: Callable[..., T], req: dict[str, Any], *args: Any) -> T:
        """``handle(req, *args)``, a llama.cpp request, run alone if greedy (its ``temperature`` is 0)."""
        greedy = req.get("temperature") == 0
        with self.hold(exclusive=greedy):
            return handle(req, *args)

    @property
    def busy(self) -> int:
        """How many requests hold the gate now (0, 1 greedy, or any number of shared)."""
        with self._cond:
            return 1 if self._exclusive else self._shared
