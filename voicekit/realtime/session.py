"""Realtime API sessions that run in the background of a notebook.

:class:`RealtimeSession` opens ``client.realtime.connect(model=...)`` (the GA
protocol, as ``openai.types.realtime`` defines it) with the SDK's async client, on
an asyncio loop in a daemon thread of its own. A cell that starts it returns at
once; the kernel stays free to pass microphone chunks in and widget updates out.

Wiring (OpenAI guide "Realtime conversations", section "Handling interruptions"):

- microphone chunks (a :class:`~voicekit.widgets.Recorder`) and recordings
  (:meth:`RealtimeSession.send_clip`) go out as ``input_audio_buffer.append``,
  PCM16 mono at 24,000 Hz, base64;
- ``response.output_audio.delta`` goes into a streaming
  :class:`~voicekit.widgets.Player`;
- ``input_audio_buffer.speech_started`` while a reply still plays is a barge-in:
  the Player is cleared and ``conversation.item.truncate`` tells the server how
  much of the reply was heard (``audio_end_ms``, clamped to the audio received);
- each user/assistant exchange becomes a :class:`Turn`, with its latency from the
  end of speech (``speech_stopped``, or the commit in push-to-talk) to the first
  reply audio.

Every event, both ways, is recorded in :attr:`RealtimeSession.events`, with the
base64 audio left out (its size is kept). :meth:`RealtimeSession.wait_for` blocks
the calling cell until an event arrives, with a timeout; nothing here waits for a
widget.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from ._realtime_socket import RACE_EVENT_PREFIX, RealtimeSocket, event_types
from ._realtime_turns import AudioItem, RealtimeEvent, Turn, TurnBook
from .audio import Clip
from .formats import REALTIME_SAMPLE_RATE

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from .widgets import EventLog, Player, Recorder, TalkButton, Transcript

__all__ = ["DEFAULT_MODEL", "RealtimeEvent", "RealtimeSession", "Turn"]

logger = logging.getLogger("voicekit.realtime")

DEFAULT_MODEL = "gpt-realtime-mini"
"""The smaller GA Realtime model (``openai.types.realtime`` session ``model`` literals)."""

DEFAULT_TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"
"""Input transcription model the session turns on unless told otherwise (OpenAI's
default is no input transcription: ``audio.input.transcription`` null)."""

MAX_TOOL_ROUNDS = 4
"""Tool calls answered in one turn before the follow-up ``response.create`` says
``tool_choice: "none"`` (a ``"required"`` tool choice would otherwise loop)."""

VAD_PAD_MS = 500
"""Silence sent after a recording, on top of the VAD's ``silence_duration_ms``, so the
server hears the end of the turn (semantic_vad waits up to 1,000 ms at low eagerness)."""


class RealtimeSession:
    """One Realtime conversation, running on a background thread.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI
        The client to connect with. A sync ``OpenAI`` client is copied into an
        ``AsyncOpenAI`` with the same key, base URL, organization and project (the
        socket needs the async client); that copy is closed with the session.
    model : str
        Realtime model, default ``"gpt-realtime-mini"``.
    player : Player, optional
        Where reply audio goes (PCM16, 24,000 Hz). Give it ``autoplay=True``.
    transcript : Transcript, optional
        Shows each turn's user transcript and assistant text as it streams.
    event_log : EventLog, optional
        Shows every event (type, time, key fields).
    functions : mapping of str to callable, optional
        Tools to run when the model calls them: ``functions[name](**arguments)``;
        the result (``json.dumps`` unless a str) goes back as a
        ``function_call_output`` item followed by ``response.create``. Declare the
        tools themselves in the session (``tools``). After ``MAX_TOOL_ROUNDS``
        rounds in one turn, the follow-up asks for no more tool calls.
    transcribe : str or None
        Input transcription model, turned on by :meth:`start` (default
        ``"gpt-4o-mini-transcribe"``), so the user's words reach :attr:`turns` and
        the Transcript; None leaves the session's setting alone.

    Attributes
    ----------
    events : list of RealtimeEvent
        Every event sent and received, in order.
    turns : list of Turn
        One per user input (speech, a committed buffer or a text message).
    session : dict
        The session as the server last reported it (``session.created`` or
        ``session.updated``).
    errors : list of dict
        The ``error`` objects of every ``error`` event received.

    Raises
    ------
    RealtimeError
        From :meth:`wait_for` when an ``error`` event arrives or the socket closes.
    """

    def __init__(
        self,
        client: AsyncOpenAI | OpenAI,
        model: str = DEFAULT_MODEL,
        *,
        player: Player | None = None,
        transcript: Transcript | None = None,
        event_log: EventLog | None = None,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        transcribe: str | None = DEFAULT_TRANSCRIBE_MODEL,
    ) -> None:
        from openai import AsyncOpenAI

        if isinstance(client, AsyncOpenAI):
            self._client, self._own_client = client, False
        else:
            self._client = AsyncOpenAI(
                api_key=client.api_key, base_url=client.base_url, organization=client.organization,
                project=client.project, max_retries=client.max_retries)
            self._own_client = True
        self.model = model
        self.player = player
        self.transcript = transcript
        self.event_log = event_log
        self.functions = dict(functions or {})
        self.transcribe = transcribe
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self._book = TurnBook(transcript)
        self._on_event: list[Callable[[RealtimeEvent], Any]] = []
        self._socket = RealtimeSocket(self._client, model, handle=self._handle, on_record=self._recorded,
                                      close_client=self._own_client)
        self._socket.before_send = self._before_send
        self._recorder: Recorder | None = None
        self._talking: bool | None = None  # None: not push-to-talk
        self._talk_frames = 0
        self._interrupted: set[str] = set()  # responses whose audio is no longer played
        self._race_ids = 0

    # ------------------------------------------------------------ lifecycle
    def start(self, session: Mapping[str, Any] | None = None, *, timeout: float = 60.0) -> dict[str, Any]:
        """Connect, wait for ``session.created``, then send one ``session.update``
        with ``session`` (partial; merged deeply by the server) and the input
        transcription model (see ``transcribe``).

        Returns
        -------
        dict
            The session the server reports: ``session.updated`` when an update was
            sent, else ``session.created``.

        Raises
        ------
        TimeoutError
            If the server does not answer within ``timeout`` seconds.
        RealtimeError
            If it answers the update with an ``error`` event.
        """
        self._socket.open(timeout)
        created = self.wait_for("session.created", since=0, timeout=timeout)
        patch = dict(session or {})
        if self.transcribe is not None:
            audio = dict(patch.get("audio") or {})
            audio["input"] = {"transcription": {"model": self.transcribe}, **(audio.get("input") or {})}
            patch["audio"] = audio
        if patch:
            return self.update(patch, timeout=timeout)
        return dict(created.data["session"])

    def close(self, timeout: float = 10.0) -> None:
        """Close the socket (and the copied client), stop the thread. Idempotent."""
        self.detach()
        self._socket.close(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        """True between :meth:`start` and :meth:`close` while the socket is open."""
        return self._socket.connected

    # --------------------------------------------------------------- sending
    def send(self, event: Mapping[str, Any]) -> Future[None]:
        """Queue one client event (a dict shaped like ``openai.types.realtime``'s
        ``RealtimeClientEventParam``). Events go out in the order queued; the
        Future is done once this one was sent."""
        return self._socket.put("event", dict(event))

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` and return the merged session from ``session.updated``.

        ``session`` is partial; ``"type": "realtime"`` is added when missing.
        """
        mark = self.mark()
        self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def send_audio(self, audio: Clip) -> Future[None]:
        """Queue one ``input_audio_buffer.append`` of ``audio`` (any rate and channels;
        mixed to mono, resampled to 24,000 Hz PCM16 with soxr). The Future is done
        once it was sent."""
        return self._socket.put("audio", _pcm16_24k(audio))

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = False,
                  pad_ms: float | None = None) -> Future[None]:
        """Stream a recording as ``input_audio_buffer.append`` events of ``chunk_ms``.

        Parameters
        ----------
        clip : Clip
            Any rate and channels (mixed to mono, resampled to 24,000 Hz PCM16).
        chunk_ms : float
            Audio per event, in ms.
        realtime : bool
            Pace the chunks at the speed of speech, as a microphone would; the call
            still returns at once. By default they go as fast as the socket takes
            them (the server's VAD works on the audio timeline either way).
        pad_ms : float, optional
            Silence appended after the clip, in ms. Default: with server_vad or
            semantic_vad, the VAD's silence window plus 500 ms, so the turn ends; with
            manual turns (``turn_detection`` null), none.

        Returns
        -------
        concurrent.futures.Future
            Done when the last chunk was sent.
        """
        pcm = _pcm16_24k(clip)
        if pad_ms is None:
            pad_ms = self._vad_silence_ms() + VAD_PAD_MS if self.turn_detection else 0.0
        pad = np.zeros(round(pad_ms * REALTIME_SAMPLE_RATE / 1000), np.int16)
        step = max(1, round(chunk_ms * REALTIME_SAMPLE_RATE / 1000))
        return self._socket.put("clip", (np.concatenate([pcm, pad]), step, realtime))

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
        """Send one user turn (a recording or a text message) and wait for the reply.

        A recording is streamed with :meth:`send_clip`; with manual turns it is then
        committed and a response requested; a response still in progress is
        waited for first (keyword arguments are that
        ``response.create``'s overrides, as in :meth:`create_response`; with
        server VAD the server asks for the response itself). With :attr:`functions`, tool calls are
        run and answered on the way; without, the turn returns at the tool call.
        Returns the :class:`Turn`.

        Raises
        ------
        TimeoutError
            If no final ``response.done`` arrives within ``timeout`` seconds.
        RealtimeError
            If the server sends an ``error`` event meanwhile.
        """
        active = self._book.active_response
        if active is not None:  # a second response.create would be refused
            self.wait_for("response.done", since=0, timeout=timeout, where=lambda e: e.data["response"]["id"] == active)
        mark = self.mark()
        if isinstance(user, str):
            self.send_text(user, respond=False)
            self.create_response(**response)
        else:
            self.send_clip(user)
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

    def interrupt(self) -> int | None:
        """Stop the reply now: cancel it if still generating, clear the Player and
        truncate the assistant item to what was heard. Returns ``audio_end_ms``, or
        None when no reply audio was playing."""
        return self._socket.call(self._interrupt)

    def _interrupt(self) -> int | None:  # on the socket's thread: no delta can slip past the clear
        if self._book.active_response is not None:
            # it may finish before the cancel arrives: the server's "no active response"
            # error for this event id is expected, so it neither raises nor counts
            self._race_ids += 1
            self.send({"type": "response.cancel", "event_id": f"{RACE_EVENT_PREFIX}{self._race_ids}"})
        return self._barge_in()

    # ------------------------------------------------------------ waiting
    def mark(self) -> int:
        """Remember the current end of :attr:`events`; :meth:`wait_for` looks after it."""
        return self._socket.mark()

    def wait_for(self, event_type: str | Iterable[str], *, since: int | None = None, timeout: float = 60.0,
                 where: Callable[[RealtimeEvent], bool] | None = None,
                 raise_on_error: bool = True) -> RealtimeEvent:
        """Block until a server event of ``event_type`` arrives and return it.

        Parameters
        ----------
        event_type : str or iterable of str
            Server event type(s), for example ``"response.done"``.
        since : int, optional
            Index in :attr:`events` to search from; default the last :meth:`mark`
            (call ``mark()`` before sending, so a fast reply cannot be missed).
        timeout : float
            Seconds.
        where : callable, optional
            Extra condition on the event.
        raise_on_error : bool
            Raise :class:`RealtimeError` if an ``error`` event arrives first.

        Raises
        ------
        TimeoutError
            After ``timeout`` seconds; the message lists the last events seen.
        RealtimeError
            On an ``error`` event (when ``raise_on_error``) or a closed socket.
        """
        return self._socket.wait_for(event_types(event_type), since, timeout, where, raise_on_error)

    # ------------------------------------------------------------- reading
    @property
    def events(self) -> list[RealtimeEvent]:
        return self._socket.events

    @property
    def turns(self) -> list[Turn]:
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

    def on_event(self, callback: Callable[[RealtimeEvent], Any], remove: bool = False) -> None:
        """Call ``callback(event)`` with every :class:`RealtimeEvent`, on the session's
        thread (keep it short; exceptions are logged to ``voicekit.realtime``)."""
        if remove:
            self._on_event.remove(callback)
        else:
            self._on_event.append(callback)

    # ------------------------------------------------------- microphone
    def attach(self, recorder: Recorder) -> None:
        """Stream ``recorder``'s chunks (about 100 ms each) into the input buffer."""
        self.detach()
        recorder.on_chunk(self._on_chunk)
        self._recorder = recorder

    def detach(self) -> None:
        """Stop streaming the attached Recorder."""
        if self._recorder is not None:
            self._recorder.on_chunk(self._on_chunk, remove=True)
            self._recorder = None

    def push_to_talk(self, button: TalkButton | None = None, *, timeout: float = 30.0) -> TalkButton:
        """Switch to manual turns (``turn_detection: null``) and return a button:
        hold it to talk (the Recorder's chunks are sent only while it is held);
        release commits the buffer and asks for a response. Pressing it while a
        reply plays interrupts the reply. Pass ``button`` to wire one already shown."""
        from .widgets import TalkButton

        self.update({"audio": {"input": {"turn_detection": None}}}, timeout=timeout)
        button = button if button is not None else TalkButton()
        button.on_press(self.begin_talk)
        button.on_release(self.end_talk)
        self._talking = False
        return button

    def begin_talk(self) -> None:
        """Push-to-talk pressed: interrupt any reply, clear the input buffer, open the mic.

        Ignored (with a warning) unless the session has manual turns
        (``turn_detection`` null, as :meth:`push_to_talk` sets)."""
        if self.turn_detection is not None:
            logger.warning("push-to-talk needs turn_detection null (call push_to_talk()); ignored")
            return
        self.interrupt()
        self.clear_input()
        self._talk_frames = 0
        self._talking = True

    def end_talk(self) -> None:
        """Push-to-talk released: commit what was said and ask for a response."""
        if self.turn_detection is not None:
            return
        self._talking = False
        if self._talk_frames == 0:
            logger.warning("push-to-talk released with no audio sent; nothing committed")
            return
        self.commit()
        self.create_response()

    def talk(self, clip: Clip) -> None:
        """Push-to-talk without a microphone: press, send ``clip``, release."""
        self.begin_talk()
        self.send_clip(clip, pad_ms=0)
        self._talk_frames += clip.n_frames
        self.end_talk()

    def _on_chunk(self, chunk: Any) -> None:
        if self._talking is False:
            return
        self._talk_frames += chunk.clip.n_frames
        self.send_audio(chunk.clip)

    # ------------------------------------------------------------ internals
    def _vad_silence_ms(self) -> float:
        td = self.turn_detection or {}
        if td.get("type") == "semantic_vad":
            return 1000.0
        return float(td.get("silence_duration_ms") or 500)

    def _before_send(self, event: dict[str, Any]) -> None:
        if event["type"] == "input_audio_buffer.commit":
            self._book.commit_sent(self._socket.now())

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        now = self._socket.now()
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            if self.turn_detection is not None:
                self._talking = None  # VAD turns: the microphone streams all the time
        elif kind == "error":
            err = data.get("error") or {}
            if str(err.get("event_id") or "").startswith(RACE_EVENT_PREFIX):
                logger.debug("expected race: %s", err.get("message"))
            else:
                self.errors.append(err)
                logger.warning("Realtime error event: %s", err.get("message"))
        elif kind == "input_audio_buffer.speech_started":
            td = self.turn_detection or {}
            if td.get("interrupt_response", True) is not False:
                self._barge_in()
        elif kind == "response.output_audio.delta":
            pcm = Clip.from_base64_pcm16(data["delta"]).samples
            self._book.audio_delta(data, pcm, now, self._player_ms())
            # deltas already on the way when the user barged in are not played
            if self.player is not None and data["response_id"] not in self._interrupted:
                self.player.append(pcm)
        elif kind == "response.done" and self.functions:
            self._run_tools(data["response"])
        self._book.handle(data, now)

    def _player_ms(self) -> float:
        return self.player.duration_ms if self.player is not None else 0.0

    def _barge_in(self) -> int | None:
        item = self._book.playing_item
        if item is None:
            return None
        heard = self._heard_ms(item)
        if heard >= item.received_ms and self._book.active_response != item.response_id:  # the whole reply was already heard
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
            heard = (self._socket.now() - item.t_first) * 1000.0
        return min(max(heard, 0.0), item.received_ms)

    def _run_tools(self, response: dict[str, Any]) -> None:
        calls = [o for o in response.get("output") or [] if o.get("type") == "function_call"]
        if response.get("status") != "completed" or not calls:
            return
        turn = self._book.turn_of_response(response["id"])
        rounds = len(turn.response_ids) if turn is not None else 1
        asyncio.get_running_loop().create_task(self._answer_tools(calls, last=rounds >= MAX_TOOL_ROUNDS))

    async def _answer_tools(self, calls: list[dict[str, Any]], *, last: bool) -> None:
        for call in calls:
            fn = self.functions.get(call["name"])
            try:
                if fn is None:
                    raise KeyError(f"no function named {call['name']!r} in RealtimeSession.functions")
                result = await asyncio.to_thread(fn, **json.loads(call.get("arguments") or "{}"))
                output = result if isinstance(result, str) else json.dumps(result)
            except Exception as exc:  # noqa: BLE001 -- the model hears the error and can say so
                logger.warning("tool %s failed: %s", call["name"], exc)
                output = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            await self._socket.send_event({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call["call_id"], "output": output}})
        await self._socket.send_event({"type": "response.create", **({"response": {"tool_choice": "none"}} if last else {})})

    def _recorded(self, event: RealtimeEvent) -> None:
        sinks: list[Callable[[RealtimeEvent], Any]] = list(self._on_event)
        if self.event_log is not None:
            sinks.insert(0, self.event_log.add)
        for sink in sinks:
            try:
                sink(event)
            except Exception:
                logger.exception("Realtime event callback %r failed", sink)


def _pcm16_24k(audio: Clip) -> np.ndarray:
    if not isinstance(audio, Clip):
        raise TypeError(f"expected a voicekit Clip, got {type(audio).__name__}")
    return audio.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples
