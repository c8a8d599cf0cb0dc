"""``response.item.create`` and ``response.create``: the client's side of Responses delegation.

Both require ``session.delegation.type == "responses"`` (SDK docstrings of
``ResponseItemCreateEvent`` and ``ResponseCreateEvent``). Items wait for the
next ``response.create``, which continues a delegated response that ended on a
function call (the items carry its ``function_call_output``) or starts a new
backend request (:mod:`..backend`).
"""

from __future__ import annotations

from typing import Any

from openai.types.live import ResponseCreateEvent, ResponseItemCreateEvent

from ..errors import LiveError
from ..state import Backend, LiveState
from .registry import handles

__all__ = ["response_create", "response_item_create"]


def _backend(conn: LiveState, kind: str) -> Backend:
    assert conn.session is not None
    if conn.backend is None:
        raise LiveError(f"{kind} requires Responses delegation; this session delegates to "
                        f"{conn.session['delegation']['type']!r}", code="invalid_request", param="type")
    return conn.backend


@handles("response.item.create", ResponseItemCreateEvent)
async def response_item_create(conn: LiveState, event: dict[str, Any]) -> None:
    _backend(conn, "response.item.create").items.append(dict(event["item"]))


@handles("response.create", ResponseCreateEvent)
async def response_create(conn: LiveState, event: dict[str, Any]) -> None:
    await _backend(conn, "response.create").create()
