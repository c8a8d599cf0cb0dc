"""Sessions and agents that live in a notebook: closed ones say so, replaced ones are closed.

Learners re-run cells. A re-run ``rt = RealtimeSession(...)`` makes a new session and
would leave the old connection open, still feeding its Player. So every session and
agent registers here (:func:`track`) under a key: **the cell that created it**, its
class, and how many of that class the cell had made before it in that run (as
:class:`voicekit._callbacks.Callbacks` keys a callback by where it was written). When
a cell run makes an object under a key that an earlier run of the same cell used, the
earlier object is closed on the spot and told which object replaces it (a Recorder
attached to it follows the replacement: :meth:`voicekit.session.VoiceSession._replaces`).
Nothing else is closed: an object kept in a dict, a ``SimpleNamespace`` or a DataFrame
cell stays open until ``close()`` or the kernel's exit (``atexit``).

The cell is the frontend's cell id (JupyterLab and Notebook 7 send one with each
execution, ``ExecutionInfo.cell_id``); without one (a plain IPython shell, nbval) it is
the cell's source text, so an *edited* cell counts as a new cell there.

A closed object raises :class:`~voicekit.errors.ClosedError` from every call that
would use it, naming why it closed and the cell (``In [n]``) that created it.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import Counter
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .errors import ClosedError

__all__ = ["Lifecycle", "closed_error", "track"]

logger = logging.getLogger("voicekit")


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
        self.cell: int | None = None
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


@dataclass
class _CellRun:
    """The cell running now: its key, its ``In [n]``, what it made so far."""

    key: Hashable
    count: int | None
    made: Counter[str] = field(default_factory=Counter)
    lifecycles: list[Lifecycle] = field(default_factory=list)


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_by_key: dict[Hashable, weakref.ref[Any]] = {}
_run: _CellRun | None = None
_installed = False


def track(owner: Closable) -> None:
    """Register ``owner`` (a :class:`Closable`) for exit cleanup, keyed by the cell making it;
    close the object an earlier run of that cell made in its place (see the module docstring)."""
    _install()
    _live.add(owner)
    run = _run
    if run is None:  # not made by a notebook cell (a script, a test, a callback)
        return
    life = owner.lifecycle
    life.cell = run.count
    run.lifecycles.append(life)
    key = (run.key, life.what, run.made[life.what])
    run.made[life.what] += 1
    earlier = _by_key.get(key)
    _by_key[key] = weakref.ref(owner)
    old = earlier() if earlier is not None else None
    if old is None or old is owner:
        return
    where = f"In [{run.count}]" if run.count is not None else "a re-run of its cell"
    _close(old, f"because {where} ran its cell again and made a new {life.what} in its place")
    replaces = getattr(owner, "_replaces", None)
    if replaces is not None:
        try:
            replaces(old)
        except Exception:  # the new object stays usable
            logger.exception("handing the replaced %s over failed", life.what)


def _install() -> None:
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_close_all, "at the kernel's exit")
    shell = _shell()
    if shell is not None:
        shell.events.register("pre_run_cell", _pre_run_cell)
        shell.events.register("post_run_cell", _post_run_cell)
        _adopt_running_cell(shell)


def _adopt_running_cell(shell: Any) -> None:
    """Installed from inside a cell (the kernel's first session is made there): key that
    cell too, from the execute request being run (ipykernel's parent header: its
    ``metadata.cellId``, else its code), or a re-run of it would not close what it made."""
    global _run
    kernel = getattr(shell, "kernel", None)
    try:
        parent = kernel.get_parent("shell") if kernel is not None else None
    except Exception:  # noqa: BLE001 -- not ipykernel: nothing to adopt
        return
    if _run is not None or not isinstance(parent, dict) or \
            (parent.get("header") or {}).get("msg_type") != "execute_request":
        return
    cell_id = (parent.get("metadata") or {}).get("cellId")
    count = getattr(shell, "execution_count", None)
    _run = _CellRun(("cell", cell_id) if cell_id else ("source", (parent.get("content") or {}).get("code", "")),
                    count - 1 if isinstance(count, int) else None)  # fixed in _post_run_cell


def _pre_run_cell(info: Any) -> None:
    global _run
    shell = _shell()
    count = getattr(shell, "execution_count", None)
    if isinstance(count, int) and getattr(info, "store_history", False):
        count -= 1  # IPython counts the cell up before pre_run_cell; fixed in _post_run_cell anyway
    cell_id = getattr(info, "cell_id", None)
    _run = _CellRun(("cell", cell_id) if cell_id else ("source", getattr(info, "raw_cell", "")),
                    count if isinstance(count, int) else None)


def _post_run_cell(result: Any) -> None:
    global _run
    run, _run = _run, None
    count = getattr(result, "execution_count", None)
    if run is not None and isinstance(count, int):
        for life in run.lifecycles:
            life.cell = count


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with Jupyter
        return None
    shell = get_ipython()
    return shell if shell is not None and hasattr(shell, "events") else None


def _close_all(reason: str) -> None:
    for owner in list(_live):
        _close(owner, reason)


def _close(owner: Closable, reason: str) -> None:
    try:
        if owner.lifecycle.close(reason):
            owner._shutdown()
    except Exception:  # cleanup must not break the cell or the exit
        logger.exception("closing %s failed", owner.lifecycle.what)
