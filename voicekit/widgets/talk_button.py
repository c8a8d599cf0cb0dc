"""``TalkButton``: a push-to-talk button (hold to talk, release to send)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anywidget
import traitlets

from ._base import CSS, HERE, CallbackHandle, Callbacks

__all__ = ["TalkButton"]


@dataclass(frozen=True)
class _NoArg:
    """A zero-argument callback in a :class:`Callbacks` list (equal when ``fn`` is)."""

    fn: Callable[[], Any]

    @property
    def __wrapped__(self) -> Callable[[], Any]:  # Callbacks keys a wrapper by what it wraps
        return self.fn

    def __call__(self, _: None) -> Any:
        return self.fn()


class TalkButton(anywidget.AnyWidget):
    """Hold to talk: :attr:`pressed` is True while the mouse button, a finger or the
    space bar (when the button has focus) holds it down.

    :meth:`~voicekit.realtime.RealtimeSession.push_to_talk` returns one wired to the
    session: press clears the input buffer and opens the microphone, release
    commits and asks for a response. :meth:`press` and :meth:`release` do the same
    from code.

    Attributes
    ----------
    pressed : bool
        Synced with the browser.
    label : str
        Text on the button.
    hint : str
        A line under the button (what to do now: "say something" while it listens).
    error : str
        A red line under the button: why holding it does nothing (also the error of a
        press or release callback that raised, such as a closed session's ``ClosedError``).
    disabled : bool
        Greyed out (with ``error`` saying why): the button cannot work as things are.
    """

    _esm = HERE / "talk_button.js"
    _css = CSS
    pressed = traitlets.Bool(False).tag(sync=True)
    label = traitlets.Unicode("Hold to talk").tag(sync=True)
    hint = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._on_press: Callbacks[None] = Callbacks("TalkButton on_press")
        self._on_release: Callbacks[None] = Callbacks("TalkButton on_release")
        for hooks in (self._on_press, self._on_release):
            hooks.on_failure = self._callback_failed
        self.observe(self._changed, names="pressed")

    def on_press(self, callback: Callable[[], Any]) -> CallbackHandle:
        """Call ``callback()`` each time the button goes down. Registering again from a
        re-run cell replaces it (the re-run rule of :class:`~voicekit.widgets._base.Callbacks`)."""
        return self._on_press.register(_NoArg(callback))

    def on_release(self, callback: Callable[[], Any]) -> CallbackHandle:
        """Call ``callback()`` each time the button comes up (replaced on re-run, as ``on_press``)."""
        return self._on_release.register(_NoArg(callback))

    def press(self) -> None:
        """Press it from code (same as ``pressed = True``)."""
        self.pressed = True

    def release(self) -> None:
        """Release it from code (same as ``pressed = False``)."""
        self.pressed = False

    def _changed(self, change: dict[str, Any]) -> None:
        # a trait observer has no caller to raise to: Callbacks logs failures, and the
        # error line shows them (a closed session's ClosedError says which cell to run)
        (self._on_press if change["new"] else self._on_release)(None)

    def _callback_failed(self, what: str, exc: BaseException) -> None:
        self.error, self.hint = f"{type(exc).__name__}: {exc}", ""
