"""Giving up a Whisper run that is no longer wanted, at its next engine call.

faster-whisper runs a clip as CTranslate2 calls: one encoder pass per 30 s window,
then one decoder pass per temperature of the fallback schedule (greedy first; a
low average log probability, as on a clip cut mid-word, decodes again at 0.2, 0.4,
...). No call can be interrupted, but a run can stop between them.
:class:`AbandonableWhisper` wraps the CTranslate2 model of a
``faster_whisper.WhisperModel`` and, before each ``encode``, ``generate`` and
``detect_language``, raises :class:`Abandoned` if the event of the run being
stepped is set; :func:`abandonable` steps a run's segments with its event.

The Realtime stand-in's speculative Whisper (:mod:`..realtime.lookahead`) uses it:
a run started at a pause is stale once speech resumes, and it holds the Whisper
lock that the run for the next pause (perhaps the one that ends the turn) waits for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, TypeVar

__all__ = ["AbandonableWhisper", "Abandoned", "abandonable"]

T = TypeVar("T")

_END = object()


class Abandoned(Exception):
    """The run's event was set before its next engine call: its result is no longer wanted."""


class AbandonableWhisper:
    """A CTranslate2 ``Whisper`` whose ``encode``, ``generate`` and ``detect_language``
    first check :attr:`abandon` (the event of the run being stepped; None: never)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self._local = threading.local()  # with Whisper replicas, two runs step at once, each on its thread

    @property
    def abandon(self) -> threading.Event | None:
        """The event of the run this thread is stepping (None: never abandoned)."""
        return getattr(self._local, "abandon", None)

    @abandon.setter
    def abandon(self, event: threading.Event | None) -> None:
        self._local.abandon = event

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def _check(self) -> None:
        if self.abandon is not None and self.abandon.is_set():
            raise Abandoned("Whisper run abandoned")

    def encode(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._model.encode(*args, **kwargs)

    def generate(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._model.generate(*args, **kwargs)

    def detect_language(self, *args: Any, **kwargs: Any) -> Any:
        self._check()
        return self._model.detect_language(*args, **kwargs)


def abandonable(model: AbandonableWhisper, abandon: threading.Event | None, steps: Iterator[T]) -> Iterator[T]:
    """Yield from ``steps`` (a faster-whisper segment generator on ``model``) with ``abandon``
    as the model's event while each next segment is computed (the event is per thread, so runs stepped at once on
    Whisper's replicas do not see each other's).

    Raises
    ------
    Abandoned
        From the step during which ``abandon`` was found set.
    """
    while True:
        if abandon is not None and abandon.is_set():
            raise Abandoned("Whisper run abandoned")
        model.abandon = abandon
        try:
            item = next(steps, _END)
        finally:
            model.abandon = None
        if item is _END:
            return
        yield item  # type: ignore[misc]
