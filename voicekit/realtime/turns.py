"""Bookkeeping of a Realtime conversation: recorded events, turns, reply audio items.

Used by :mod:`voicekit.realtime`; pure Python, no socket, so it is tested by feeding
it server events (shaped as ``openai.types.realtime.RealtimeServerEvent``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session.events import RealtimeEvent, elide_audio
from ..session.tool_calls import ToolCallRecord

__all__ = ["AudioItem", "RealtimeEvent", "Turn", "TurnBook", "elide_audio"]

class TranscriptSink(Protocol):
    def show(self, turn: int, role: str, text: str, conversation: str = "") -> None: ...


@dataclass
class AudioItem:
    """One assistant item's reply audio as it arrived."""

    item_id: str
    response_id: str
    t_first: float  # session seconds at its first audio delta
    player_offset_ms: float  # where it starts in the Player's stream, in ms
    frames: int = 0
    truncated_at_ms: int | None = None
    let_go: bool = False  # received in full when a cell sent the next clip: never truncated

    @property
    def received_ms(self) -> float:
        return 1000.0 * self.frames / REALTIME_SAMPLE_RATE


@dataclass
class Turn:
    """One exchange: the user's input and the assistant's reply to it.

    Attributes
    ----------
    index : int
        0, 1, 2... in order of the user input.
    user_item_id : str or None
        The conversation item holding the user input.
    user_transcript : str or None
        What the server's input transcription heard
        (``conversation.item.input_audio_transcription.completed``).
    user_text : str or None
        The typed text, for a text message.
    speech_start_ms, speech_end_ms : int or None
        Where the server VAD put the speech, in ms on the input audio timeline.
    t_end_of_speech, t_first_audio, t_done : float or None
        Session seconds at ``speech_stopped`` (or at sending the commit, for
        manual turns), at the first ``response.output_audio.delta``, and at the
        last ``response.done``.
    t_audio_started : float or None
        Session seconds at the first ``output_audio_buffer.started`` (WebRTC and SIP
        only: the server began sending the reply on the peer). A WebRTC call's
        sideband gets no audio deltas, so this is its only sign of the reply's audio.
    assistant_text : str
        The reply's transcript (audio) or text, as streamed.
    status : str or None
        The last ``response.done`` status: completed, cancelled, incomplete, failed.
    usage : dict or None
        That response's ``usage`` (tokens).
    tool_calls : list of ToolCallRecord
        Each ``function_call`` of the turn's responses, in order: ``name``, ``call_id``,
        ``arguments``, and ``output`` and ``ok`` once the session ran it (its ``functions``).
        The same record type on every turn of the kit (:mod:`voicekit.session.tool_calls`);
        ``call["name"]`` reads it too.
    truncated_at_ms : int or None
        ``audio_end_ms`` of the truncate after a barge-in.
    """

    index: int
    user_item_id: str | None = None
    user_transcript: str | None = None
    user_text: str | None = None
    speech_start_ms: int | None = None
    speech_end_ms: int | None = None
    t_end_of_speech: float | None = None
    t_first_audio: float | None = None
    t_done: float | None = None
    t_audio_started: float | None = None
    response_ids: list[str] = field(default_factory=list)
    assistant_text: str = ""
    status: str | None = None
    usage: dict[str, Any] | None = None
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    truncated_at_ms: int | None = None
    awaiting_tool: bool = False
    audio_chunks: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)

    @property
    def user(self) -> str | None:
        """What the user said or typed."""
        return self.user_text if self.user_text is not None else self.user_transcript

    @property
    def latency_ms(self) -> float | None:
        """End of speech to first reply audio, in ms (None if either is missing): to the
        first audio delta received, or, where none arrives (a WebRTC sideband), to
        ``output_audio_buffer.started``. Neither includes playback in a page."""
        first = self.t_first_audio if self.t_first_audio is not None else self.t_audio_started
        if self.t_end_of_speech is None or first is None:
            return None
        return 1000.0 * (first - self.t_end_of_speech)

    @property
    def reply(self) -> Clip | None:
        """All reply audio of this turn: PCM16 mono at 24,000 Hz, or None."""
        if not self.audio_chunks:
            return None
        return Clip(np.concatenate(self.audio_chunks), REALTIME_SAMPLE_RATE)


class TurnBook:
    """Builds :class:`Turn` records from server events, in arrival order."""

    def __init__(self, transcript: TranscriptSink | None = None) -> None:
        self.turns: list[Turn] = []
        self.transcript = transcript
        self.conversation = f"conv_{uuid.uuid4().hex[:12]}"
        """The conversation id the Transcript keys lines by: the server's session id
        once ``session.created`` names one (a voicekit id until then)."""
        self.active_response: str | None = None  # the response being generated
        self._by_response: dict[str, Turn] = {}
        self._items: dict[str, AudioItem] = {}
        self._item_responses: dict[str, str] = {}  # assistant item id -> its response id
        self._last_item: AudioItem | None = None
        self._t_commit: float | None = None

    @property
    def playing_item(self) -> AudioItem | None:
        """The latest assistant audio item, unless it was already truncated (or let go)."""
        item = self._last_item
        return item if item is not None and item.truncated_at_ms is None and not item.let_go else None

    def let_go_of_a_finished_reply(self) -> None:
        """A cell sends the next clip (:meth:`~voicekit.session.VoiceSession.send_clip`): the
        latest reply, if its response is done, is not talked over by that clip. It stays
        whole in the conversation and its turn is not "interrupted"; the Player drops what
        is left of it when the next reply's audio comes. A reply still being written is
        talked over as before (04 step 7)."""
        item = self._last_item
        if item is not None and item.truncated_at_ms is None and self.active_response != item.response_id:
            item.let_go = True

    def turn_of_response(self, response_id: str) -> Turn | None:
        return self._by_response.get(response_id)

    def commit_sent(self, now: float) -> None:
        self._t_commit = now

    def audio_delta(self, data: dict[str, Any], pcm: npt.NDArray[np.int16], now: float,
                    player_ms: float) -> AudioItem:
        """Count one ``response.output_audio.delta`` (call before the Player gets it)."""
        item = self._items.get(data["item_id"])
        if item is None:
            item = AudioItem(data["item_id"], data["response_id"], now, player_ms)
            self._items[item.item_id] = item
            self._last_item = item
        item.frames += pcm.size
        turn = self._by_response.get(data["response_id"])
        if turn is not None:
            turn.audio_chunks.append(pcm)
            if turn.t_first_audio is None:
                turn.t_first_audio = now
        return item

    def handle(self, data: dict[str, Any], now: float) -> None:
        """Update the turns for one server event (audio deltas go to :meth:`audio_delta`)."""
        kind = data.get("type", "")
        if kind == "session.created" and (data.get("session") or {}).get("id"):
            self.conversation = data["session"]["id"]
        elif kind == "input_audio_buffer.speech_started":
            self._new(user_item_id=data.get("item_id"), speech_start_ms=data.get("audio_start_ms"))
        elif kind == "input_audio_buffer.speech_stopped":
            turn = self._user(data.get("item_id")) or self._current()
            if turn is not None:
                turn.speech_end_ms = data.get("audio_end_ms")
                turn.t_end_of_speech = now
        elif kind == "input_audio_buffer.committed":
            self._committed(data["item_id"], now)
        elif kind == "conversation.item.added":
            self._item_added(data["item"], now)
        elif kind == "conversation.item.input_audio_transcription.completed":
            turn = self._user(data["item_id"])
            if turn is not None:
                turn.user_transcript = data["transcript"]
                self._show(turn, "user", turn.user_transcript)
        elif kind == "response.created":
            self._response_created(data["response"]["id"])
        elif kind in ("response.output_audio_transcript.delta", "response.output_text.delta"):
            turn = self._by_response.get(data["response_id"])
            if turn is not None:
                turn.assistant_text += data["delta"]
                self._show(turn, "assistant", turn.assistant_text)
        elif kind == "response.output_item.added":
            self._item_responses[data["item"].get("id") or ""] = data["response_id"]
        elif kind == "output_audio_buffer.started":
            turn = self._by_response.get(data.get("response_id") or "")
            if turn is not None and turn.t_audio_started is None:
                turn.t_audio_started = now
        elif kind == "response.done":
            self._response_done(data["response"], now)
        elif kind == "conversation.item.truncated":
            item = self._items.get(data["item_id"])
            if item is not None:
                item.truncated_at_ms = data["audio_end_ms"]
            # the item's response: from its audio (WebSocket), else from the item (a sideband gets no audio)
            response_id = item.response_id if item is not None else self._item_responses.get(data["item_id"])
            turn = self._by_response.get(response_id or "")
            if turn is not None:
                turn.truncated_at_ms = data["audio_end_ms"]

    # ------------------------------------------------------------ internals
    def _new(self, **fields: Any) -> Turn:
        turn = Turn(index=len(self.turns), **fields)
        self.turns.append(turn)
        return turn

    def _current(self) -> Turn | None:
        return self.turns[-1] if self.turns else None

    def _user(self, item_id: str | None) -> Turn | None:
        if item_id is None:
            return None
        return next((t for t in reversed(self.turns) if t.user_item_id == item_id), None)

    def _show(self, turn: Turn, role: str, text: str) -> None:
        if self.transcript is not None:
            self.transcript.show(turn.index, role, text, self.conversation)

    def _committed(self, item_id: str, now: float) -> None:
        turn = self._user(item_id)
        if turn is None:
            current = self._current()
            if current is not None and current.user_item_id is None and not current.response_ids:
                turn = current
                turn.user_item_id = item_id
            else:
                turn = self._new(user_item_id=item_id)
        if turn.t_end_of_speech is None:
            turn.t_end_of_speech = self._t_commit if self._t_commit is not None else now
        self._t_commit = None

    def _item_added(self, item: dict[str, Any], now: float) -> None:
        if item.get("type") != "message" or item.get("role") != "user" or self._user(item.get("id")):
            return
        texts = [c.get("text") or "" for c in item.get("content") or [] if c.get("type") == "input_text"]
        if texts:
            turn = self._new(user_item_id=item.get("id"), user_text=" ".join(texts), t_end_of_speech=now)
            self._show(turn, "user", turn.user_text or "")

    def _response_created(self, response_id: str) -> None:
        turn = self._current()
        if turn is None or (turn.response_ids and not turn.awaiting_tool):
            turn = self._new()
        turn.awaiting_tool = False
        turn.response_ids.append(response_id)
        self._by_response[response_id] = turn
        self.active_response = response_id

    def tool_output(self, call_id: str, output: str, ok: bool) -> None:
        """The session ran the tool call ``call_id``: record what the model reads back."""
        for turn in reversed(self.turns):
            for call in turn.tool_calls:
                if call.call_id == call_id:
                    call.output, call.ok = output, ok
                    return

    def _response_done(self, response: dict[str, Any], now: float) -> None:
        if self.active_response == response["id"]:
            self.active_response = None
        turn = self._by_response.get(response["id"])
        if turn is None:
            return
        turn.status = response.get("status")
        turn.usage = response.get("usage")
        turn.t_done = now
        calls = [ToolCallRecord(name=str(o.get("name") or ""), arguments=str(o.get("arguments") or ""),
                                call_id=o.get("call_id"))
                 for o in response.get("output") or [] if o.get("type") == "function_call"]
        turn.tool_calls.extend(calls)
        turn.awaiting_tool = bool(calls) and turn.status == "completed"
