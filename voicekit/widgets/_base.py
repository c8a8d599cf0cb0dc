"""Shared plumbing of the voicekit widgets: callback lists, PCM16 buffers, the logger."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import numpy.typing as npt

from ..errors import AudioFormatError

logger = logging.getLogger("voicekit.widgets")
"""Widget events go here: errors from the browser, lost chunks, failing callbacks."""

HERE = Path(__file__).parent
CSS = HERE / "widgets.css"

T = TypeVar("T")


def new_uid() -> str:
    """A random id that ties a Python widget to its one audio engine in the browser."""
    return uuid.uuid4().hex


class Callbacks(Generic[T]):
    """An ordered list of callbacks, each called with one value.

    A callback that raises is logged with its traceback (to ``voicekit.widgets``)
    and the others still run: a comm message handler has no caller to raise to.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: list[Callable[[T], Any]] = []

    def register(self, callback: Callable[[T], Any], remove: bool = False) -> None:
        if not callable(callback):
            raise TypeError(f"expected a callable for {self._what}, got {callback!r}")
        if remove:
            if callback in self._items:
                self._items.remove(callback)
        elif callback not in self._items:
            self._items.append(callback)

    def __call__(self, value: T) -> None:
        for callback in list(self._items):
            try:
                callback(value)
            except Exception:
                logger.exception("%s callback %r failed", self._what, callback)

    def __len__(self) -> int:
        return len(self._items)


def pcm16_from_buffer(buffer: Any, what: str) -> npt.NDArray[np.int16]:
    """PCM16 little-endian samples from one message buffer (a ``memoryview`` from the comm).

    Raises
    ------
    AudioFormatError
        If the byte count is odd (not a whole number of 16-bit samples).
    """
    raw = memoryview(buffer).cast("B")
    if raw.nbytes % 2:
        raise AudioFormatError(f"expected PCM16 in {what}, an even byte count, got {raw.nbytes}")
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)
