"""One Live WebSocket: its read loop, on the session state of :mod:`.state`.

Client events are checked against the SDK's own models (``openai.types.live``,
strictly: see :func:`.config.check_strict`) and dispatched to handlers
registered by event type (:mod:`.handlers`). Server events go out through one
queue in the order they were made, each with a fresh ``event_id`` and, when
the command that caused it had one, its ``client_event_id``.

The session timeline (:meth:`.state.LiveState.now_ms`)
-------------------------------------------------------
Times (``start_ms``, ``end_ms``, ``offset_ms``) are ms since
``session.started``: the later of the wall clock and the input audio received
so far. With audio streamed at microphone pace, as a Live client does (it
sends silence when the user is quiet), the two agree; audio sent faster than
real time moves the timeline with it, so VAD and the reply's pacing still
line up.

Full duplex, emulated
---------------------
The stand-in listens all the time (Silero VAD over every appended chunk, while
it speaks too). A user utterance ends at a pause Smart Turn judges final (at 256 ms of
silence), else after :data:`.listener.END_OF_TURN_SILENCE_MS`; Whisper has usually transcribed it by then (it starts on the speech
so far once a pause reaches 32 ms, :data:`voicekit.vad.PAUSE_REPORT_MS`). The
transcript goes out as ``session.input_transcript.delta`` and the model
answers (:mod:`.replies`, :mod:`.speaker`). If the user speaks for
:data:`.listener.TALK_OVER_MS` while
the model is writing or speaking, the model stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import numpy as np

from ..transport.hub import Accepts, EventHub
from ..transport.links import Link
from ..transport.wire import Registry, client_event_object, event_id_of
from .backend import ResponsesBackend
from .config import check_strict
from .context import Context
from .errors import LiveError, error_event, new_id
from .listener import Listener
from .replies import prefill
from .state import LiveState

__all__ = ["LiveConnection"]

log = logging.getLogger("voicekit.standin.live")


class LiveConnection(LiveState):
    """One connection; :meth:`serve` runs it until the client leaves or the session closes."""

    # -- the connection ---------------------------------------------------------------

    def reading(self) -> bool:
        return not self.closed

    def open(self, link: Link, handlers: Registry,
             accepts: Accepts | None = None) -> None:
        """Start sending on the primary link."""
        self.handlers = handlers
        self.add_link(link, accepts)
        self.start_sending()

    async def read(self, link: Link) -> None:  # type: ignore[override]
        """Handle ``link``'s client events until it closes or the session has closed."""
        await EventHub.read(self, link, self._dispatch, self._reject, "Send the audio in smaller events.")

    def _reject(self, message: str, code: str) -> None:
        self.emit(error_event(LiveError(message, code=code), None))

    def fitted(self, event: dict[str, Any], refusal: str) -> dict[str, Any] | None:
        """An ``error`` (``event_too_large``) for a link that refused ``event`` as too large (a WebRTC
        data channel's max-message-size), so the client hears back; the session goes on."""
        err = LiveError(f"The {event.get('type')} event could not be sent on this link: {refusal}",
                        code="event_too_large")
        return {"event_id": new_id("event"), **error_event(err, None)}

    async def serve(self, link: Link, handlers: Registry) -> None:
        """Read client events until the link closes or ``session.closed`` has been sent, then shut down."""
        self.open(link, handlers)
        try:
            await self.read(link)
        finally:
            await self.shutdown()

    async def _dispatch(self, text: str, link: Link) -> None:
        handlers = self.handlers
        client_id = None
        try:
            raw = client_event_object(text, LiveError)
            client_id = event_id_of(raw)
            kind = raw.get("type")
            model, handler = handlers.entry(kind, LiveError)
            if self.webrtc is not None:
                self.webrtc.allows(kind, link)
            if self.session is None and kind != "session.start":
                raise LiveError(f"The session has not started: send session.start (with session.model) as the "
                                f"first event, got {kind!r}", code="session_not_started", param="type")
            if model is not None:
                check_strict(model, raw)
            self.client_event_id = client_id
            await handler(self, raw)
        except LiveError as err:
            self.emit(error_event(err, client_id))
        except Exception as exc:
            log.exception("live handler failed")
            self.emit(error_event(LiveError(f"The stand-in failed: {type(exc).__name__}: {exc}", code="server_error",
                                            type="server_error"), client_id))
        finally:
            self.client_event_id = None

    async def shutdown(self) -> None:
        """End the session: stop speaking, end its tasks, send what is queued, close every link."""
        if self.shut_down:
            return
        self.shut_down = True
        self.closed = True
        if self.current is not None:
            self.current.stop()
        if self.listener is not None:
            self.listener.drop_head()
        for task in [*self._tasks, *self.acks]:
            task.cancel()
        for task in [*self._tasks, *self.acks]:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        if self.webrtc is not None:
            await self.webrtc.close()
        await self.stop_sending()
        await self.close_links()
        if isinstance(self.listener, Listener):  # its input audio goes now, not when the garbage collector finds the session
            self.listener.audio = np.zeros(0, np.int16)

    # -- session ----------------------------------------------------------------------

    def start(self, session: dict[str, Any], delegation_given: bool) -> None:
        """Begin the session with its resolved configuration; the timeline starts now."""
        self.session = session
        self.delegation_given = delegation_given
        self.context = Context(session["instructions"], session["input"])
        self.listener = Listener(self)
        self.spawn(self.listener.watch())
        self.spawn(prefill(self))  # the instructions' prompt pass, before the first answer needs it
        if session["delegation"]["type"] == "responses":
            self.backend = ResponsesBackend(self)
        self._t0 = time.perf_counter()

