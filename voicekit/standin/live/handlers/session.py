"""``session.start``, ``session.update`` and ``session.close`` (``openai.types.live``)."""

from __future__ import annotations

from typing import Any

from openai.types.live import SessionCloseEvent, SessionStartEvent, SessionUpdateEvent

from ..config import apply_update, check_strict, resolve_start
from ..errors import LiveError
from ..state import LiveState
from .registry import handles

__all__ = ["session_close", "session_start", "session_update"]


@handles("session.start", SessionStartEvent)
async def session_start(conn: LiveState, event: dict[str, Any]) -> None:
    """Resolve the configuration and answer ``session.started``; the timeline starts here."""
    if conn.session is not None:
        raise LiveError(f"The session {conn.session['id']} has already started; session.start is only valid as "
                        "the first event. Use session.update to change delegation settings.",
                        code="session_already_started", param="type")
    raw = event["session"]
    resolved = resolve_start(raw)
    conn.start(resolved, delegation_given=raw.get("delegation") is not None)
    conn.emit({"type": "session.started", "session": resolved}, conn.client_event_id)


@handles("session.update", None)  # checked below: an immutable field is named as such, not as unknown
async def session_update(conn: LiveState, event: dict[str, Any]) -> None:
    """Apply a sparse delegation or trigger update; answer ``session.updated``."""
    assert conn.session is not None
    if not isinstance(event.get("session"), dict):
        check_strict(SessionUpdateEvent, event)
    check_strict(SessionUpdateEvent, {**event, "session": {}})
    conn.session = apply_update(conn.session, event["session"])
    if event["session"].get("delegation") is not None:
        conn.delegation_given = True
    conn.emit({"type": "session.updated", "session": conn.session}, conn.client_event_id)


@handles("session.close", SessionCloseEvent)
async def session_close(conn: LiveState, event: dict[str, Any]) -> None:
    """Stop, send ``session.closed`` (reason ``close_requested``, final usage) and end the connection."""
    await conn.close("close_requested")
