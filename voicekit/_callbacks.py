"""Callback lists that are safe to register from a re-run notebook cell.

Used by the widgets (``Recorder.on_chunk``, ``TalkButton.on_press``...) and the
sessions (``RealtimeSession.on_event``). See :class:`Callbacks` for the re-run rule.
"""

from __future__ import annotations

import logging
import types
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

__all__ = ["CallbackHandle", "Callbacks", "callback_key"]

logger = logging.getLogger("voicekit.widgets")

T = TypeVar("T")


class Callbacks(Generic[T]):
    """An ordered set of callbacks, each called with one value, safe to register from a re-run cell.

    **The re-run rule.** Registering a callback *replaces* any registered one with the
    same key, so a cell that registers a callback can be run again and again:

    - a function (``def keep(chunk): ...``) is keyed by its module and qualified name,
      so a re-run or edited cell that defines ``keep`` again replaces the old ``keep``;
    - a bound method (``agent._on_chunk``) by its function and its object, so two
      agents can listen at once, but one agent only once;
    - a lambda by where it was written (the cell's code and line), so re-running the
      same cell replaces it; an *edited* lambda cell adds a new one: prefer named
      functions, or keep the returned handle and call ``handle.remove()``;
    - anything else (a callable object) by identity.

    A callback that raises is logged with its traceback (to ``voicekit.widgets``) and
    handed to :attr:`on_failure` when set; the others still run: a comm message handler
    has no caller to raise to. Entries whose object has been closed (a bound method of a
    session or agent whose ``lifecycle`` is closed) are dropped when a new callback
    registers, so a replaced session does not keep raising.
    """

    def __init__(self, what: str) -> None:
        self._what = what
        self._items: dict[Hashable, Callable[[T], Any]] = {}
        self.on_failure: Callable[[str, BaseException], Any] | None = None
        """Called with (what, exception) when a callback raises; a widget shows it."""

    def register(self, callback: Callable[[T], Any], remove: bool = False) -> CallbackHandle:
        """Add ``callback`` (replacing one with the same key, see the class docstring), or
        remove the one with its key when ``remove``. Returns a handle whose ``remove()``
        takes it out again.

        Raises
        ------
        TypeError
            If ``callback`` is not callable.
        """
        if not callable(callback):
            raise TypeError(f"expected a callable for {self._what}, got {callback!r}")
        key = callback_key(callback)
        if remove:
            self._items.pop(key, None)
        else:
            self._items = {k: cb for k, cb in self._items.items() if not _owner_closed(cb)}
            self._items[key] = callback
        return CallbackHandle(self, key)

    def remove_key(self, key: Hashable) -> None:
        """Remove the callback registered under ``key``, if any."""
        self._items.pop(key, None)

    def __call__(self, value: T) -> None:
        for callback in list(self._items.values()):
            try:
                callback(value)
            except Exception as exc:
                logger.exception("%s callback %r failed", self._what, callback)
                if self.on_failure is not None:
                    self.on_failure(self._what, exc)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Callable[[T], Any]]:
        return iter(list(self._items.values()))


class CallbackHandle:
    """What registering a callback returns: ``remove()`` takes it out again (idempotent)."""

    def __init__(self, callbacks: Callbacks[Any], key: Hashable) -> None:
        self._callbacks, self.key = callbacks, key

    def remove(self) -> None:
        self._callbacks.remove_key(self.key)

    def __repr__(self) -> str:
        key = self.key
        name = key[1] if isinstance(key, tuple) and len(key) > 1 else key
        return f"<{self._callbacks._what} callback {name}>"


def callback_key(callback: Callable[..., Any]) -> Hashable:
    """The key under which :class:`Callbacks` keeps ``callback`` (see its re-run rule)."""
    inner = getattr(callback, "__wrapped__", None)
    if inner is not None and callable(inner):
        return callback_key(inner)
    if isinstance(callback, types.MethodType):
        return ("method", getattr(callback.__func__, "__qualname__", "?"), id(callback.__self__))
    qualname = getattr(callback, "__qualname__", None)
    if isinstance(callback, types.FunctionType) and isinstance(qualname, str):
        if "<lambda>" in qualname:
            code = callback.__code__
            return ("lambda", qualname, code.co_filename, code.co_firstlineno)
        return ("function", callback.__module__, qualname)
    return ("object", id(callback))


def _owner_closed(callback: Callable[..., Any]) -> bool:
    while getattr(callback, "__wrapped__", None) is not None:
        callback = callback.__wrapped__  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    life = getattr(owner, "lifecycle", None)
    return bool(getattr(life, "closed", False))
