"""``CallWidget``: the browser's half of a WebRTC call (microphone, speaker, Call / Hang up).

The page (``call.js`` beside this file, no build step) holds the media, as OpenAI's
"WebRTC" guide (``voice-webrtc``) builds a browser client:

- ``getUserMedia`` with echo cancellation on (the Recorder's ``"echo"`` processing,
  :data:`voicekit.widgets.recorder.PROCESSING`), its track added to an
  ``RTCPeerConnection``, and a data channel labelled ``oai-events``;
- the remote track played in an ``<audio>`` element, with a level meter (an
  ``AnalyserNode`` on the played stream, dBFS);
- a Call / Hang up button and the state: ``idle``, ``connecting``, ``connected``,
  ``speaking`` (the reply is audible), ``listening`` (connected, the reply is quiet),
  ``ended``, ``error``;
- one call per page: Call in one widget hangs up a call still running in another (its
  kernel is told, and its note says why), so two calls never share the microphone.

This widget only carries messages. Who answers the offer is the kernel's
:class:`voicekit.webrtc.Call`, the trusted server: it holds the key and the SDP
exchange, and joins the call on a sideband. Messages (custom messages, anywidget
docs "Custom messages"):

page to kernel
    ``{"type": "offer", "sdp"}`` (kernel answers with the project key),
    ``{"type": "need_key"}`` (ephemeral-key variant: ask for a short-lived key),
    ``{"type": "answered", "call_id"}`` (the page posted its own offer),
    ``{"type": "hangup"}``, ``{"type": "error", "message"}``.
kernel to page
    ``{"type": "answer", "sdp"}``, ``{"type": "key", "value", "url"}`` (an ``ek_...``
    key and the calls URL, only in the ephemeral-key variant), ``{"type": "hangup",
    "reason"}``, ``{"type": "error", "message"}``.

The project key never travels in any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from ._base import CSS, esm_with_hub, logger

__all__ = ["CALL_STATES", "CallWidget"]

CALL_STATES = ("idle", "connecting", "connected", "speaking", "listening", "ended", "error")
"""Values of :attr:`CallWidget.state`."""


class CallWidget(anywidget.AnyWidget):
    """A Call / Hang up button with the call's state, level meter and errors.

    Parameters
    ----------
    label : str
        What the call is to, shown beside the button (for example ``"Realtime"``).
    speaking_db : float
        Level (dBFS, peak of the played reply) above which the state is ``speaking``.

    Attributes
    ----------
    state : str
        One of :data:`CALL_STATES`, set by the page (and by the kernel on hang-up).
    error : str
        The last error, shown in the widget; ``""`` when none.
    note : str
        A line of guidance under the button (for example that the call waits for a click).
    level_db : float
        The played reply's level, dBFS (-100 when silent), updated by the page.
    calls : int
        How many calls the page started.
    ephemeral : bool
        True: the page asks the kernel for an ephemeral key and posts its offer itself.
    """

    _esm = esm_with_hub("call.js")
    _css = CSS
    label = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Enum(CALL_STATES, "idle").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    level_db = traitlets.Float(-100.0).tag(sync=True)
    speaking_db = traitlets.Float(-40.0).tag(sync=True)
    calls = traitlets.Int(0).tag(sync=True)
    ephemeral = traitlets.Bool(False).tag(sync=True)

    def __init__(self, label: str = "", *, speaking_db: float = -40.0, **kwargs: Any) -> None:
        super().__init__(label=label, speaking_db=speaking_db, **kwargs)
        self._handler: Callable[[dict[str, Any]], None] | None = None
        self.on_msg(self._on_msg)

    def __repr__(self) -> str:
        """The output's text/plain (what a frontend with no widgets, nbconvert or nbval
        shows): the call, its state, the note and any error, as the widget shows them."""
        what = (self.label or "WebRTC") + (" (ephemeral key)" if self.ephemeral else "")
        lines = [f"{what} call widget: {self.state}", self.note, f"Error: {self.error}" if self.error else ""]
        return "\n".join(line for line in lines if line)

    def handle(self, handler: Callable[[dict[str, Any]], None] | None) -> None:
        """``handler(message)`` runs with each message from the page (one handler)."""
        self._handler = handler

    def tell(self, message: dict[str, Any]) -> None:
        """Send ``message`` (a dict, see the module docstring) to the page."""
        self.send(message)

    def show_error(self, message: str) -> None:
        """Show ``message`` in the widget and log it."""
        logger.warning("call: %s", message)
        self.error = message
        self.state = "error"

    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "error":
            self.error = str(content.get("message", "an error in the page"))
        if self._handler is None:
            return
        try:
            self._handler(content)
        except Exception as exc:  # noqa: BLE001 -- shown in the widget, never only in a log
            logger.exception("handling a %s message failed", content.get("type"))
            self.show_error(f"{type(exc).__name__}: {exc}")
            self.tell({"type": "error", "message": self.error})
