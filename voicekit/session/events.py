"""The record of a voice session's events, both ways, and waits on it from other threads.

Every session (:mod:`voicekit.session.base`) keeps one :class:`EventRecord`; its
transport appends each client event it sends and each server event it receives, and
cells block on it with :meth:`EventRecord.wait_for` (always with a timeout). Base64 audio
is elided (its size is kept), so the record stays small.

Event shapes: ``openai.types.realtime`` (Realtime) and ``openai.types.live`` (GPT-Live).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import RealtimeError

__all__ = ["RACE_EVENT_PREFIX", "EventRecord", "RealtimeEvent", "elide_audio", "event_types"]

RACE_EVENT_PREFIX = "evt_vk_race_"
"""``event_id`` prefix of client events that may lose a race (a ``response.cancel`` sent
as the response ends): an ``error`` event naming one does not make waits raise."""

# Where base64 audio sits in an event: the client's audio appends and the server's audio
# deltas, in Realtime (input_audio_buffer.append, response.output_audio.delta) and in
# GPT-Live (session.input_audio.append, session.output_audio.delta), and in Realtime
# translation (session.input_audio_buffer.append, session.output_audio.delta).
_AUDIO_FIELDS = {"input_audio_buffer.append": "audio", "response.output_audio.delta": "delta",
                 "session.input_audio.append": "audio", "session.output_audio.delta": "delta",
                 "session.input_audio_buffer.append": "audio"}

# The fields worth a glance per event type, for summaries and the event log.
_KEY_FIELDS = ("audio_start_ms", "audio_end_ms", "item_id", "response_id", "role", "transcript", "delta",
               "text", "name", "call_id", "arguments", "code", "message", "status", "audio")


@dataclass(frozen=True)
class RealtimeEvent:
    """One event as a voice session saw it (Realtime or GPT-Live).

    Attributes
    ----------
    t : float
        Seconds since the session started (monotonic clock), when it was sent or
        received.
    source : "client" or "server"
        Who sent it.
    type : str
        The event type, for example ``"response.output_audio.delta"``.
    data : dict
        The event as JSON, base64 audio replaced by ``"<N bytes PCM16>"``.
    """

    t: float
    source: Literal["client", "server"]
    type: str
    data: dict[str, Any]

    def summary(self) -> str:
        """Key fields as ``name=value`` pairs (ids, ms, text, status, error)."""
        parts = []
        flat = {**self.data, **(self.data.get("error") or {})}
        for nested, prefix in (("response", "response_"), ("item", "item_")):
            inner = self.data.get(nested)
            if isinstance(inner, dict):
                flat.setdefault(f"{prefix}id", inner.get("id"))
                for key in ("status", "role", "name", "arguments", "call_id"):
                    flat.setdefault(key, inner.get(key))
        for key in _KEY_FIELDS:
            value = flat.get(key)
            if value is None or isinstance(value, (dict, list)):
                continue
            text = str(value)
            parts.append(f"{key}={text[:60] + '…' if len(text) > 60 else text}")
        return " ".join(parts)


def elide_audio(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its base64 audio field (if any) replaced by its decoded size."""
    key = _AUDIO_FIELDS.get(data.get("type", ""))
    if key is None or not isinstance(data.get(key), str):
        return data
    b64 = data[key]
    size = len(b64) * 3 // 4 - b64[-2:].count("=")
    return {**data, key: f"<{size} bytes PCM16>"}


def event_types(event_type: str | Iterable[str]) -> set[str]:
    """``{event_type}`` for one type, else the set of the types given."""
    return {event_type} if isinstance(event_type, str) else set(event_type)


class EventRecord:
    """Every event of one session, in order, with waits on it from any thread.

    Parameters
    ----------
    on_record : callable, optional
        ``on_record(event)`` with each :class:`RealtimeEvent` once recorded.
    """

    def __init__(self, on_record: Callable[[RealtimeEvent], None] | None = None) -> None:
        self.events: list[RealtimeEvent] = []
        self.on_record = on_record
        self.closed: str | None = None
        """Why the connection closed, or None while it is open (or not yet opened)."""
        self._cond = threading.Condition()
        self._mark = 0
        self._t0 = time.monotonic()

    def restart_clock(self) -> None:
        """Count :meth:`now` from here (the connection opens)."""
        self._t0 = time.monotonic()

    def now(self) -> float:
        """Seconds since the connection opened (monotonic clock)."""
        return time.monotonic() - self._t0

    def record(self, source: Literal["client", "server"], data: dict[str, Any]) -> RealtimeEvent:
        """Append one event (audio elided), wake the waiters, call ``on_record``."""
        event = RealtimeEvent(self.now(), source, data.get("type", ""), elide_audio(data))
        with self._cond:
            self.events.append(event)
            self._cond.notify_all()
        if self.on_record is not None:
            self.on_record(event)
        return event

    def set_closed(self, why: str) -> None:
        """The connection is gone: waits raise :class:`RealtimeError` naming ``why``."""
        with self._cond:
            if self.closed is None:
                self.closed = why
            self._cond.notify_all()

    def mark(self) -> int:
        """Remember the current end of :attr:`events` (the default ``since`` of waits)."""
        with self._cond:
            self._mark = len(self.events)
            return self._mark

    def wait_for(self, event_type: str | Iterable[str], since: int | None = None, timeout: float = 60.0,
                 where: Callable[[RealtimeEvent], bool] | None = None,
                 raise_on_error: bool = True) -> RealtimeEvent:
        """Block until a server event of ``event_type`` arrives after index ``since`` (default:
        the last :meth:`mark`) and matches ``where``; return it.

        Raises
        ------
        TimeoutError
            After ``timeout`` seconds; the message lists the last events seen.
        RealtimeError
            On an ``error`` event (when ``raise_on_error``, unless the error names a
            client event prefixed :data:`RACE_EVENT_PREFIX`), or once the connection closed.
        """
        types = event_types(event_type)
        start = self._mark if since is None else since
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for event in self.events[start:]:
                    if event.source != "server":
                        continue
                    if event.type in types and (where is None or where(event)):
                        return event
                    err = event.data.get("error") or {}
                    if (raise_on_error and event.type == "error" and "error" not in types
                            and not str(err.get("event_id") or "").startswith(RACE_EVENT_PREFIX)):
                        raise RealtimeError(f"the server sent an error while waiting for {sorted(types)}: "
                                            f"{err.get('code')}: {err.get('message')}", err)
                start = len(self.events)
                if self.closed is not None:
                    raise RealtimeError(f"the connection closed ({self.closed}) while waiting for "
                                        f"{sorted(types)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    last = ", ".join(e.type for e in self.events[-8:])
                    raise TimeoutError(f"no {sorted(types)} within {timeout:g} s; last events: {last}")
                self._cond.wait(left)
