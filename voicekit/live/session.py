"""GPT-Live sessions that run in the background of a notebook.

:class:`LiveSession` opens ``client.live.connect()`` (a WebSocket at
``/v1/live/sessions``; ``openai.resources.live``) with the SDK's async client on an
asyncio loop in a daemon thread, as :class:`~voicekit.realtime.RealtimeSession` does.
GPT-Live is **full duplex**: the client streams the microphone all the time (silence
included) and the model decides for itself when to speak and when to stop. Nothing
commits a turn or asks for a response. The session:

- sends ``session.start`` with the model inside the session (never in the URL) and
  waits for ``session.started``;
- streams a Recorder, or a recording at microphone pace, as
  ``session.input_audio.append`` (PCM16 mono, 24,000 Hz, base64);
- plays ``session.output_audio.delta`` into a :class:`~voicekit.widgets.Player`, groups
  the transcripts with the SDK's ``openai.lib.live.TranscriptGrouper`` into a
  :class:`~voicekit.widgets.Transcript`, and every event into an EventLog;
- answers **client delegation**: on ``session.delegation.created`` it runs ``delegate``
  (a Python callable, or a :mod:`voicekit.live.backends` backend) on what the user
  asked, and sends the result as ``session.commentary.append`` with that
  ``delegation_id`` (guide "Delegation and tools in GPT-Live").

Sources: the SDK's ``openai.types.live`` models; OpenAI guides "WebSockets"
(voice-websockets), "Prompting GPT-Live" (live-prompting), "Delegation and tools in
GPT-Live" (live-delegation).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import pydantic

from ..agents.pricing import live_session_cost
from ..audio import Clip
from ..session import ConnectedSession, Transport, WebSocketTransport, client_events
from .delegation import Delegator, LiveDelegation, answers, final_response
from .turns import LiveBook, LiveTurn, live_metrics

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..agents.turn_metrics import TurnMetrics
    from ..widgets import EventLog, MetricsTable, Player, Transcript

__all__ = ["DEFAULT_LIVE_MODEL", "LiveDelegation", "LiveSession"]

logger = logging.getLogger("voicekit.live")

DEFAULT_LIVE_MODEL = "gpt-live-1"
"""GPT-Live's first model (``openai.types.live.SessionConfig.model`` literals)."""

PAD_MS = 1500
"""Silence streamed after a recording, ms: a Live client keeps sending audio while the
user is quiet, and the model answers into that silence."""

QUIET_MS = 800.0
"""How long (ms) without reply audio counts as the model having finished answering."""

_GROUPED = {"session.input_transcript.delta", "session.output_transcript.delta", "session.closed"}


class LiveSession(ConnectedSession):
    """One GPT-Live conversation, running on a background thread.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI
        A sync client is copied into an ``AsyncOpenAI`` (same key and base URL), which
        is closed with the session.
    model : str
        ``"gpt-live-1"`` (default) or ``"gpt-live-1.1"``.
    player, transcript, event_log, metrics : widgets, optional
        Where the model's audio plays (give the Player ``autoplay=True``), where the
        grouped transcript shows, where every event is listed, and a MetricsTable that
        gets a row per turn answered by :meth:`run_turn` or ``send_clip``, and with a
        Recorder or a WebRTC call's microphone, each time the SDK's
        ``TranscriptGrouper`` closes a segment of the model's.
    delegate : callable, optional
        ``delegate(task) -> str`` answers client delegations (``task``: what the user
        asked). None leaves them to you: :meth:`append_commentary` with the id.
    functions : mapping of str to callable, optional
        With Responses delegation (``delegation: {"type": "responses", ...}`` at start),
        the function calls the backend hands back are run as
        ``functions[name](**arguments)`` and answered.

    Attributes
    ----------
    session : dict
        The resolved session (``session.started``, then ``session.updated``).
    turns : list of LiveTurn
    delegations : list of LiveDelegation
    segments : dict
        The SDK grouper's transcript segments by id (``TranscriptSegment``).
    usage : dict or None
        The last ``SessionUsage`` (``seconds``), from ``session.usage.updated`` or
        ``session.closed``.
    errors : list of dict
        Every ``error`` event's ``error`` object.
    """

    CLIENT_EVENTS = client_events.LIVE  # every event sent is checked with the SDK's model

    def __init__(self, client: AsyncOpenAI | OpenAI, model: str = DEFAULT_LIVE_MODEL, *,
                 player: Player | None = None, transcript: Transcript | None = None,
                 event_log: EventLog | None = None, metrics: MetricsTable | None = None,
                 delegate: Callable[[str], str] | None = None,
                 functions: Mapping[str, Callable[..., Any]] | None = None,
                 transport: Transport | None = None) -> None:
        from openai.lib.live import TranscriptGrouper
        from openai.types.live import ServerEvent

        self.model = model
        self.delegate = delegate
        self.functions = dict(functions or {})
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self.usage: dict[str, Any] | None = None
        self.closed_event: dict[str, Any] | None = None
        self.segments: dict[str, Any] = {}
        self._segment_rows: dict[str, int] = {}
        self._quiet_ms = QUIET_MS
        self._book = LiveBook()
        self._t_started: float | None = None
        self._events_adapter: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ServerEvent)
        self._grouper = TranscriptGrouper()
        self._grouper.on("segment.updated", self._segment)
        self._grouper.on("segment.closed", self._segment_closed)
        if transport is None:
            transport = WebSocketTransport(client, lambda c: c.live.connect().__aenter__(),
                                           append_type="session.input_audio.append", name="LiveSession")
        self._delegator = Delegator(transport.send_event)
        self.delegations = self._delegator.records
        super().__init__(transport, player=player, transcript=transcript, event_log=event_log, metrics=metrics)

    # ------------------------------------------------------------ lifecycle
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Connect, send ``session.start`` (``session`` plus ``model``) and return the
        resolved session from ``session.started``. A second ``start()`` returns the
        session and opens no second connection (its configuration is fixed at start;
        :meth:`update` changes what may change)."""
        self._transport.open(timeout)
        mark = self.mark()
        self.send({"type": "session.start", "session": {"model": self.model, **config}})
        return dict(self.wait_for("session.started", since=mark, timeout=timeout).data["session"])

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return dict(self.session)

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` (delegation settings; the voice, audio format and
        instructions are fixed at start) and return ``session.updated``'s session."""
        mark = self.mark()
        self.send({"type": "session.update", "session": dict(session)})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def _release(self, timeout: float) -> None:
        """Send ``session.close``, wait for ``session.closed`` (its reason and final usage
        land in :attr:`closed_event`), then close the socket."""
        record = self._transport.record
        if self._transport.connected and self.closed_event is None:
            try:
                mark = record.mark()
                self._transport.put("event", {"type": "session.close"})
                record.wait_for("session.closed", mark, timeout, None, False)
            except Exception as exc:  # noqa: BLE001 -- the socket still gets closed
                logger.warning("no session.closed before closing the socket: %s", exc)
        if self._transport.opened:
            self._transport.call(self._delegator.cancel)
        self._transport.close(timeout)
        self._grouper.close()

    def _default_pad_ms(self) -> float:
        return PAD_MS

    def run_turn(self, clip: Clip, *, timeout: float = 180.0, quiet_ms: float = 800.0) -> LiveTurn:
        """Say ``clip`` (at microphone pace) and wait until the model has answered; returns
        the last turn it started (see :meth:`_settle` for when a turn is answered).

        Raises
        ------
        TimeoutError
            If a stage (the answer, a delegation's result, its spoken answer) takes
            longer than ``timeout`` seconds.
        """
        self._quiet_ms = quiet_ms
        turns = self.send_clip(clip, timeout=timeout).result()
        if not turns:
            raise TimeoutError("the model did not answer")
        return turns[-1]

    def _turn_list(self) -> list[LiveTurn]:
        return self._book.turns

    def _settle(self, before: int, mark: int, timeout: float) -> list[LiveTurn]:
        """Wait until the model answered the clip: its first audio in a new turn, then
        ``quiet_ms`` without more of it. When the turn delegated work, also wait for each
        result (a client delegation's commentary to be appended, a Responses
        delegation's last response to complete) and for the model to speak it."""
        quiet_ms = self._quiet_ms
        self.wait_for("session.output_audio.delta", since=mark, timeout=timeout,
                      where=lambda e: len(self.turns) > before and self._book.current is not None
                      and self._book.current.first_audio_ms is not None)
        self._until_quiet(len(self.events), quiet_ms, time.monotonic() + timeout)
        turn = self._book.current
        assert turn is not None
        for record in [r for r in self.delegations if r.id in turn.delegation_ids]:
            if record.target == "client" and self.delegate is not None:
                answered = self.wait_for("session.commentary.appended", since=mark, timeout=timeout,
                                         where=answers(record.id))
            elif record.target == "responses":
                answered = self.wait_for("response.event", since=mark, timeout=timeout,
                                         where=final_response(record.id))
            else:
                continue
            after = self.events.index(answered) + 1
            self.wait_for("session.output_audio.delta", since=after, timeout=timeout)
            self._until_quiet(len(self.events), quiet_ms, time.monotonic() + timeout)
        new = self.turns[before:]
        metrics = self.metrics
        self._add_metrics(m for m in metrics if m.turn >= before)
        return list(new)

    def _until_quiet(self, since: int, quiet_ms: float, deadline: float) -> None:
        """Wait until no ``session.output_audio.delta`` came for ``quiet_ms`` (or the deadline)."""
        while time.monotonic() < deadline:
            try:
                last = self.wait_for("session.output_audio.delta", since=since, timeout=quiet_ms / 1000)
            except TimeoutError:
                return
            since = self.events.index(last) + 1

    def mute(self) -> None:
        """``session.input_audio.mute``: the model stops hearing the input (it is still sent)."""
        self.send({"type": "session.input_audio.mute"})

    def unmute(self) -> None:
        """``session.input_audio.unmute``."""
        self.send({"type": "session.input_audio.unmute"})

    def append_instructions(self, text: str, delegation_id: str | None = None) -> None:
        """``session.instructions.append``: more guidance for the rest of the session."""
        self.send({"type": "session.instructions.append", "content": text, "delegation_id": delegation_id})

    def append_commentary(self, text: str, delegation_id: str | None = None) -> None:
        """``session.commentary.append``: speakable context the model communicates; with a
        ``delegation_id``, the result of that client delegation."""
        self.send({"type": "session.commentary.append", "content": text, "delegation_id": delegation_id})

    def append_thinking(self, text: str, delegation_id: str | None = None) -> None:
        """``session.thinking.append``: silent context the model knows but does not say."""
        self.send({"type": "session.thinking.append", "content": text, "delegation_id": delegation_id})

    # ------------------------------------------------------------ waiting and reading
    @property
    def turns(self) -> list[LiveTurn]:
        return self._book.turns

    @property
    def talk_overs(self) -> list[dict[str, Any]]:
        """Each time the user spoke over the model (see :class:`LiveBook`)."""
        return self._book.talk_overs

    @property
    def seconds(self) -> float:
        """Session duration so far, s: the server's usage when it sent one, else the clock."""
        if self.usage and self.usage.get("seconds") is not None:
            return float(self.usage["seconds"])
        return 0.0 if self._t_started is None else self._now() - self._t_started

    @property
    def cost_usd(self) -> float:
        """Estimated dollars of voice session so far (``voicekit.agents.pricing``)."""
        return live_session_cost(self.model, self.seconds) or 0.0

    @property
    def metrics(self) -> list[TurnMetrics]:
        """A :class:`~voicekit.agents.TurnMetrics` per turn (see :func:`.turns.live_metrics`)."""
        return live_metrics(self.turns, model=self.model, conversation=str(self.session.get("id", "")),
                            session_ms=1000.0 * self.seconds)

    # ------------------------------------------------------------ internals
    def _timeline_ms(self) -> float:
        """The client's clock, ms since it received ``session.started`` (not the server's timeline)."""
        return 0.0 if self._t_started is None else 1000.0 * (self._now() - self._t_started)

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        if kind in _GROUPED:
            self._grouper.push(self._events_adapter.validate_python(data))
        if kind in ("session.started", "session.updated"):
            self.session = data["session"]
            if kind == "session.started":
                self._t_started = self._now()
        elif kind == "error":
            self.errors.append(data.get("error") or {})
            logger.warning("Live error event: %s", (data.get("error") or {}).get("message"))
        elif kind == "session.input_transcript.delta":
            self._book.input_delta(data)
        elif kind == "session.output_transcript.delta":
            self._book.output_delta(data)
        elif kind == "session.output_audio.delta":
            pcm = Clip.from_base64_pcm16(data["delta"]).samples
            turn = self._book.audio(pcm, self._timeline_ms(), data.get("start_ms"))
            if self.player is not None:  # a new turn's first audio flushes older replies' backlog (issue 25, item 2)
                self.player.append(pcm, turn=f"turn-{turn.index}")
        elif kind == "response.event":
            self._delegator.response_event(data, self.functions)
        elif kind == "session.delegation.created":
            turn = self._book.delegation(data["delegation"]["id"])
            self._delegator.created(data, turn.user_text, self.delegate)
        elif kind == "session.usage.updated":
            self.usage = data.get("usage")
        elif kind == "session.closed":
            self.closed_event, self.usage = data, data.get("usage")

    def _segment_closed(self, closed: Any) -> None:
        """The SDK's grouper closed a segment (``TranscriptSegmentClosedEvent``: a speaker
        change, ``assistant_silence_ms`` of inactivity, the session's end). When it is the
        model's, the turns that have a reply go to the MetricsTable (a row measured again
        replaces its own): with a Recorder or a WebRTC call's microphone no ``send_clip``
        settles the turns, and GPT-Live sends no end of turn."""
        if closed.segment.speaker == "assistant" and self.metrics_table is not None:
            self._add_metrics(m for m in self.metrics if m.reply_text)

    def _segment(self, segment: Any) -> None:
        self.segments[segment.id] = segment
        row = self._segment_rows.setdefault(segment.id, len(self._segment_rows))
        if self.transcript is not None:
            self.transcript.show(row, segment.speaker, segment.text, str(self.session.get("id", "")))
