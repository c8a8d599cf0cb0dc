"""Stored responses, conversation context, and the Python entry points that run a Responses request.

:func:`run_response` and :func:`stream_response` are what other stand-in APIs
call to delegate to Responses (see :mod:`.responses`). The store keeps each
finished response with its own input items and the whole context a
continuation (``previous_response_id``) reads: the earlier context, this
response's input items, then its output items. ``instructions`` are not part
of that context: OpenAI does not carry them over (API reference,
``previous_response_id``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import iterate_in_threadpool

from ...engines import Engines
from ...engines.llm import Turn
from ...errors import OpenAIError
from .._wire import bad
from ._input import ResponseRequest, items_to_turns, parse_request
from ._stream import response_events

__all__ = ["MAX_STORED", "MAX_STORED_BYTES", "ResponseStore", "StoredResponse", "response_store", "run_parsed", "run_response", "stream_response"]

MAX_STORED = 1000
"""Stored responses kept in memory (the oldest go first)."""

MAX_STORED_BYTES = int(os.environ.get("VOICEKIT_RESPONSES_MAX_BYTES", str(64 * 2**20)))
"""What the stored responses may add up to, 64 MiB by default (``VOICEKIT_RESPONSES_MAX_BYTES``):
each counts the JSON of its own input items and of the response (an ``input_file`` part can
be megabytes); the oldest go first, the newest is always kept. Without it, 1,000 large
requests could hold gigabytes (issue 26, "Memory")."""


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str))


@dataclass
class StoredResponse:
    """A finished ``Response`` dict, its own input items, and the context a continuation reads."""

    response: dict[str, Any]
    input_items: list[dict[str, Any]]
    context: list[dict[str, Any]]

    @property
    def size(self) -> int:
        """What it counts against :data:`MAX_STORED_BYTES`: the JSON of its input items and response."""
        return _json_size(self.input_items) + _json_size(self.response)


@dataclass
class ResponseStore:
    """Finished responses by id, bounded to ``max_items`` and ``max_bytes`` (thread-safe; the oldest go first)."""

    max_items: int = MAX_STORED
    max_bytes: int = MAX_STORED_BYTES
    _items: OrderedDict[str, StoredResponse] = field(default_factory=OrderedDict)
    _sizes: dict[str, int] = field(default_factory=dict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, stored: StoredResponse) -> None:
        """Keep ``stored`` under its response id, dropping the oldest beyond ``max_items`` or ``max_bytes``."""
        size = stored.size
        with self._lock:
            rid = stored.response["id"]
            self._forget(rid)
            self._items[rid], self._sizes[rid] = stored, size
            self._bytes += size
            while len(self._items) > self.max_items or (self._bytes > self.max_bytes and len(self._items) > 1):
                self._forget(next(iter(self._items)))

    def get(self, response_id: str) -> StoredResponse | None:
        """The stored response, or None."""
        with self._lock:
            return self._items.get(response_id)

    def delete(self, response_id: str) -> bool:
        """Forget a response; False when it was not stored."""
        with self._lock:
            return self._forget(response_id)

    def _forget(self, response_id: str) -> bool:
        if self._items.pop(response_id, None) is None:
            return False
        self._bytes -= self._sizes.pop(response_id)
        return True


def response_store(app_state: Any) -> ResponseStore:
    """The application's :class:`ResponseStore` (``app.state.response_store``, made on first use)."""
    if not hasattr(app_state, "response_store"):
        app_state.response_store = ResponseStore()
    store: ResponseStore = app_state.response_store
    return store


def _previous(req: ResponseRequest, store: ResponseStore, local: StoredResponse | None) -> StoredResponse | None:
    if req.previous_response_id is None:
        return None
    if local is not None and local.response["id"] == req.previous_response_id:
        return local
    found = store.get(req.previous_response_id)
    if found is None:
        raise OpenAIError(400, f"Previous response with id '{req.previous_response_id}' not found.",
                          param="previous_response_id", code="previous_response_not_found")
    return found


def run_parsed(
    req: ResponseRequest, engines: Engines, store: ResponseStore, *, local: StoredResponse | None = None,
    on_stored: Callable[[StoredResponse], None] | None = None, stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Resolve the context of a parsed request and return its event iterator.

    ``local`` is a response the caller holds outside the store (a WebSocket's
    last one); ``on_stored`` is called with each finished :class:`StoredResponse`.

    Raises
    ------
    OpenAIError
        400 ``previous_response_not_found``, or a conversation with no user message.
    """
    previous = _previous(req, store, local)
    context = [*(previous.context if previous else []), *req.items]
    turns = items_to_turns(context)
    if req.instructions:
        turns.insert(0, Turn("system", req.instructions))
    if not any(t.role == "user" for t in turns):
        raise bad("Invalid 'input': expected at least one user message in the conversation.", "input")

    def done(final: dict[str, Any]) -> None:
        stored = StoredResponse(final, req.items, [*context, *final.get("output", [])])
        if req.store and final["status"] != "failed":
            store.put(stored)
        if on_stored is not None:
            on_stored(stored)

    return response_events(req, engines, turns, on_done=done, stop=stop)


def run_response(
    engines: Engines, body: dict[str, Any], store: ResponseStore, *, stop: threading.Event | None = None,
) -> Iterator[dict[str, Any]]:
    """Check a ``POST /v1/responses`` body and run it; yields ``ResponseStreamEvent`` dicts (sync).

    Parameters
    ----------
    engines : Engines
        The stand-in's loaded engines (the LLM runs).
    body : dict
        A request body as JSON (the SDK's ``ResponseCreateParams``); ``stream`` is ignored.
    store : ResponseStore
        Where ``previous_response_id`` is looked up and, with ``store`` true, the result is kept.
    stop : threading.Event, optional
        Set it to end generation at the next token.

    Returns
    -------
    Iterator of dict: ``response.created`` ... ``response.completed``, ``.incomplete`` or ``.failed``.

    Raises
    ------
    OpenAIError
        400 or 404 for a bad body, before anything runs, as ``POST /v1/responses`` answers.
    """
    return run_parsed(parse_request(body), engines, store, stop=stop)


async def stream_response(engines: Engines, body: dict[str, Any], store: ResponseStore) -> AsyncIterator[dict[str, Any]]:
    """:func:`run_response` as an async iterator; the engine runs in a worker thread.

    Closing the iterator early stops generation at the next token.

    Raises
    ------
    OpenAIError
        As :func:`run_response`, on the first iteration.
    """
    stop = threading.Event()
    events = run_response(engines, body, store, stop=stop)
    try:
        async for event in iterate_in_threadpool(events):
            yield event
    finally:
        stop.set()
