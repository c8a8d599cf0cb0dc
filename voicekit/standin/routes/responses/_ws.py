"""The Responses API's WebSocket mode: ``response.create`` in, stream events out.

Protocol (OpenAI guide "WebSocket mode" and API reference "Responses
WebSocket events"; types from the SDK's ``ResponsesClientEvent`` and
``ResponsesServerEvent``, client ``client.responses.connect()``):

- the client sends ``{"type": "response.create", ...}`` with the fields of
  ``POST /v1/responses`` (``stream`` is implicit and ignored; ``background`` is
  refused), optionally a ``stream_id``, which every event of that response carries;
- the server answers with the same events as an SSE stream, one JSON text
  frame each, from ``response.created`` to the terminal event;
- a bad event gets an ``error`` event (``ResponseWsError``: ``error.type``,
  ``code``, ``message``, ``param`` and the HTTP ``status``) and the socket stays open;
- the connection keeps its last response, so ``previous_response_id`` continues
  it even with ``store=false`` (OpenAI: "the server keeps the prior state in
  memory on the open socket").

Responses run one at a time, in the order their ``response.create`` arrived.
``response.steer`` is refused: the stand-in cannot steer a running response.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from starlette.concurrency import iterate_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from ...errors import OpenAIError
from ._input import parse_request
from ._run import StoredResponse, response_store, run_parsed

__all__ = ["responses_socket"]


def _error(err: OpenAIError, stream_id: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "error", "status": err.status,
        "error": {"type": err.type, "code": err.code, "message": err.message, "param": err.param},
    }
    if isinstance(stream_id, str):
        event["stream_id"] = stream_id
    return event


async def responses_socket(websocket: WebSocket) -> None:
    """Serve one Responses WebSocket connection until the client closes it."""
    await websocket.accept()
    engines = websocket.app.state.engines
    store = response_store(websocket.app.state)
    last: list[StoredResponse] = []
    try:
        while True:
            raw = await websocket.receive_text()
            stream_id: Any = None
            stop = threading.Event()
            try:
                try:
                    event = json.loads(raw)
                except ValueError as exc:
                    raise OpenAIError(400, f"expected a JSON event: {exc}", code="invalid_json") from exc
                if not isinstance(event, dict):
                    raise OpenAIError(400, "expected a JSON object event with a 'type'", param="type", code="invalid_event")
                stream_id = event.get("stream_id")
                kind = event.get("type")
                if kind == "response.steer":
                    raise OpenAIError(400, "'response.steer' is not available on the offline stand-in: "
                                      "it cannot add input to a running response; send a new response.create "
                                      "with previous_response_id.", param="type", code="unsupported_event")
                if kind != "response.create":
                    raise OpenAIError(400, f"Invalid 'type': expected 'response.create', got {kind!r}.", param="type", code="invalid_event")
                if event.get("generate") is False:
                    raise OpenAIError(400, "'generate': false (warm-up without output) is not available on the offline stand-in.",
                                      param="generate", code="unsupported_parameter")
                body = {k: v for k, v in event.items() if k not in ("type", "stream_id", "generate", "stream")}
                req = parse_request(body)
                events = run_parsed(req, engines, store, local=last[-1] if last else None, on_stored=last.append, stop=stop)
                async for out in iterate_in_threadpool(events):
                    if out["type"] == "error":  # the socket's error event nests the details (ResponseWsError)
                        err = OpenAIError(400, out["message"], param=out.get("param"), code=out.get("code"))
                        out = {**_error(err, None), "sequence_number": out["sequence_number"]}
                    if isinstance(stream_id, str):
                        out = {**out, "stream_id": stream_id}
                    await websocket.send_text(json.dumps(out))
            except OpenAIError as err:
                await websocket.send_text(json.dumps(_error(err, stream_id)))
            finally:
                stop.set()
    except WebSocketDisconnect:
        return
