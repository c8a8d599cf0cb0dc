"""``Call``: the kernel as the trusted server of a WebRTC call from the page.

OpenAI's guides "WebRTC" (``voice-webrtc``) and "Server controls"
(``voice-server-controls``) split a browser voice app in two:

- the **browser** holds the microphone and the speaker on an ``RTCPeerConnection``
  (media on its audio tracks, JSON events on its ``oai-events`` data channel):
  :class:`voicekit.widgets.CallWidget`, or :class:`voicekit.webrtc.peer.KernelPeer`
  with no browser;
- a **trusted server** holds the key. Here that is the kernel. It exchanges the SDP
  (``client.realtime.calls.create(sdp=..., session=...)``, whose ``Location`` header
  names the call; ``client.live.create(session=..., transport={"type": "webrtc",
  "sdp": ...})``) and joins the same session over a **sideband** WebSocket
  (``client.realtime.connect(call_id=...)``, ``client.live.sideband.connect(
  session_id=...)``). The sideband is the ``transport`` of an ordinary
  :class:`~voicekit.realtime.RealtimeSession` or :class:`~voicekit.live.LiveSession`
  (:class:`~voicekit.session.WebSocketTransport` with ``carries_audio=False``), so its
  Transcript, EventLog, turns, tools and MetricsTable rows work as on the kernel's
  WebSocket. A Realtime sideband never receives the reply's audio: its turns' latency
  runs to ``output_audio_buffer.started`` and their reply seconds are unknown
  (:mod:`voicekit.agents.realtime_metrics`). A GPT-Live sideband receives it
  reflected, placed on the session timeline, and measures voice-to-voice on that
  timeline (:mod:`voicekit.live.turns`).

With ``ephemeral=True`` (Realtime only; GPT-Live has none) the kernel mints a
short-lived ``ek_...`` key (``client.realtime.client_secrets.create``) and the page
posts its offer itself (``POST {base_url}/realtime/calls``, ``application/sdp``);
it tells the kernel the call id so that the sideband still joins. That ephemeral key is
the only credential that ever reaches the page.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Self

from .._lifecycle import Lifecycle, track
from ..agents import RealtimeMeter
from ..errors import RealtimeError
from ..live import LiveSession
from ..realtime import RealtimeSession
from ..session import WebSocketTransport

if TYPE_CHECKING:
    from openai import OpenAI

    from ..widgets import CallWidget, EventLog, MetricsTable, Transcript

__all__ = ["APIS", "Call", "SidebandLive"]

logger = logging.getLogger("voicekit.webrtc")

APIS = ("realtime", "live")
WAITING = "The call waits for a click on Call (it needs your microphone); running the cells never starts it."
KERNEL_PEER = ("A peer in the kernel is on this call (a recording as its microphone). "
               "Call hangs it up and calls from this page.")
EPHEMERAL_SECONDS = 600
"""Lifetime asked for an ephemeral key (OpenAI's default is 600 s, "Client secrets")."""


class SidebandLive(LiveSession):
    """A :class:`LiveSession` on a sideband: the browser's call started the session, so
    ``start()`` attaches and waits for ``session.started`` instead of sending
    ``session.start`` (which the server refuses once started)."""

    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        self._transport.open(timeout)
        return {}

    def wait_started(self, timeout: float) -> dict[str, Any]:
        """The session as ``session.started`` reports it (sent once the peer connects)."""
        return dict(self.wait_for("session.started", since=0, timeout=timeout).data["session"])


class Call:
    """One WebRTC call at a time from a :class:`~voicekit.widgets.CallWidget` (or a
    kernel peer), answered by the kernel.

    Parameters
    ----------
    client : openai.OpenAI
        The project's client (its key stays in the kernel).
    api : {"realtime", "live"}
        Which API to call.
    session : mapping, optional
        The session configuration: Realtime's ``RealtimeSessionCreateRequestParam``
        (``type`` and ``model`` added when missing) or GPT-Live's ``MediaSessionConfigParam``
        (``model`` added).
    model : str, optional
        Default ``"gpt-realtime-mini"`` or ``"gpt-live-1"``.
    functions : mapping of str to callable, optional
        Tools run in the kernel when the model calls them (Realtime; GPT-Live with
        Responses delegation), answered on the sideband.
    delegate : callable, optional
        GPT-Live client delegation: ``delegate(task) -> str``, answered on the sideband.
    transcript, event_log, metrics : widgets, optional
        Fed by the sideband, as on the WebSocket path: a MetricsTable row per turn
        (Realtime: :class:`~voicekit.agents.RealtimeMeter`; GPT-Live: its session's
        metrics). What only the page knows, when the reply's audio played and how long
        it was, shows as "–" (:mod:`voicekit.agents.realtime_metrics`).
    ephemeral : bool
        Realtime only: mint an ephemeral key for the page and let it post its offer.
    widget : CallWidget, optional
        Made here when not given; displaying the Call displays it.

    Attributes
    ----------
    session : RealtimeSession or LiveSession or None
        The sideband's session of the current call (None before the first call).
    call_id : str or None
        The current call's id (``rtc_...``) or GPT-Live session id.
    calls : int
        How many calls were answered.
    meter : RealtimeMeter or None
        The current Realtime call's metrics (``meter.metrics``: a TurnMetrics per turn);
        None for GPT-Live (``session.metrics``) and before the first call.
    """

    def __init__(self, client: OpenAI, api: str = "realtime", *, session: Mapping[str, Any] | None = None,
                 model: str | None = None, functions: Mapping[str, Callable[..., Any]] | None = None,
                 delegate: Callable[[str], str] | None = None, transcript: Transcript | None = None,
                 event_log: EventLog | None = None, metrics: MetricsTable | None = None,
                 ephemeral: bool = False, widget: CallWidget | None = None) -> None:
        if api not in APIS:
            raise ValueError(f"api must be one of {APIS}, got {api!r}")
        if ephemeral and api != "realtime":
            raise ValueError("GPT-Live has no ephemeral keys: its guide has the server exchange the SDP "
                             "(use ephemeral=False)")
        self.client, self.api, self.ephemeral = client, api, ephemeral
        self.model = model or ("gpt-realtime-mini" if api == "realtime" else "gpt-live-1")
        self.config = dict(session or {})
        self.functions = dict(functions or {})
        self.delegate = delegate
        self.transcript, self.event_log, self.metrics = transcript, event_log, metrics
        self.session: RealtimeSession | SidebandLive | None = None
        self.call_id: str | None = None
        self.calls = 0
        self.meter: RealtimeMeter | None = None
        self._lock = threading.RLock()
        if widget is None:
            from ..widgets import CallWidget

            widget = CallWidget("Realtime" if api == "realtime" else "GPT-Live")
        self.widget = widget
        self.widget.ephemeral = ephemeral
        self.widget.note = WAITING
        self.widget.handle(self._on_page)
        self.lifecycle = Lifecycle("Call")
        track(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    # ------------------------------------------------------------ the exchange
    def session_config(self) -> dict[str, Any]:
        """The session sent with the offer (or carried by the ephemeral key)."""
        if self.api == "realtime":
            return {"type": "realtime", "model": self.model, **self.config}
        return {"model": self.model, **self.config}

    def answer(self, offer: str, deliver: Callable[[str], Any], *, timeout: float = 30.0,
               from_page: bool = False) -> str:
        """Answer the page's SDP ``offer`` with the project key and join the call.

        ``deliver(answer_sdp)`` hands the answer to the peer; then the sideband session
        starts (GPT-Live's sideband attaches before, so it sees ``session.started``).
        Hangs up the previous call first. Returns the call id. ``from_page``: the offer
        is the widget's (else a kernel peer's, which the widget then shows).

        Raises
        ------
        ClosedError
            If the Call was closed.
        openai.APIError, TimeoutError, RealtimeError
            If the server refuses the offer or the sideband does not start.
        """
        self.lifecycle.check()
        with self._lock:
            self.hangup(tell_page=False)
            if self.api == "realtime":
                raw = self.client.realtime.calls.with_raw_response.create(
                    sdp=offer, session=self.session_config())  # type: ignore[arg-type]
                call_id = raw.headers["location"].rstrip("/").rsplit("/", 1)[1]
                deliver(raw.http_response.text)
                self._join(call_id, timeout)
            else:
                created = self.client.live.create(session=self.session_config(),  # type: ignore[arg-type]
                                                  transport={"type": "webrtc", "sdp": offer})
                call_id = created.session.id
                self._join(call_id, timeout, before=lambda: deliver(str(created.transport.sdp)))
            self._shown(from_page)
            return call_id

    def mint_key(self) -> tuple[str, str]:
        """Realtime's ephemeral-key variant: a short-lived key carrying the session, and
        the URL the page posts its offer to. Returns ``(value, url)``.

        Raises
        ------
        ValueError
            If this Call is not ``ephemeral``.
        """
        if not self.ephemeral:
            raise ValueError("this Call answers offers itself; make it with ephemeral=True to mint keys")
        self.lifecycle.check()
        secret = self.client.realtime.client_secrets.create(
            session=self.session_config(),  # type: ignore[arg-type]
            expires_after={"anchor": "created_at", "seconds": EPHEMERAL_SECONDS})
        return secret.value, str(self.client.base_url).rstrip("/") + "/realtime/calls"

    def attach(self, call_id: str, *, timeout: float = 30.0, from_page: bool = False) -> None:
        """Join a call the page (or a kernel peer) opened itself with an ephemeral key, on
        the sideband."""
        self.lifecycle.check()
        with self._lock:
            self.hangup(tell_page=False)
            self._join(call_id, timeout)
            self._shown(from_page)

    def _shown(self, from_page: bool) -> None:
        if not from_page:
            self.widget.state, self.widget.note = "connected", KERNEL_PEER

    def _join(self, call_id: str, timeout: float, before: Callable[[], Any] | None = None) -> None:
        self.call_id = call_id
        self.calls += 1
        if self.api == "realtime":
            transport = WebSocketTransport(
                self.client, lambda c: c.realtime.connect(call_id=call_id).enter(),
                carries_audio=False, name="RealtimeSession sideband")
            self.session = RealtimeSession(self.client, self.model, transcript=self.transcript,
                                           event_log=self.event_log, functions=self.functions,
                                           transport=transport)
            self.meter = RealtimeMeter(self.session)
            if self.metrics is not None:
                self.meter.follow(self.metrics)
            self.session.start(timeout=timeout)
        else:
            transport = WebSocketTransport(
                self.client, lambda c: c.live.sideband.connect(session_id=call_id).__aenter__(),
                append_type="session.input_audio.append", carries_audio=False, name="LiveSession sideband")
            self.session = SidebandLive(self.client, self.model, transcript=self.transcript,
                                        event_log=self.event_log, metrics=self.metrics,
                                        delegate=self.delegate, functions=self.functions, transport=transport)
            self.session.start(timeout=timeout)
            if before is not None:
                before()
            self.session.wait_started(timeout)
            return
        if before is not None:
            before()

    # ------------------------------------------------------------ ending
    def hangup(self, *, tell_page: bool = True, timeout: float = 10.0) -> None:
        """End the current call (``calls.hangup`` / ``live.sessions.hangup``) and close its
        sideband; the page is told to stop its microphone. Safe with no call."""
        with self._lock:
            call_id, session = self.call_id, self.session
            self.call_id = None
            if call_id is not None:
                try:
                    if self.api == "realtime":
                        self.client.realtime.calls.hangup(call_id, timeout=timeout)
                    else:
                        self.client.live.sessions.hangup(call_id, timeout=timeout)
                except Exception as exc:  # noqa: BLE001 -- already ended by the other side
                    logger.info("hangup of %s: %s", call_id, exc)
            if session is not None:
                session.close(timeout)
            if tell_page and call_id is not None:
                self.widget.tell({"type": "hangup", "reason": "the kernel hung up"})
                self.widget.state = "ended"
            if self.widget.note == KERNEL_PEER:
                self.widget.note = WAITING

    def close(self) -> None:
        """Hang up and stop answering the page. Idempotent."""
        if self.lifecycle.close():
            self._shutdown()

    def _shutdown(self) -> None:
        self.widget.handle(None)
        try:
            self.hangup()
        finally:
            self.widget.tell({"type": "hangup", "reason": "this Call was closed"})
            self.widget.note = "This Call was closed (its cell ran again, or close()). Use the new one."

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ the page
    def _on_page(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "offer":
            if self.ephemeral:
                raise RealtimeError("this Call uses an ephemeral key: the page posts its own offer")
            self.widget.error = ""
            self.answer(str(message["sdp"]), lambda sdp: self.widget.tell({"type": "answer", "sdp": sdp}),
                        from_page=True)
        elif kind == "need_key":
            value, url = self.mint_key()
            self.widget.tell({"type": "key", "value": value, "url": url})
        elif kind == "answered":
            if not message.get("call_id"):
                raise RealtimeError("the server's answer named no call (no Location header): "
                                    "the sideband cannot join, so tools will not run")
            self.attach(str(message["call_id"]), from_page=True)
        elif kind == "hangup":
            self.hangup(tell_page=False)
