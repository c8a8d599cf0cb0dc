"""What a GPT-Live conversation said, turn by turn, built from its server events.

GPT-Live has no turns on the wire: it is full duplex, and the transcripts arrive as
``session.input_transcript.delta`` and ``session.output_transcript.delta`` fragments,
each with ``start_ms``/``end_ms`` on the session timeline (ms since
``session.started``; ``openai.types.live``). For measuring and showing, :class:`LiveBook`
groups them into :class:`LiveTurn` records: a turn is what the user said until the model
answered, and that answer. The display transcript uses the SDK's own
``openai.lib.live.TranscriptGrouper`` instead (:mod:`voicekit.live.session`).

Voice-to-voice on one clock
---------------------------
GPT-Live sends no ``speech_stopped``: the model decides by itself that the user has
finished. A turn's :attr:`LiveTurn.latency_ms` therefore runs from the end of the
user's speech (the last input transcript fragment's ``end_ms``) to the start of the
model's reply audio, **both on the server's session timeline**: the first output
transcript fragment's ``start_ms`` (the SDK's ``OutputTranscriptDeltaEvent``: where
that text's audio lies on the timeline), or a reflected audio delta's ``start_ms`` on a
sideband (``OutputAudioDeltaEvent``: "required on reflected sideband events"). The
primary WebSocket's audio deltas carry no time, so the client's clock at their receipt
(:attr:`LiveTurn.first_audio_ms`) is never subtracted from a timeline time: the two
clocks part as soon as the input is not streamed at microphone pace from
``session.started`` on (a recording sent as fast as possible puts the timeline ahead of
the client's clock; a WebRTC call's page, not the kernel, sends the audio). The figure
includes the model's own wait for the end of the turn (the stand-in's 400 ms
end-of-turn silence; Realtime's VAD window is left out of its figure instead) and
excludes the network legs and the playback. It is where the reply begins in the
conversation: a server may send audio ahead of its place on the timeline (the
stand-in up to 250 ms, ``voicekit.standin.live.speaker.LEAD_MS``), so a client that
plays it on receipt can start it up to that much earlier.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ..agents.pricing import live_session_cost
from ..agents.turn_metrics import TurnMetrics
from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session.tool_calls import ToolCallRecord

__all__ = ["LiveBook", "LiveTurn", "live_metrics"]


@dataclass
class LiveTurn:
    """One exchange of a Live session.

    Attributes
    ----------
    index : int
        0, 1, 2... in order.
    user_text : str
        The input transcript of the user's speech (or typed context) in this turn.
    user_start_ms, user_end_ms : int or None
        Where the user's speech lies on the session timeline, ms.
    assistant_text : str
        The output transcript: what the model said, up to where it stopped.
    reply_start_ms : int or None
        Where the model's reply audio starts on the session timeline, ms (the server's
        clock: see "Voice-to-voice on one clock" in :mod:`voicekit.live.turns`).
    first_audio_ms : float or None
        The client's clock at the receipt of the turn's first
        ``session.output_audio.delta``: ms since the client received
        ``session.started``. Not on the session timeline: never compare it with the
        ``*_ms`` fields above.
    assistant_end_ms : int or None
        The end of the model's speech on the session timeline (its last output
        transcript fragment).
    talked_over : bool
        The user spoke while the model was speaking this turn's answer.
    delegation_ids : list of str
        Delegations created during the turn (``session.delegation.created``).
    tool_calls : list of ToolCallRecord
        The same delegations as tool calls, recorded as on every turn type of the kit
        (:mod:`voicekit.session.tool_calls`): ``name="delegation"``, ``call_id`` the
        delegation id, ``arguments`` the task (the user's words); the result is in
        ``LiveSession.delegations``.
    """

    index: int
    user_text: str = ""
    user_start_ms: int | None = None
    user_end_ms: int | None = None
    assistant_text: str = ""
    reply_start_ms: int | None = None
    first_audio_ms: float | None = None
    assistant_end_ms: int | None = None
    talked_over: bool = False
    delegation_ids: list[str] = field(default_factory=list)
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    audio_chunks: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)

    @property
    def latency_ms(self) -> float | None:
        """End of the user's speech to the start of the model's reply audio, ms, both on
        the session timeline (``reply_start_ms - user_end_ms``; see the module
        docstring). None until both are known: a reply over the primary WebSocket is
        placed on the timeline by its first output transcript fragment."""
        if self.user_end_ms is None or self.reply_start_ms is None:
            return None
        return float(self.reply_start_ms - self.user_end_ms)

    @property
    def reply(self) -> Clip | None:
        """The model's audio in this turn: PCM16 mono, 24,000 Hz, or None."""
        if not self.audio_chunks:
            return None
        return Clip(np.concatenate(self.audio_chunks), REALTIME_SAMPLE_RATE)


class LiveBook:
    """Builds :class:`LiveTurn` records from Live server events, in arrival order."""

    def __init__(self) -> None:
        self.turns: list[LiveTurn] = []
        self.talk_overs: list[dict[str, Any]] = []
        """Each time the user spoke over the model: ``{"turn", "at_ms", "said"}`` (the
        turn talked over, where the user began, and what the model had said by then)."""

    @property
    def current(self) -> LiveTurn | None:
        return self.turns[-1] if self.turns else None

    def input_delta(self, data: dict[str, Any]) -> LiveTurn:
        """A ``session.input_transcript.delta``: the user said more."""
        turn = self.current
        if turn is None or turn.first_audio_ms is not None or turn.assistant_text:
            if turn is not None and turn.assistant_end_ms is not None and data["start_ms"] < turn.assistant_end_ms:
                turn.talked_over = True
                self.talk_overs.append({"turn": turn.index, "at_ms": data["start_ms"], "said": turn.assistant_text})
            turn = LiveTurn(index=len(self.turns))
            self.turns.append(turn)
        turn.user_text = (turn.user_text + " " + data["delta"]).strip() if turn.user_text else data["delta"].strip()
        if turn.user_start_ms is None:
            turn.user_start_ms = data["start_ms"]
        turn.user_end_ms = data["end_ms"]
        return turn

    def output_delta(self, data: dict[str, Any]) -> LiveTurn:
        """A ``session.output_transcript.delta``: the model said more."""
        turn = self._answering()
        turn.assistant_text += data["delta"]
        turn.assistant_end_ms = data["end_ms"]
        _reply_starts(turn, data["start_ms"])
        return turn

    def audio(self, pcm: npt.NDArray[np.int16], received_ms: float, start_ms: int | None = None) -> LiveTurn:
        """A ``session.output_audio.delta`` (decoded), received at ``received_ms`` on the
        client's clock; ``start_ms``: its place on the session timeline (reflected
        sideband audio only; the primary WebSocket's deltas have none)."""
        turn = self._answering()
        turn.audio_chunks.append(pcm)
        if turn.first_audio_ms is None:
            turn.first_audio_ms = received_ms
        if start_ms is not None:
            _reply_starts(turn, start_ms)
        return turn

    def delegation(self, delegation_id: str) -> LiveTurn:
        """A ``session.delegation.created``: the turn being answered delegated work."""
        turn = self._answering()
        turn.delegation_ids.append(delegation_id)
        turn.tool_calls.append(ToolCallRecord(name="delegation", arguments=turn.user_text, call_id=delegation_id))
        return turn

    def _answering(self) -> LiveTurn:
        turn = self.current
        if turn is None:  # the model spoke first (a greeting, commentary)
            turn = LiveTurn(index=0)
            self.turns.append(turn)
        return turn


def _reply_starts(turn: LiveTurn, start_ms: int) -> None:
    if turn.reply_start_ms is None or start_ms < turn.reply_start_ms:
        turn.reply_start_ms = start_ms


def live_metrics(turns: list[LiveTurn], *, model: str, conversation: str, session_ms: float) -> list[TurnMetrics]:
    """A :class:`~voicekit.agents.TurnMetrics` per turn, comparable with the other agents'.

    Voice-to-voice is :attr:`LiveTurn.latency_ms`. GPT-Live bills session time, not
    tokens, so each turn carries the cost of its share of the session: from its start
    (the first turn: the session's start) to the next turn's start (the last: ``session_ms``,
    the session's length so far). A delegation counts as a tool call (``"delegation"``).
    """
    out = []
    for i, t in enumerate(turns):
        start = 0.0 if i == 0 else float(t.user_start_ms or 0)
        end = float(turns[i + 1].user_start_ms or session_ms) if i + 1 < len(turns) else session_ms
        reply = t.reply
        out.append(TurnMetrics(
            "live", t.index, conversation=conversation, user_text=t.user_text, reply_text=t.assistant_text,
            voice_to_voice_ms=t.latency_ms,
            input_audio_s=None if t.user_start_ms is None or t.user_end_ms is None
            else (t.user_end_ms - t.user_start_ms) / 1000,
            output_audio_s=reply.duration if reply is not None else 0.0,
            tool_calls=["delegation"] * len(t.delegation_ids),
            status="interrupted" if t.talked_over else "completed",
            duration_cost_usd=live_session_cost(model, max(0.0, end - start) / 1000) or 0.0))
    return out
