"""Greedy (temperature 0) LLM requests run alone, so their answer does not depend on other sessions.

llama.cpp decodes the requests of its slots together, in one batch, and its
matrix products are not bit-identical across batch shapes: "llama.cpp does not
produce bit-for-bit identical results as the batch size is changed"
(ggml-org/llama.cpp pull request 6950; issue 7052, "Non-deterministic output of
the llama.cpp server when using multiple slots"). A greedy decode follows the largest logit, so when two
candidates are close, another session's request in the same batch can change
the answer: measured on the stand-in, a required tool call's argument went from
``{"minutes": 7}`` to ``{"city": "36"}`` while another session decoded a story
and a tool decision (``benchmarks/determinism.py``). The prompt cache has the
same effect: a prompt whose prefix was computed in another batch is not
processed bit for bit as it would be alone (ggml-org/llama.cpp issue 6734:
with ``cache_prompt`` the server's second answer differs from its first).

:class:`GreedyGate` is a readers-writer gate over the engine:

- a greedy request is *exclusive*: it waits until no other request decodes, and
  none starts while it runs;
- any other request is *shared*: such requests run together, as llama.cpp batches
  them, as long as no greedy request runs or waits (a waiting greedy request is
  served first, so a stream of sampled requests cannot starve it).

Greedy requests also skip the prompt cache (``cache_prompt: false``), so each is
computed from its whole prompt, the same way whatever ran before it. So the
same greedy request gives the same answer alone or under load, which is what a
temperature-0 self-check needs. Sampled requests (temperature > 0) keep the
batching and the cache; like OpenAI's ``seed``, their repeatability is best
effort.
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
        """``handle(req, *args)``, a llama.cpp request: alone and without the prompt cache if greedy.

        A request is greedy when its ``temperature`` is 0; it is then sent with
        ``cache_prompt: False`` (a copy of ``req``; the caller's dict is left as it is).
        """
        greedy = req.get("temperature") == 0
        if greedy:
            req = {**req, "cache_prompt": False}
        with self.hold(exclusive=greedy):
            return handle(req, *args)

    @property
    def busy(self) -> int:
        """How many requests hold the gate now (0, 1 greedy, or any number of shared)."""
        with self._cond:
            return 1 if self._exclusive else self._shared
