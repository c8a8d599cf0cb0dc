"""The Responses API on the stand-in's LLM: ``/v1/responses`` over HTTP and WebSocket.

Routes (OpenAI API reference, "Responses"; shapes from the SDK's
``openai.types.responses``):

- ``POST /v1/responses``: a ``Response``; with ``stream=true``, server-sent
  ``ResponseStreamEvent`` s (see :mod:`._stream`), no ``[DONE]``.
- ``GET /v1/responses/{id}``, ``DELETE /v1/responses/{id}`` and
  ``GET /v1/responses/{id}/input_items`` (``order``, ``limit``, ``after``):
  stored responses (``store`` defaults to true), kept in memory, the newest
  :data:`MAX_STORED` of them within :data:`MAX_STORED_BYTES`.
- WebSocket mode (OpenAI guide "WebSocket mode"; the SDK's
  ``client.responses.connect()``): a WebSocket at ``/v1/responses`` takes
  ``response.create`` events (the SDK's ``ResponsesClientEvent``) and answers
  each with the same stream events, plus ``stream_id`` when the create event
  carried one. Responses run one at a time, in order. The connection keeps its
  last response, so ``previous_response_id`` works with ``store=false`` too.
  Problems arrive as ``error`` events (``ResponseWsError``) and the socket stays open.

``input`` is a string or items: messages (user, developer, system, assistant;
``input_text`` / ``output_text`` parts), ``function_call`` and
``function_call_output``. ``previous_response_id`` prepends that response's
input and output items; ``instructions`` are not carried over (as OpenAI does).
Function tools use the LLM's constrained decision pass (see :mod:`.llm`).

Python entry point (for other stand-in APIs that delegate to Responses):
:func:`run_response` ``(engines, body, store)`` checks a request body and returns
a sync iterator of stream-event dicts; :func:`stream_response` is the same as
an async iterator (the engine runs in a worker thread). Both raise
:class:`.errors.OpenAIError` for a bad body before anything runs.

How the stand-in differs from OpenAI: the model is SmolLM2-135M for every
model name; one tool call at most per response; no reasoning items
(``reasoning`` is accepted and ``reasoning_tokens`` is 0); no hosted tools,
images, files or audio input.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from ...engines import Engines
from ...engines.scheduling import ClosingStreamingResponse
from ...errors import UPSTREAM_STATUS, OpenAIError
from .._wire import bad
from ._input import parse_request
from ._run import (
    MAX_STORED,
    MAX_STORED_BYTES,
    ResponseStore,
    response_store,
    run_parsed,
    run_response,
    stream_response,
)
from ._ws import responses_socket

__all__ = ["MAX_STORED", "MAX_STORED_BYTES", "ResponseStore", "routes", "run_response", "stream_response"]


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError as exc:
        raise OpenAIError(400, f"expected a JSON body: {exc}", code="invalid_json") from exc


def _final(events: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """Drain ``events``; the terminal event's response, or the HTTP error its failure is."""
    final: dict[str, Any] = {}
    for event in events:
        if event["type"] == "error":  # 400, or 502/504 when the upstream LLM failed
            status = UPSTREAM_STATUS.get(event.get("code") or "", 400)
            raise OpenAIError(status, event["message"], param=event.get("param"), code=event.get("code"),
                              type="server_error" if status != 400 else "invalid_request_error")
        final = event.get("response", final)
    error = final.get("error") or {}
    if final.get("status") == "failed":
        raise OpenAIError(500, error.get("message", "the response failed"), type="server_error")
    return final


def _sse(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """Server-sent events, each with an ``event:`` line naming its type (as OpenAI sends them)."""
    for event in events:
        yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


async def create_response(request: Request) -> Response:
    body = await _json(request)
    engines: Engines = request.app.state.engines
    req = parse_request(body)
    events = run_parsed(req, engines, response_store(request.app.state))
    if req.stream:
        return ClosingStreamingResponse(_sse(events), media_type="text/event-stream")  # closed on disconnect
    return JSONResponse(await run_in_threadpool(_final, events))


def _not_found(response_id: str) -> OpenAIError:
    return OpenAIError(404, f"Response with id '{response_id}' not found.", param="response_id")


def _stored(request: Request) -> Any:
    rid = request.path_params["response_id"]
    stored = response_store(request.app.state).get(rid)
    if stored is None:
        raise _not_found(rid)
    return stored


async def get_response(request: Request) -> Response:
    return JSONResponse(_stored(request).response)


async def delete_response(request: Request) -> Response:
    rid = request.path_params["response_id"]
    if not response_store(request.app.state).delete(rid):
        raise _not_found(rid)
    return JSONResponse({"id": rid, "object": "response", "deleted": True})


async def list_input_items(request: Request) -> Response:
    """A page of the response's input items (``ResponseItemList``): ``order`` (default desc), ``limit`` 1-100, ``after``."""
    stored = _stored(request)
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad(f"Invalid value for 'order': expected 'asc' or 'desc', got {order!r}.", "order")
    limit_text = request.query_params.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise bad(f"Invalid value for 'limit': expected an integer from 1 to 100, got {limit_text!r}.", "limit")
    limit = int(limit_text)
    items = list(stored.input_items if order == "asc" else reversed(stored.input_items))
    after = request.query_params.get("after")
    if after is not None:
        ids = [i["id"] for i in items]
        items = items[ids.index(after) + 1:] if after in ids else []
    page = items[:limit]
    return JSONResponse({
        "object": "list", "data": page, "has_more": len(items) > limit,
        "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None,
    })


routes = [
    Route("/v1/responses", create_response, methods=["POST"]),
    WebSocketRoute("/v1/responses", responses_socket),
    Route("/v1/responses/{response_id}", get_response, methods=["GET"]),
    Route("/v1/responses/{response_id}", delete_response, methods=["DELETE"]),
    Route("/v1/responses/{response_id}/input_items", list_input_items, methods=["GET"]),
]
