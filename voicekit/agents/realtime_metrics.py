"""Per-turn metrics of a Realtime conversation, built from its server events.

:class:`RealtimeMeter` follows a :class:`~voicekit.realtime.RealtimeSession` (its
``on_event``) and makes a :class:`~voicekit.agents.turn_metrics.TurnMetrics` for each
finished turn, added to a MetricsTable as the turn ends. :class:`~voicekit.agents.RealtimeAgent`
measures its WebSocket session with it, :class:`voicekit.webrtc.Call` its WebRTC
sideband.

What each path can know (events from ``openai.types.realtime``; OpenAI guides
"Realtime conversations", "WebRTC" and "Server controls"):

- **WebSocket** (the kernel carries the audio): voice-to-voice runs from
  ``input_audio_buffer.speech_stopped`` to the first ``response.output_audio.delta``
  received by the kernel; the reply's seconds are the audio received.
- **WebRTC sideband** (``carries_audio=False``: the page's peer carries the audio, and no
  audio delta reaches the kernel): voice-to-voice runs from ``speech_stopped`` to
  ``output_audio_buffer.started``, the server's word that it began sending the reply
  on the peer (WebRTC and SIP only), both as the sideband received them. The hop to the
  page, its jitter buffer and its playback are not in it: the kernel cannot see when
  the page played the audio (``benchmarks/browser_latency.py`` measures that in the
  page). The reply's seconds are None ("–"): the audio never reached the kernel, and
  no event states its length.

Tokens come from each ``response.done`` usage, plus the input transcription's usage,
on both paths; a barge-in (``conversation.item.truncated``) marks the turn interrupted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from openai.types.realtime import ConversationItemInputAudioTranscriptionCompletedEvent

from ..realtime import RealtimeEvent, RealtimeSession, Turn
from ..realtime.session import vad_silence_ms
from .pricing import Usage
from .turn_metrics import TurnMetrics

if TYPE_CHECKING:
    from ..widgets import MetricsTable

__all__ = ["RealtimeMeter"]


class RealtimeMeter:
    """Measures the turns of a :class:`~voicekit.realtime.RealtimeSession`.

    Parameters
    ----------
    session : RealtimeSession
        The session to follow (its events, turns, model, transcription model and
        transport: ``transport.carries_audio`` tells the WebSocket from a sideband).
    agent : str
        The ``agent`` column of the rows (``"realtime"``).

    Feed it every event with :meth:`handle` (from an ``on_event`` callback), or let
    :meth:`follow` register one that adds the rows to a MetricsTable.
    """

    def __init__(self, session: RealtimeSession, *, agent: str = "realtime") -> None:
        self.session, self.agent = session, agent
        self._usage: dict[str, Usage] = {}  # response id -> its usage (response.done)
        self._stt_usage: dict[str, Usage] = {}  # user item id -> its input transcription's usage

    def follow(self, table: MetricsTable) -> RealtimeMeter:
        """Add each finished turn's row to ``table`` (a row replaced when a finished reply
        is then truncated), from the session's ``on_event``; returns self."""
        def show(event: RealtimeEvent) -> None:
            for row in self.handle(event):
                table.add(row)

        self.session.on_event(show)
        return self

    @property
    def metrics(self) -> list[TurnMetrics]:
        """The :class:`TurnMetrics` of every finished turn, in order."""
        return [self.measure(t) for t in self.session.turns if t.status is not None and not t.awaiting_tool]

    def handle(self, event: RealtimeEvent) -> list[TurnMetrics]:
        """Take one event (both ways; only server events count). Returns the rows to
        show now: the turn this ``response.done`` finished, the finished turn whose
        ``output_audio_buffer.started`` came after its ``response.done`` (a sideband: its
        voice-to-voice is known only then), or the finished turns a
        ``conversation.item.truncated`` cut (now "interrupted"); else none."""
        if event.source != "server":
            return []
        if event.type == "conversation.item.input_audio_transcription.completed":
            done = ConversationItemInputAudioTranscriptionCompletedEvent.model_validate(event.data)
            self._stt_usage[done.item_id] = Usage.from_transcription(self.session.transcribe or "", done.usage)
        elif event.type == "response.done":
            response = event.data["response"]
            self._usage[response["id"]] = Usage.from_realtime(self.session.model, response.get("usage"))
            turn = self.session.turn_of(response["id"])
            if turn is not None and not turn.awaiting_tool:
                return [self.measure(turn)]
        elif event.type == "output_audio_buffer.started" and not self.session.transport.carries_audio:
            # on a sideband the reply's first sound may be announced after its response.done
            # (the server writes faster than the peer plays): that turn's row gets its figure now
            turn = self.session.turn_of(str(event.data.get("response_id") or ""))
            if turn is not None and turn.status is not None and not turn.awaiting_tool:
                return [self.measure(turn)]
        elif event.type == "conversation.item.truncated":
            return [self.measure(t) for t in self.session.turns
                    if t.truncated_at_ms is not None and t.status is not None and not t.awaiting_tool]
        return []

    def measure(self, turn: Turn) -> TurnMetrics:
        """The :class:`TurnMetrics` of one finished ``turn`` (see the module docstring)."""
        td = self.session.turn_detection
        vad_turn = td is not None and turn.speech_end_ms is not None
        reply = turn.reply
        m = TurnMetrics(
            self.agent, turn.index, conversation=self.session.conversation_id, user_text=turn.user or "",
            reply_text=turn.assistant_text, voice_to_voice_ms=turn.latency_ms,
            vad_silence_ms=vad_silence_ms(td) if vad_turn else 0.0,
            input_audio_s=(((turn.speech_end_ms or 0) - (turn.speech_start_ms or 0)) / 1000.0 if vad_turn
                           else None if turn.user_text is not None else 0.0),
            output_audio_s=((reply.duration if reply is not None else 0.0)
                            if self.session.transport.carries_audio else None),
            tool_calls=[c["name"] for c in turn.tool_calls],
            status={"cancelled": "interrupted", "completed": "completed", "incomplete": "incomplete"}.get(
                turn.status or "", "failed"),
        )
        if turn.truncated_at_ms is not None:
            m.status = "interrupted"
        for response_id in turn.response_ids:
            if response_id in self._usage:
                m.add_usage(self._usage[response_id])
        if turn.user_item_id in self._stt_usage:
            m.add_usage(self._stt_usage[turn.user_item_id])
        return m
