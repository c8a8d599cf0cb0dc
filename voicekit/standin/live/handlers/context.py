"""``session.instructions.append``, ``session.commentary.append`` and ``session.thinking.append``.

Each is acknowledged with its ``...appended`` event, whose ``start_ms`` and
``end_ms`` are both the moment it joined the session timeline
(``openai.types.live.CommentaryAppendedEvent`` docstring: "For appended
context, this can equal start_ms"). Commentary is spoken; thinking is
silent; both cancel pending delegation acknowledgements
(``ClientDelegation.acknowledgement_delay_ms`` docstring). ``delegation_id``
must be null or name a client delegation of this session.
"""

from __future__ import annotations

from typing import Any

from openai.types.live import CommentaryAppendEvent, InstructionsAppendEvent, ThinkingAppendEvent

from ...engines.llm import MAX_CHARS_PER_TOKEN
from ..errors import LiveError
from ..replies import cancel_acknowledgements, speak_context
from ..state import LiveState
from .registry import handles

__all__ = ["commentary_append", "instructions_append", "thinking_append"]

MAX_CONTEXT_TOKENS = 500
"""Limit of each appended text, in tokens (SDK docstrings of the three events)."""


def _checked(conn: LiveState, event: dict[str, Any]) -> tuple[str, str | None]:
    """The event's content and delegation id, after the SDK docstrings' rules."""
    content = str(event["content"])
    if len(content) > MAX_CONTEXT_TOKENS * MAX_CHARS_PER_TOKEN:  # surely too long: refused before tokenizing
        raise LiveError(f"expected content of at most {MAX_CONTEXT_TOKENS} tokens, got {len(content):,} characters, "
                        f"more than {MAX_CONTEXT_TOKENS} tokens hold", param="content")
    n = conn.engines.stt.count_tokens(content)
    if n > MAX_CONTEXT_TOKENS:
        raise LiveError(f"expected content of at most {MAX_CONTEXT_TOKENS} tokens, got {n}", param="content")
    delegation_id = event.get("delegation_id")
    if delegation_id is not None:
        delegation = conn.delegations.get(str(delegation_id))
        if delegation is None:
            raise LiveError(f"Unknown delegation_id {delegation_id!r}: expected the id of a "
                            "session.delegation.created event of this session, or null", param="delegation_id")
        if delegation.target != "client":
            raise LiveError("delegation_id must be null with Responses delegation", param="delegation_id")
    return content, delegation_id


def _appended(conn: LiveState, kind: str) -> None:
    at = int(conn.now_ms())
    conn.emit({"type": kind, "start_ms": at, "end_ms": at}, conn.client_event_id)


@handles("session.instructions.append", InstructionsAppendEvent)
async def instructions_append(conn: LiveState, event: dict[str, Any]) -> None:
    content, delegation_id = _checked(conn, event)
    conn.context.add("instructions", content, delegation_id)
    _appended(conn, "session.instructions.appended")


@handles("session.thinking.append", ThinkingAppendEvent)
async def thinking_append(conn: LiveState, event: dict[str, Any]) -> None:
    content, delegation_id = _checked(conn, event)
    cancel_acknowledgements(conn)
    conn.context.add("thinking", content, delegation_id)
    _appended(conn, "session.thinking.appended")


@handles("session.commentary.append", CommentaryAppendEvent)
async def commentary_append(conn: LiveState, event: dict[str, Any]) -> None:
    content, delegation_id = _checked(conn, event)
    cancel_acknowledgements(conn)
    conn.context.add("commentary", content, delegation_id)
    if delegation_id is not None:
        conn.delegations[delegation_id].answered = True
    _appended(conn, "session.commentary.appended")
    conn.spawn(speak_context(conn))
