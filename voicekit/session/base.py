"""The one base of every voice session and agent, and the part of it that has a connection.

:class:`VoiceSession` holds what every voice object of the kit does the same way:

- its lifecycle: :meth:`~VoiceSession.start` (idempotent), :meth:`~VoiceSession.close`
  (idempotent; later calls raise :class:`~voicekit.errors.ClosedError`), a context manager;
- a :class:`~voicekit.widgets.Recorder` attached or detached (a re-run cell replaces the
  attachment; after :meth:`~VoiceSession.close` its chunks raise ``ClosedError``, shown in
  the Recorder; a session made by a re-run of the creating cell takes the Recorder over);
- a recording sent at real-time pace (``realtime=True``, the default everywhere) or as
  fast as possible: :meth:`~VoiceSession.send_clip` returns a ``Future`` of the turns
  the clip started, done once they are answered;
- the widgets: ``player``, ``transcript``, ``event_log``, ``metrics`` (a MetricsTable).

:class:`ConnectedSession` adds a :class:`~voicekit.session.transport.Transport`: the
event record (:attr:`events`, :meth:`mark`, :meth:`wait_for`), :meth:`send`,
:meth:`send_audio`, :meth:`on_event`. ``RealtimeSession``, ``Captions`` and
``LiveSession`` are connected sessions; ``CascadedAgent`` is a voice session over plain
HTTP requests, and ``RealtimeAgent`` wraps a ``RealtimeSession``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from .._callbacks import CallbackHandle, Callbacks
from .._lifecycle import Lifecycle, track
from ..audio import Clip
from ..errors import NotStartedError
from ..formats import REALTIME_SAMPLE_RATE
from .client_events import check_client_event
from .events import RealtimeEvent

if TYPE_CHECKING:
    from ..widgets import EventLog, MetricsTable, Player, Recorder, Transcript
    from .transport import Transport

__all__ = ["ConnectedSession", "NotStartedError", "VoiceSession", "pcm16_24k"]

logger = logging.getLogger("voicekit.session")


def pcm16_24k(audio: Clip) -> npt.NDArray[np.int16]:
    """``audio`` as int16 samples, mono, 24,000 Hz (resampled with soxr): shape ``(n,)``.

    Raises
    ------
    TypeError
        If ``audio`` is not a :class:`~voicekit.Clip`.
    """
    if not isinstance(audio, Clip):
        raise TypeError(f"expected a voicekit Clip, got {type(audio).__name__}")
    return audio.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples


class VoiceSession:
    """The base of every voice session and agent (see the module docstring).

    Subclasses implement ``_begin(config, timeout)`` (connect, configure; return the
    session), ``_hear(clip)`` (one microphone chunk), ``_stream(pcm, step, realtime)``
    (a Future done when a padded recording was fed), ``_turn_list()`` and
    ``_settle(before, mark, timeout)`` (wait until the turns after index ``before`` are
    answered, return them); ``_release(timeout)`` frees their own resources.
    """

    def __init__(self, *, player: Player | None = None, transcript: Transcript | None = None,
                 event_log: EventLog | None = None, metrics: MetricsTable | None = None) -> None:
        self.player, self.transcript, self.event_log = player, transcript, event_log
        self.metrics_table = metrics
        self._recorder: Recorder | None = None
        self._started = False
        self.lifecycle = Lifecycle(type(self).__name__)
        track(self)

    # ------------------------------------------------------------ lifecycle
    def start(self, session: Mapping[str, Any] | None = None, *, timeout: float = 60.0) -> dict[str, Any]:
        """Connect and configure (``session``: a partial configuration); return the session
        as the server reports it. Safe to re-run: a started session opens no second
        connection (see each class for what a second call changes).

        Raises
        ------
        ClosedError
            If it was closed.
        TimeoutError, RealtimeError
            If the server does not answer, or refuses the configuration.
        """
        self.lifecycle.check()
        if self._started:
            return self._restart(dict(session or {}), timeout)
        self._started = True
        return self._begin(dict(session or {}), timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Hang up and stop the threads. Idempotent.

        Needed only to stop early: the kernel's exit closes every session, and so does
        re-running the cell that made it. Every later call raises
        :class:`~voicekit.errors.ClosedError` naming the cell that made it.
        """
        if self.lifecycle.close():
            self._shutdown(timeout)

    def _shutdown(self, timeout: float = 10.0) -> None:
        # the Recorder stays attached: its next chunk shows the ClosedError, until a
        # replacement takes it over (_replaces) or a cell attaches it elsewhere
        self._release(timeout)

    def _replaces(self, old: VoiceSession) -> None:
        """Called by the lifecycle when a re-run cell made this to replace ``old`` (closed):
        the Recorder attached to ``old`` now streams here."""
        if old._recorder is not None and self._recorder is None:
            self.attach(old._recorder)
            old._recorder = None
            logger.info("the Recorder of the replaced %s now streams into its replacement", old.lifecycle.what)

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or a re-run cell replaced it)."""
        return self.lifecycle.closed

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- microphone
    def attach(self, recorder: Recorder) -> None:
        """Stream ``recorder``'s chunks (about 100 ms each) into the session.

        Attaching again (a re-run cell) replaces the earlier attachment, so each chunk
        goes in once. A chunk that arrives after :meth:`close` raises
        :class:`~voicekit.errors.ClosedError`, shown by the Recorder.
        """
        self.lifecycle.check()
        self.detach()
        recorder.on_chunk(self._on_chunk)
        recorder.on_clip(self._on_recording_stopped)
        self._recorder = recorder
        if self.player is not None:  # the learner's turn starts clean: earlier cells' replies stop
            self.player.clear_when_recording(recorder)

    @property
    def recorder(self) -> Recorder | None:
        """The attached :class:`~voicekit.widgets.Recorder`, or None."""
        return self._recorder

    def detach(self) -> None:
        """Stop streaming the attached Recorder."""
        if self._recorder is not None:
            self._recorder.on_chunk(self._on_chunk, remove=True)
            self._recorder.on_clip(self._on_recording_stopped, remove=True)
            self._recorder = None

    def _on_chunk(self, chunk: Any) -> None:
        self.lifecycle.check()
        self._hear(chunk.clip)

    def _on_recording_stopped(self, _clip: Clip) -> None:
        """**Stop** pressed: the microphone goes quiet, so send the silence the turn detection
        needs (:meth:`_default_pad_ms`, as fast as the connection takes it). Speech cut off
        by Stop then ends its turn now (a caption, an answer) instead of staying in the
        input buffer and surfacing inside the next recording (issue 25, item 5). Nothing
        is sent with manual turns (pad 0) or once closed (the chunks already said so)."""
        pad = self._default_pad_ms()
        if self.closed or pad <= 0:
            return
        step = round(100 * REALTIME_SAMPLE_RATE / 1000)
        self._stream(np.zeros(round(pad * REALTIME_SAMPLE_RATE / 1000), np.int16), step, False)

    # ------------------------------------------------------------- recordings
    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = True,
                  pad_ms: float | None = None, timeout: float = 120.0,
                  barge_in: bool = False) -> Future[list[Any]]:
        """Stream a recording as a microphone would, in ``chunk_ms`` pieces, then
        ``pad_ms`` of silence; returns at once.

        Parameters
        ----------
        clip : Clip
            Any rate and channels (mixed to mono, resampled to 24,000 Hz PCM16).
        chunk_ms : float
            Audio per piece, in ms.
        realtime : bool
            True (default): at the pace of speech, as a microphone; False: as fast as
            the connection takes it.
        pad_ms : float, optional
            Silence after the clip, ms; default: enough for the turn detection to end
            the turn (each class says how much).
        timeout : float
            Seconds the returned Future waits for the answers before failing.
        barge_in : bool
            False (default): a reply already received in full is let go, so the clip does not
            talk over it even while it would still be playing (a cell after a cell that waited
            for its answer). True: the clip talks over the reply still playing, received in full
            or not (a session with replies and barge-in; others ignore it).

        Returns
        -------
        concurrent.futures.Future of list
            Done once the clip was sent and the turns it started are answered; its
            result is those turns (``Turn``, ``LiveTurn``, ``CascadedTurn`` or ``Segment``).

        Raises
        ------
        ClosedError
            If the session was closed.
        """
        self.lifecycle.check()
        pad = self._default_pad_ms() if pad_ms is None else pad_ms
        pcm = np.concatenate([pcm16_24k(clip), np.zeros(round(pad * REALTIME_SAMPLE_RATE / 1000), np.int16)])
        step = max(1, round(chunk_ms * REALTIME_SAMPLE_RATE / 1000))
        before, mark = len(self._turn_list()), self._mark_now()
        self._clip_from_code(barge_in)
        sent = self._stream(pcm, step, realtime)
        return in_thread(lambda: (sent.result(timeout), self._settle(before, mark, timeout))[1],
                         f"voicekit-{self.lifecycle.what}-send_clip")

    # ------------------------------------------------------------ widgets
    def _add_metrics(self, rows: Iterable[Any]) -> None:
        if self.metrics_table is None:
            return
        for row in rows:
            try:
                self.metrics_table.add(row)
            except Exception:
                logger.exception("MetricsTable.add failed")

    # ------------------------------------------------------------ to implement
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return {}

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return {}

    def _release(self, timeout: float) -> None:
        """Free the subclass's resources (threads, sockets)."""

    def _hear(self, clip: Clip) -> None:
        raise NotImplementedError

    def _stream(self, pcm: npt.NDArray[np.int16], step: int, realtime: bool) -> Future[None]:
        raise NotImplementedError

    def _default_pad_ms(self) -> float:
        return 0.0

    def _mark_now(self) -> int:
        return 0

    def _clip_from_code(self, barge_in: bool = False) -> None:
        """A cell (not the microphone) starts the next turn with :meth:`send_clip`."""

    def _turn_list(self) -> Sequence[Any]:
        return []

    def _settle(self, before: int, mark: int, timeout: float) -> list[Any]:
        return list(self._turn_list()[before:])


class ConnectedSession(VoiceSession):
    """A :class:`VoiceSession` over a :class:`~voicekit.session.transport.Transport`.

    Subclasses implement ``_handle(event)`` (each server event as a dict, on the
    transport's thread, before it is recorded) and may implement ``_before_send(event)``.
    """

    CLIENT_EVENTS: ClassVar[str | None] = None
    """The SDK's client event union that :meth:`send` checks every event against
    (:data:`.client_events.REALTIME`, ``LIVE`` or ``TRANSLATION``); None sends unchecked."""

    def __init__(self, transport: Transport, *, player: Player | None = None, transcript: Transcript | None = None,
                 event_log: EventLog | None = None, metrics: MetricsTable | None = None) -> None:
        super().__init__(player=player, transcript=transcript, event_log=event_log, metrics=metrics)
        self._transport = transport
        self._on_event: Callbacks[RealtimeEvent] = Callbacks(f"{type(self).__name__} on_event")
        transport.record.on_record = self._recorded
        transport.bind(self._handle, self._before_send)

    @property
    def transport(self) -> Transport:
        """The connection underneath: the kernel's WebSocket, or the sideband of a WebRTC
        call (``transport.carries_audio`` is then False)."""
        return self._transport

    @property
    def connected(self) -> bool:
        """True between :meth:`start` and :meth:`close` while the connection is open."""
        return self._transport.connected

    def _release(self, timeout: float) -> None:
        self._transport.close(timeout)

    # --------------------------------------------------------------- sending
    def send(self, event: Mapping[str, Any]) -> Future[None]:
        """Queue one client event (a dict shaped as the SDK's client event params). Events
        go out in the order queued; the Future is done once this one was sent.

        Raises
        ------
        ClosedError
            If the session was closed.
        NotStartedError
            Before :meth:`start`.
        ValueError
            If the SDK's model of this session's client events refuses it
            (:attr:`CLIENT_EVENTS`; nothing is sent).
        """
        self._check_started()
        if self.CLIENT_EVENTS is not None:
            check_client_event(self.CLIENT_EVENTS, event)
        return self._transport.put("event", dict(event))

    def send_audio(self, audio: Clip) -> Future[None]:
        """Queue one audio append of ``audio`` (any rate and channels; mixed to mono,
        resampled to 24,000 Hz PCM16 with soxr). The Future is done once it was sent."""
        self._check_started()
        return self._transport.put("audio", pcm16_24k(audio))

    def _hear(self, clip: Clip) -> None:
        self.send_audio(clip)

    def _stream(self, pcm: npt.NDArray[np.int16], step: int, realtime: bool) -> Future[None]:
        self._check_started()
        return self._transport.put("clip", (pcm, step, realtime))

    def _check_started(self) -> None:
        self.lifecycle.check()
        if not self._transport.opened:
            raise NotStartedError(f"this {self.lifecycle.what} is not started yet: run its start() first")

    # ------------------------------------------------------------ waiting
    @property
    def events(self) -> list[RealtimeEvent]:
        """Every event sent and received, in order, base64 audio elided."""
        return self._transport.record.events

    def mark(self) -> int:
        """Remember the current end of :attr:`events`; :meth:`wait_for` looks after it."""
        return self._transport.record.mark()

    def _mark_now(self) -> int:
        return len(self.events)

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
            Raise :class:`~voicekit.errors.RealtimeError` if an ``error`` event arrives first.

        Raises
        ------
        TimeoutError
            After ``timeout`` seconds; the message lists the last events seen.
        RealtimeError
            On an ``error`` event (when ``raise_on_error``) or a closed connection.
        ClosedError
            If the session was closed (its :attr:`events` stay readable).
        """
        self.lifecycle.check()
        return self._transport.record.wait_for(event_type, since, timeout, where, raise_on_error)

    def on_event(self, callback: Callable[[RealtimeEvent], Any], remove: bool = False) -> CallbackHandle:
        """Call ``callback(event)`` with every event, both ways, on the session's thread
        (keep it short; exceptions are logged). Registering again from a re-run cell
        replaces it (:class:`voicekit._callbacks.Callbacks`); returns a handle."""
        return self._on_event.register(callback, remove)

    # ------------------------------------------------------------ internals
    def _now(self) -> float:
        return self._transport.record.now()

    def _handle(self, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _before_send(self, event: dict[str, Any]) -> None:
        """Called with each client event just before it is recorded and sent."""

    def _recorded(self, event: RealtimeEvent) -> None:
        if self.event_log is not None:
            try:
                self.event_log.add(event)
            except Exception:
                logger.exception("EventLog.add failed")
        self._on_event(event)


def in_thread(fn: Callable[[], Any], name: str) -> Future[Any]:
    """``fn()`` run on a daemon thread; its result (or exception) in the Future returned."""
    future: Future[Any] = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(fn())
        except BaseException as exc:  # noqa: BLE001 -- handed to the caller's Future
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future
