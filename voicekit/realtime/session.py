"""Realtime API sessions that run in the background of a notebook.

:class:`RealtimeSession` opens ``client.realtime.connect(model=...)`` (the GA
protocol, as ``openai.types.realtime`` defines it) through a transport
(:mod:`voicekit.session.transport`; the kernel's WebSocket by default), on an asyncio
loop in a daemon thread of its own. A cell that starts it returns at once; the kernel
stays free to pass microphone chunks in and widget updates out.

Wiring (OpenAI guide "Realtime conversations", section "Handling interruptions"):

- microphone chunks (a :class:`~voicekit.widgets.Recorder`) and recordings
  (:meth:`~voicekit.session.VoiceSession.send_clip`) go out as
  ``input_audio_buffer.append``, PCM16 mono at 24,000 Hz, base64;
- ``response.output_audio.delta`` goes into a streaming :class:`~voicekit.widgets.Player`;
- ``input_audio_buffer.speech_started`` while a reply still plays is a barge-in:
  the Player is cleared and ``conversation.item.truncate`` tells the server how
  much of the reply was heard (``audio_end_ms``, clamped to the audio received);
- each user/assistant exchange becomes a :class:`Turn`, with its latency from the
  end of speech (``speech_stopped``, or the commit in push-to-talk) to the first
  reply audio.

Every event, both ways, is recorded in ``events`` with the base64 audio left out;
``wait_for`` blocks the calling cell until an event arrives, with a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._lifecycle import closed_error
from ..audio import Clip
from ..session import (
    RACE_EVENT_PREFIX,
    ConnectedSession,
    Transport,
    WebSocketTransport,
    client_events,
)
from ._tools import MAX_TOOL_ROUNDS, answer_tools, function_calls
from .push_to_talk import PushToTalk
from .turns import AudioItem, Turn, TurnBook

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import EventLog, Player, TalkButton, Transcript

__all__ = ["DEFAULT_MODEL", "DEFAULT_TRANSCRIBE_MODEL", "MAX_TOOL_ROUNDS", "VAD_PAD_MS", "RealtimeSession"]

logger = logging.getLogger("voicekit.realtime")

DEFAULT_MODEL = "gpt-realtime-mini"
"""The smaller GA Realtime model (``openai.types.realtime`` session ``model`` literals)."""

DEFAULT_TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"
"""Input transcription model the session turns on unless told otherwise (OpenAI's
default is no input transcription: ``audio.input.transcription`` null)."""

VAD_PAD_MS = 500
"""Silence sent after a recording, on top of the VAD's ``silence_duration_ms``, so the
server hears the end of the turn."""

SEMANTIC_VAD_LONGEST_MS = {"high": 1000.0, "medium": 2000.0, "auto": 2000.0, "low": 4000.0}
"""The longest the offline stand-in's ``semantic_vad`` waits in a pause its turn model judges
unfinished, by eagerness (half of OpenAI's documented 2, 4 and 8 s). A recording whose end
the model misjudges still ends its turn within the padding sent after it."""


_PROGRESS = ("input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "response.created", "response.done")
"""Server events after which :meth:`RealtimeSession._settle` looks at the turns again."""


def vad_silence_ms(turn_detection: Mapping[str, Any] | None) -> float:
    """The silence (ms) after which a turn detection config ends a turn."""
    td = turn_detection or {}
    if td.get("type") == "semantic_vad":
        return SEMANTIC_VAD_LONGEST_MS.get(str(td.get("eagerness") or "auto"), 2000.0)
    return float(td.get("silence_duration_ms") or 500)


class RealtimeSession(ConnectedSession):
    """One Realtime conversation, running on a background thread.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI
        The client to connect with (a sync client is copied into an ``AsyncOpenAI``,
        closed with the session).
    model : str
        Realtime model, default ``"gpt-realtime-mini"``.
    player, transcript, event_log : widgets, optional
        Where reply audio plays (PCM16, 24,000 Hz; give the Player ``autoplay=True``),
        where each turn's user transcript and assistant text stream, where every event
        is listed.
    functions : mapping of str to callable, optional
        Tools to run when the model calls them: ``functions[name](**arguments)``;
        the result (``json.dumps`` unless a str) goes back as a
        ``function_call_output`` item followed by ``response.create``. Declare the
        tools themselves in the session (``tools``). After ``MAX_TOOL_ROUNDS``
        rounds in one turn, the follow-up asks for no more tool calls.
    transcribe : str or None
        Input transcription model, turned on by :meth:`start` (default
        ``"gpt-4o-mini-transcribe"``); None leaves the session's setting alone.
    transport : Transport, optional
        The connection; default a :class:`~voicekit.session.WebSocketTransport` to
        ``client.realtime.connect(model=model)``.

    Attributes
    ----------
    events : list of RealtimeEvent
        Every event sent and received, in order.
    turns : list of Turn
        One per user input (speech, a committed buffer or a text message).
    session : dict
        The session as the server last reported it.
    errors : list of dict
        The ``error`` objects of every ``error`` event received.
    follow_up_tool_choice : str or None
        ``tool_choice`` of each ``response.create`` that answers tool calls (None: the session's).
    """

    CLIENT_EVENTS = client_events.REALTIME  # every event sent is checked with the SDK's model

    def __init__(self, client: AsyncOpenAI | OpenAI, model: str = DEFAULT_MODEL, *,
                 player: Player | None = None, transcript: Transcript | None = None,
                 event_log: EventLog | None = None, functions: Mapping[str, Callable[..., Any]] | None = None,
                 transcribe: str | None = DEFAULT_TRANSCRIBE_MODEL, transport: Transport | None = None) -> None:
        self.model = model
        self.functions = dict(functions or {})
        self.transcribe = transcribe
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self.follow_up_tool_choice: str | None = None
        self._book = TurnBook(transcript)
        self._interrupted: set[str] = set()  # responses whose audio is no longer played
        self._race_ids = 0
        self._ptt = PushToTalk(self)
        if transport is None:
            transport = WebSocketTransport(client, lambda c: c.realtime.connect(model=model).enter(),
                                           name="RealtimeSession")
        super().__init__(transport, player=player, transcript=transcript, event_log=event_log)

    # ------------------------------------------------------------ lifecycle
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Connect, wait for ``session.created``, then send one ``session.update`` with
        ``session`` (partial; merged by the server) and the input transcription model.
        A second :meth:`start` only sends the update."""
        self._transport.open(timeout)
        created = self.wait_for("session.created", since=0, timeout=timeout)
        if self.transcribe is not None:
            audio = dict(config.get("audio") or {})
            audio["input"] = {"transcription": {"model": self.transcribe}, **(audio.get("input") or {})}
            config["audio"] = audio
        if config:
            return self.update(config, timeout=timeout)
        return dict(created.data["session"])

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.update(config, timeout=timeout) if config else dict(self.session)

    @property
    def conversation_id(self) -> str:
        """The id the Transcript and MetricsTable key this conversation by: the server's
        session id (``session.created``), or a voicekit id before it arrives."""
        return self._book.conversation

    @property
    def transcript(self) -> Transcript | None:
        return self._book.transcript  # type: ignore[return-value]

    @transcript.setter
    def transcript(self, transcript: Transcript | None) -> None:
        self._book.transcript = transcript

    # --------------------------------------------------------------- client events
    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` and return the merged session from ``session.updated``.
        ``session`` is partial; ``"type": "realtime"`` is added when missing."""
        mark = self.mark()
        self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def send_text(self, text: str, *, respond: bool = True) -> None:
        """Add a user message with ``input_text`` and, by default, ask for a response."""
        self.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        if respond:
            self.create_response()

    def commit(self) -> None:
        """Send ``input_audio_buffer.commit`` (manual turns: the user finished speaking)."""
        self.send({"type": "input_audio_buffer.commit"})

    def clear_input(self) -> None:
        """Send ``input_audio_buffer.clear`` (drop audio not yet committed)."""
        self.send({"type": "input_audio_buffer.clear"})

    def create_response(self, **response: Any) -> None:
        """Send ``response.create``; keyword arguments are per-response overrides
        (``instructions``, ``output_modalities``, ``tool_choice``, ``conversation``...)."""
        self.send({"type": "response.create", **({"response": response} if response else {})})

    def cancel_response(self) -> None:
        """Send ``response.cancel`` (the server answers with an error if none is active)."""
        self.send({"type": "response.cancel"})

    def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> None:
        """Send ``conversation.item.truncate``: the assistant audio heard ends at
        ``audio_end_ms`` (ms from the start of that item's audio)."""
        self.send({"type": "conversation.item.truncate", "item_id": item_id,
                   "content_index": content_index, "audio_end_ms": int(audio_end_ms)})

    # ------------------------------------------------------------- turns
    def run_turn(self, user: Clip | str, *, timeout: float = 120.0, **response: Any) -> Turn:
        """Send one user turn (a recording, as fast as the socket takes it, or a text
        message) and wait for the reply; returns the :class:`Turn`.

        With manual turns the recording is committed and a response requested
        (keyword arguments are that ``response.create``'s overrides); with server VAD
        the server asks for the response itself. A response still in progress is
        waited for first. With :attr:`functions`, tool calls are run and answered on
        the way; without, the turn returns at the tool call.

        Raises
        ------
        TimeoutError, RealtimeError, ClosedError
        """
        self.lifecycle.check()
        active = self._book.active_response
        if active is not None:  # a second response.create would be refused
            self.wait_for("response.done", since=0, timeout=timeout, where=lambda e: e.data["response"]["id"] == active)
        mark = self.mark()
        if isinstance(user, str):
            self.send_text(user, respond=False)
            self.create_response(**response)
        else:
            self._stream_clip(user)
            if not self.turn_detection:
                self.commit()
                self.create_response(**response)
        deadline = time.monotonic() + timeout
        while True:
            done = self.wait_for("response.done", since=mark, timeout=max(0.0, deadline - time.monotonic()))
            mark = self.events.index(done) + 1
            turn = self._book.turn_of_response(done.data["response"]["id"])
            if turn is not None and not (turn.awaiting_tool and self.functions):
                return turn

    def _clip_from_code(self, barge_in: bool = False) -> None:
        if not barge_in:
            self._book.let_go_of_a_finished_reply()

    def _stream_clip(self, clip: Clip) -> None:
        self.send_clip(clip, realtime=False, pad_ms=None if self.turn_detection else 0.0)

    def _settle(self, before: int, mark: int, timeout: float) -> list[Turn]:
        """After a clip was sent: wait until the turns it started are answered."""
        if not self.turn_detection:
            return list(self.turns[before:])
        deadline = time.monotonic() + timeout
        try:  # no speech in the clip: no turn
            self.wait_for("input_audio_buffer.speech_started", since=mark, timeout=2.0)
        except TimeoutError:
            if len(self.turns) == before:
                return []
        while True:
            since = len(self.events)
            new = self.turns[before:]
            if new and self._book.active_response is None and all(
                    t.status is not None and not (t.awaiting_tool and self.functions) for t in new):
                return list(new)
            self.wait_for(_PROGRESS, since=since, timeout=max(0.0, deadline - time.monotonic()))

    def interrupt(self) -> int | None:
        """Stop the reply now: cancel it if still generating, clear the Player and
        truncate the assistant item to what was heard. Returns ``audio_end_ms``, or
        None when no reply audio was playing."""
        self.lifecycle.check()
        return self._transport.call(self._interrupt)

    def _interrupt(self) -> int | None:  # on the transport's thread: no delta can slip past the clear
        if self._book.active_response is not None:
            # it may finish before the cancel arrives: the server's "no active response"
            # error for this event id is expected, so it neither raises nor counts
            self._race_ids += 1
            self.send({"type": "response.cancel", "event_id": f"{RACE_EVENT_PREFIX}{self._race_ids}"})
        return self._barge_in()

    # ------------------------------------------------------------- push-to-talk
    def push_to_talk(self, button: TalkButton | None = None, *, timeout: float = 30.0) -> TalkButton:
        """Switch to manual turns (``turn_detection: null``) and return a button:
        hold it to talk (the attached Recorder's chunks are sent only while it is held,
        and the button starts and stops that Recorder itself when it is not recording);
        release commits the buffer and asks for a response. Pressing it while a
        reply plays interrupts the reply. The button's own lines say "say something"
        while it listens, and why it cannot work when it cannot (a later
        ``session.update`` back to VAD turns disables it; no Recorder attached; nothing
        heard). Pass ``button`` to wire one already shown."""
        from ..widgets import TalkButton

        self.update({"audio": {"input": {"turn_detection": None}}}, timeout=timeout)
        button = button if button is not None else TalkButton()
        button.on_press(self._button_pressed)
        button.on_release(self._button_released)
        self._ptt.wire(button)
        return button

    def _release(self, timeout: float) -> None:
        # a TalkButton wired to this session (a cell after the one that made it) says it is closed
        self._ptt.closed(str(closed_error(self.lifecycle)))
        super()._release(timeout)

    def _button_pressed(self) -> None:
        # the button opens the attached Recorder's microphone itself, and says in the
        # widget why it cannot work (VAD turns, no Recorder): push_to_talk.PushToTalk.press
        self.lifecycle.check()
        self._ptt.press()

    def _button_released(self) -> None:
        self.lifecycle.check()
        self._ptt.release()

    def _on_recording_stopped(self, clip: Clip) -> None:
        self._ptt.recording_stopped()  # a release that waited for the microphone's last chunks
        super()._on_recording_stopped(clip)

    def begin_talk(self) -> None:
        """Push-to-talk pressed: interrupt any reply, clear the input buffer, open the mic.
        Ignored (with a warning) unless the session has manual turns."""
        self.lifecycle.check()
        self._ptt.begin()

    def end_talk(self) -> None:
        """Push-to-talk released: commit what was said and ask for a response."""
        self.lifecycle.check()
        self._ptt.end()

    def talk(self, clip: Clip) -> None:
        """Push-to-talk without a microphone: press, send ``clip``, release."""
        self.begin_talk()
        self.send_clip(clip, realtime=False, pad_ms=0)
        self._ptt.frames += clip.n_frames
        self._ptt.seconds += clip.duration
        self.end_talk()

    def _hear(self, clip: Clip) -> None:
        if self._ptt.passes(clip):
            self.send_audio(clip)

    # ------------------------------------------------------------- reading
    @property
    def turns(self) -> list[Turn]:
        return self._book.turns

    def _turn_list(self) -> list[Turn]:
        return self._book.turns

    def turn_of(self, response_id: str) -> Turn | None:
        """The :class:`Turn` a response (``response.id``) belongs to, or None."""
        return self._book.turn_of_response(response_id)

    @property
    def reply(self) -> Clip | None:
        """The last turn's reply audio (PCM16 mono, 24,000 Hz), or None."""
        for turn in reversed(self.turns):
            if turn.reply is not None:
                return turn.reply
        return None

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """The session's ``audio.input.turn_detection`` (None: manual turns)."""
        return ((self.session.get("audio") or {}).get("input") or {}).get("turn_detection")

    def _default_pad_ms(self) -> float:
        return vad_silence_ms(self.turn_detection) + VAD_PAD_MS if self.turn_detection else 0.0

    # ------------------------------------------------------------ server events
    def _before_send(self, event: dict[str, Any]) -> None:
        if event["type"] == "input_audio_buffer.commit":
            self._book.commit_sent(self._now())

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        now = self._now()
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            if self.turn_detection is not None:
                self._ptt.vad_turns()  # the microphone streams all the time; the button says it is off
        elif kind == "error":
            err = data.get("error") or {}
            if str(err.get("event_id") or "").startswith(RACE_EVENT_PREFIX):
                logger.debug("expected race: %s", err.get("message"))
            else:
                self.errors.append(err)
                logger.warning("Realtime error event: %s", err.get("message"))
        elif kind == "input_audio_buffer.speech_started":
            if (self.turn_detection or {}).get("interrupt_response", True) is not False:
                self._barge_in()
        elif kind == "response.output_audio.delta":
            pcm = Clip.from_base64_pcm16(data["delta"]).samples
            player = self.player
            start_ms = player.duration_ms if player is not None else 0.0
            # deltas already on the way when the user barged in are not played; a new turn's
            # first audio flushes what older replies still have queued (issue 25, item 2)
            if player is not None and data["response_id"] not in self._interrupted:
                turn = self._book.turn_of_response(data["response_id"])
                player.append(pcm, turn=f"turn-{turn.index}" if turn is not None else data["response_id"])
                start_ms = player.duration_ms - 1000.0 * pcm.size / player.sample_rate
            self._book.audio_delta(data, pcm, now, start_ms)
        elif kind == "response.done" and self.functions:
            self._run_tools(data["response"])
        self._book.handle(data, now)

    def _run_tools(self, response: dict[str, Any]) -> None:
        if calls := function_calls(response):
            turn = self._book.turn_of_response(response["id"])
            rounds = len(turn.response_ids) if turn is not None else 1
            asyncio.get_running_loop().create_task(answer_tools(
                calls, self.functions, self._transport.send_event, rounds=rounds,
                tool_choice=self.follow_up_tool_choice, ran=self._book.tool_output))

    def _barge_in(self) -> int | None:
        item = self._book.playing_item
        if item is None:
            return None
        heard = self._heard_ms(item)
        if heard >= item.received_ms and self._book.active_response != item.response_id:  # all of it was heard
            return None
        self._interrupted.add(item.response_id)
        if self.player is not None:
            self.player.clear()
        end_ms = int(heard)
        item.truncated_at_ms = end_ms
        self.truncate(item.item_id, end_ms)
        return end_ms

    def _heard_ms(self, item: AudioItem) -> float:
        """ms of ``item`` heard: the Player's reported position when a browser plays
        it, else the wall time since its first audio (real-time playback assumed)."""
        player = self.player
        if player is not None and (player.playing or player.played_ms > 0):
            heard = player.played_ms - item.player_offset_ms
        else:
            heard = (self._now() - item.t_first) * 1000.0
        return min(max(heard, 0.0), item.received_ms)
