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
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Self

from .._callbacks import CallbackHandle, Callbacks
from .._lifecycle import Lifecycle, track
from ..audio import Clip
from ._client_events import ClientEventsMixin
from ._microphone import MicrophoneMixin
from ._server_events import ServerEventsMixin
from ._socket import RACE_EVENT_PREFIX, RealtimeSocket, event_types
from ._tools import MAX_TOOL_ROUNDS, answer_tools, function_calls
from .turns import RealtimeEvent, Turn, TurnBook

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import EventLog, Player, Transcript

__all__ = ["DEFAULT_MODEL", "DEFAULT_TRANSCRIBE_MODEL", "MAX_TOOL_ROUNDS", "RealtimeSession"]

logger = logging.getLogger("voicekit.realtime")

DEFAULT_MODEL = "gpt-realtime-mini"
"""The smaller GA Realtime model (``openai.types.realtime`` session ``model`` literals)."""

DEFAULT_TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"
"""Input transcription model the session turns on unless told otherwise (OpenAI's
default is no input transcription: ``audio.input.transcription`` null)."""


class RealtimeSession(ClientEventsMixin, ServerEventsMixin, MicrophoneMixin):
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
        self._on_event: Callbacks[RealtimeEvent] = Callbacks("RealtimeSession on_event")
        self._socket = RealtimeSocket(self._client, model, handle=self._handle, on_record=self._recorded,
                                      close_client=self._own_client)
        self._socket.before_send = self._before_send
        self.lifecycle = Lifecycle("RealtimeSession")
        track(self)
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
        ClosedError
            If the session was closed.

        Notes
        -----
        Safe to re-run: on a session already started it opens no second connection,
        and only sends the update.
        """
        self.lifecycle.check()
        patch = dict(session or {})
        if self._socket.opened:
            return self.update(patch, timeout=timeout) if patch else dict(self.session)
        self._socket.open(timeout)
        created = self.wait_for("session.created", since=0, timeout=timeout)
        if self.transcribe is not None:
            audio = dict(patch.get("audio") or {})
            audio["input"] = {"transcription": {"model": self.transcribe}, **(audio.get("input") or {})}
            patch["audio"] = audio
        if patch:
            return self.update(patch, timeout=timeout)
        return dict(created.data["session"])

    def close(self, timeout: float = 10.0) -> None:
        """Close the socket (and the copied client), stop the thread. Idempotent.

        Needed only to hang up early: the kernel's exit closes every session, and so
        does re-running the cell that made it (once no variable refers to it). Every
        later call raises :class:`~voicekit.errors.ClosedError`; a Recorder still
        attached shows that error when it records.
        """
        if self.lifecycle.close():
            self._shutdown(timeout)

    def _shutdown(self, timeout: float = 10.0) -> None:
        self._socket.close(timeout)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or the notebook dropped the session)."""
        return self.lifecycle.closed

    @property
    def conversation_id(self) -> str:
        """The id the Transcript and MetricsTable key this conversation by: the server's
        session id (``session.created``), or a voicekit id before it arrives."""
        return self._book.conversation

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
        Future is done once this one was sent.

        Raises
        ------
        ClosedError
            If the session was closed.
        """
        self.lifecycle.check()
        return self._socket.put("event", dict(event))

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` and return the merged session from ``session.updated``.

        ``session`` is partial; ``"type": "realtime"`` is added when missing.
        """
        mark = self.mark()
        self.send({"type": "session.update", "session": {"type": "realtime", **session}})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

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
        ClosedError
            If the session was closed.
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
        self.lifecycle.check()
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
        ClosedError
            If the session was closed (its :attr:`events` stay readable).
        """
        self.lifecycle.check()
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

    def on_event(self, callback: Callable[[RealtimeEvent], Any], remove: bool = False) -> CallbackHandle:
        """Call ``callback(event)`` with every :class:`RealtimeEvent`, on the session's
        thread (keep it short; exceptions are logged). Registering again from a re-run
        cell replaces it (:class:`voicekit._callbacks.Callbacks`); returns a handle."""
        return self._on_event.register(callback, remove)

    # ------------------------------------------------------------ internals
    def _before_send(self, event: dict[str, Any]) -> None:
        if event["type"] == "input_audio_buffer.commit":
            self._book.commit_sent(self._socket.now())

    def _run_tools(self, response: dict[str, Any]) -> None:
        calls = function_calls(response)
        if not calls:
            return
        turn = self._book.turn_of_response(response["id"])
        rounds = len(turn.response_ids) if turn is not None else 1
        asyncio.get_running_loop().create_task(
            answer_tools(calls, self.functions, self._socket.send_event, last=rounds >= MAX_TOOL_ROUNDS))

    def _recorded(self, event: RealtimeEvent) -> None:
        if self.event_log is not None:
            try:
                self.event_log.add(event)
            except Exception:
                logger.exception("EventLog.add failed")
        self._on_event(event)
