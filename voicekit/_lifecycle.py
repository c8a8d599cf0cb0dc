"""Sessions and agents that live in a notebook: closed ones say so, orphans are closed.

Learners re-run cells. A re-run ``rt = RealtimeSession(...)`` binds ``rt`` to a new
session and leaves the old connection open, still feeding its Player, with nothing in
the notebook able to reach it. So every session and agent registers here
(:func:`track`), and after each cell (IPython's ``post_run_cell`` event) the ones that
no variable of the notebook can reach any more are closed: a re-run cell never leaves
a second connection behind. The kernel's exit closes the rest (``atexit``).

"Reach" is followed from the notebook's variables (names starting with ``_`` and
IPython's ``In``/``Out`` history left out) through lists, tuples, sets, dicts, bound
methods, closures, ``functools.partial`` and the attributes of voicekit and
``__main__`` objects, so a session held by an agent, by a user's own object or by a
Recorder's callback still counts as reachable.

A closed object raises :class:`~voicekit.errors.ClosedError` from every call that
would use it, naming why it closed and the cell (``In [n]``) that created it.
"""

from __future__ import annotations

import atexit
import functools
import logging
import threading
import types
import weakref
from collections import deque
from collections.abc import Iterable
from typing import Any, Protocol

from .errors import ClosedError

__all__ = ["Lifecycle", "closed_error", "track"]

logger = logging.getLogger("voicekit")

MAX_DEPTH = 8
"""How many references deep the reachability walk follows from a notebook variable."""

MAX_NODES = 50_000
"""Objects visited per walk at most; past that every tracked object counts as reachable."""

_SKIP_NAMES = frozenset({"In", "Out", "exit", "quit", "get_ipython"})
_ATOMS = (str, bytes, bytearray, int, float, complex, bool, type(None), memoryview)


class Closable(Protocol):
    """What :func:`track` needs: a :class:`Lifecycle`, and ``_shutdown()`` to release the
    owner's resources (called once, after ``lifecycle.close`` returned True)."""

    lifecycle: Lifecycle

    def _shutdown(self) -> None: ...


class Lifecycle:
    """The open/closed state of one session or agent, and where it was made.

    Attributes
    ----------
    what : str
        The owner's class name.
    cell : int or None
        The IPython execution count of the cell that created it (None outside IPython).
    reason : str or None
        Why it closed, or None while open.
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.cell = _execution_count()
        self.reason: str | None = None
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        return self.reason is not None

    def close(self, reason: str = "by close()") -> bool:
        """Mark closed; True the first time (the caller then releases its resources)."""
        with self._lock:
            if self.reason is not None:
                return False
            self.reason = reason
            return True

    def check(self) -> None:
        """Raise :class:`ClosedError` if closed."""
        if self.reason is not None:
            raise closed_error(self)


def closed_error(life: Lifecycle) -> ClosedError:
    """The error for using ``life``'s owner after it closed."""
    where = f" (In [{life.cell}])" if life.cell is not None else ""
    return ClosedError(
        f"this {life.what} was closed {life.reason}. Run the cell that creates it again{where}, "
        "then the cells after it that use it.", what=life.what, reason=life.reason or "")


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_installed = False


def track(owner: Closable) -> None:
    """Register ``owner`` (a :class:`Closable`) for orphan and exit cleanup."""
    global _installed
    _live.add(owner)
    if _installed:
        return
    _installed = True
    atexit.register(_close_all, "at the kernel's exit")
    shell = _shell()
    if shell is not None:
        shell.events.register("post_run_cell", _sweep)


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None


def _execution_count() -> int | None:
    shell = _shell()
    count = getattr(shell, "execution_count", None)
    return count if isinstance(count, int) else None


def _close_all(reason: str) -> None:
    for owner in list(_live):
        _close(owner, reason)


def _close(owner: Closable, reason: str) -> None:
    try:
        if owner.lifecycle.close(reason):
            owner._shutdown()
    except Exception:  # cleanup must not break the cell or the exit
        logger.exception("closing %s failed", owner.lifecycle.what)


def _sweep(*_: Any) -> None:
    """After a cell: close every open tracked object no notebook variable reaches."""
    open_ = [o for o in list(_live) if not o.lifecycle.closed]
    shell = _shell()
    if not open_ or shell is None:
        return
    roots = [v for k, v in list(shell.user_ns.items()) if not k.startswith("_") and k not in _SKIP_NAMES]
    reached = _reachable(roots)
    if reached is None:
        return
    for owner in open_:
        if id(owner) not in reached:
            logger.info("closing an unreachable %s (created in In [%s])", owner.lifecycle.what, owner.lifecycle.cell)
            _close(owner, "because no variable refers to it any more (a re-run cell replaced it)")


def _reachable(roots: Iterable[Any]) -> set[int] | None:
    """ids of the objects reachable from ``roots``; None if the walk ran past MAX_NODES."""
    seen: set[int] = set()
    todo: deque[tuple[Any, int]] = deque((r, 0) for r in roots)
    while todo:
        node, depth = todo.pop()
        if id(node) in seen or isinstance(node, _ATOMS):
            continue
        seen.add(id(node))
        if len(seen) > MAX_NODES:
            return None
        if depth < MAX_DEPTH:
            todo.extend((child, depth + 1) for child in _children(node))
    return seen


def _children(node: Any) -> Iterable[Any]:
    if isinstance(node, (types.ModuleType, type)):
        return ()
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, (list, tuple, set, frozenset, deque)):
        return list(node)[:10_000]
    if isinstance(node, types.MethodType):
        return (node.__self__,)
    if isinstance(node, types.FunctionType):
        return [c.cell_contents for c in node.__closure__ or () if _has_contents(c)]
    if isinstance(node, functools.partial):
        return (node.func, *node.args, *node.keywords.values())
    module = type(node).__module__ or ""
    if module == "__main__" or module == "voicekit" or module.startswith("voicekit."):
        return list(getattr(node, "__dict__", {}).values())
    return ()


def _has_contents(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 -- an empty cell raises
    except ValueError:
        return False
    return True
