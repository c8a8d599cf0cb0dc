"""voicekit._callbacks: registering from a re-run cell replaces, never adds a second callback."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest

from voicekit._callbacks import Callbacks, callback_key


def test_a_redefined_function_replaces_the_old_one() -> None:
    cb: Callbacks[int] = Callbacks("on_chunk")
    seen: list[tuple[str, int]] = []

    def keep(v: int) -> None:  # the cell's first run
        seen.append(("old", v))

    cb.register(keep)

    def keep(v: int) -> None:
        seen.append(("new", v))

    cb.register(keep)
    cb(1)
    assert seen == [("new", 1)] and len(cb) == 1


def test_the_same_lambda_line_replaces_but_two_lambdas_stay() -> None:
    cb: Callbacks[int] = Callbacks("on_chunk")
    seen: list[str] = []
    for _ in range(3):  # one line, run three times: a re-run cell
        cb.register(lambda v: seen.append("a"))
    cb.register(lambda v: seen.append("b"))
    cb(0)
    assert sorted(seen) == ["a", "b"]


class _Sink:
    def __init__(self) -> None:
        self.got: list[int] = []

    def on_value(self, v: int) -> None:
        self.got.append(v)


def test_bound_methods_are_keyed_by_their_object() -> None:
    cb: Callbacks[int] = Callbacks("on_chunk")
    a, b = _Sink(), _Sink()
    cb.register(a.on_value)
    cb.register(a.on_value)
    cb.register(b.on_value)
    cb(5)
    assert a.got == [5] and b.got == [5]
    cb.register(a.on_value, remove=True)
    cb(6)
    assert a.got == [5] and b.got == [5, 6]


def test_handle_removes_and_wrappers_key_by_what_they_wrap() -> None:
    cb: Callbacks[int] = Callbacks("on_clip")
    seen: list[int] = []

    def keep(v: int) -> None:
        seen.append(v)

    @functools.wraps(keep)
    def wrapped(v: int) -> None:
        keep(v)

    assert callback_key(wrapped) == callback_key(keep)
    handle = cb.register(keep)
    cb.register(wrapped)  # replaces keep
    assert len(cb) == 1
    handle.remove()
    handle.remove()  # idempotent
    cb(1)
    assert seen == [] and len(cb) == 0


def test_a_failing_callback_is_logged_and_reported_and_the_others_run(caplog: pytest.LogCaptureFixture) -> None:
    cb: Callbacks[int] = Callbacks("on_chunk")
    failures: list[tuple[str, BaseException]] = []
    cb.on_failure = lambda what, exc: failures.append((what, exc))
    seen: list[int] = []

    def boom(v: int) -> None:
        raise RuntimeError("no")

    def fine(v: int) -> None:
        seen.append(v)

    cb.register(boom)
    cb.register(fine)
    with caplog.at_level(logging.ERROR, "voicekit.widgets"):
        cb(3)
    assert seen == [3] and "RuntimeError" in caplog.text
    assert failures and failures[0][0] == "on_chunk" and isinstance(failures[0][1], RuntimeError)


def test_callbacks_of_closed_owners_are_dropped_when_a_new_one_registers() -> None:
    class Owner(_Sink):
        class lifecycle:
            closed = False

    old, new = Owner(), Owner()
    cb: Callbacks[int] = Callbacks("on_chunk")
    cb.register(old.on_value)
    old.lifecycle = type("L", (), {"closed": True})()  # type: ignore[assignment]
    cb.register(new.on_value)
    cb(1)
    assert old.got == [] and new.got == [1]


def test_not_callable_is_a_type_error() -> None:
    cb: Callbacks[Any] = Callbacks("on_clip")
    with pytest.raises(TypeError, match="expected a callable for on_clip"):
        cb.register(42)  # type: ignore[arg-type]
