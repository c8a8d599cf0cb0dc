"""One Responses API run on the LLM engine, as the SDK's stream events.

:func:`response_events` is the single engine behind ``POST /v1/responses``
(streamed or not) and the Responses WebSocket mode: it yields the events of
``openai.types.responses.ResponseStreamEvent`` in OpenAI's order, each a
JSON-ready dict with a ``sequence_number`` counted from 0::

    response.created, response.in_progress,
    then per output item:
        response.output_item.added
        message:       response.content_part.added, response.output_text.delta ...,
                       response.output_text.done, response.content_part.done
        function_call: response.function_call_arguments.delta, .done
        response.output_item.done
    then one of response.completed, response.incomplete (max_output_tokens)
    or response.failed (after an ``error`` event when the conversation does not
    fit the context window: ``code`` ``context_length_exceeded``).

The model decides on at most one tool call per response (see :mod:`.llm`),
so ``parallel_tool_calls`` is echoed but never produces two calls.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from openai.types.responses import Response

from ....errors import StandinError
from ...engines import Engines
from ...engines.llm import ContextLengthError, LLMUsage, ToolCall, Turn
from ...errors import UpstreamError
from .._wire import dump
from ._input import ResponseRequest, item_id

log = logging.getLogger("voicekit.standin")

__all__ = ["response_events", "response_object"]


def response_object(
    req: ResponseRequest, response_id: str, created_at: int, *, status: str,
    output: list[dict[str, Any]], usage: LLMUsage | None = None,
    error: dict[str, Any] | None = None, incomplete: str | None = None,
) -> dict[str, Any]:
    """The ``Response`` for ``req`` in a given state, validated by the SDK's ``openai.types.responses.Response``.

    Parameters
    ----------
    status : str
        ``in_progress``, ``completed``, ``incomplete`` or ``failed``.
    usage : LLMUsage, optional
        Token counts (all passes); absent while in progress.
    incomplete : str, optional
        ``incomplete_details.reason``, e.g. ``max_output_tokens``.
    """
    body: dict[str, Any] = {
        "id": response_id, "object": "response", "created_at": created_at, "status": status,
        "model": req.model, "output": output, "instructions": req.instructions,
        "tools": req.tool_params, "tool_choice": req.tool_choice_echo,
        "parallel_tool_calls": req.parallel_tool_calls, "temperature": req.temperature,
        "top_p": req.top_p if req.top_p is not None else 1.0, "max_output_tokens": req.max_output_tokens,
        "previous_response_id": req.previous_response_id, "text": req.text,
        "error": error, "incomplete_details": {"reason": incomplete} if incomplete else None,
        "background": False, "truncation": "disabled", "metadata": {}, **req.echo,
    }
    if status != "in_progress":
        body["completed_at"] = int(time.time()) if status == "completed" else None
    if usage is not None:
        body["usage"] = {
            "input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        }
    return dump(Response.model_validate(body))


def response_events(
    req: ResponseRequest, engines: Engines, history: list[Turn], *,
    on_done: Callable[[dict[str, Any]], None] | None = None, stop: threading.Event | None = None,
    response_id: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Run ``req`` and yield its stream events (sync; run it in a worker thread).

    Parameters
    ----------
    req : ResponseRequest
        The parsed request (see :func:`._input.parse_request`).
    engines : Engines
        The loaded engines; only ``engines.llm`` runs.
    history : list of Turn
        The whole conversation the model reads: earlier responses' items, then
        ``req.items``, with ``req.instructions`` first.
    on_done : callable, optional
        Called with the final ``Response`` dict before the terminal event is yielded
        (the store keeps it there).
    stop : threading.Event, optional
        Set to end generation at the next token (a closed WebSocket).

    Yields
    ------
    dict
        One ``ResponseStreamEvent`` each, JSON-ready, with ``sequence_number``.
    """
    seq = itertools.count()
    rid = response_id or item_id("resp")
    created = int(time.time())
    output: list[dict[str, Any]] = []
    usage = LLMUsage()

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "sequence_number": next(seq), **fields}

    def state(status: str, **kw: Any) -> dict[str, Any]:
        return response_object(req, rid, created, status=status, output=output, **kw)

    yield event("response.created", response=state("in_progress"))
    yield event("response.in_progress", response=state("in_progress"))
    message: dict[str, Any] | None = None
    text: list[str] = []
    failure: dict[str, Any] | None = None
    try:
        for piece in engines.llm.respond(
            history, tools=req.tools, tool_choice=req.tool_choice,
            max_tokens=req.max_output_tokens, temperature=req.temperature,
            usage=usage, stop=stop, options=req.options,
        ):
            if isinstance(piece, ToolCall):
                index = len(output)
                call = {"id": item_id("fc"), "type": "function_call", "status": "in_progress",
                        "call_id": item_id("call"), "name": piece.name, "arguments": ""}
                yield event("response.output_item.added", output_index=index, item=dict(call))
                yield event("response.function_call_arguments.delta", item_id=call["id"], output_index=index, delta=piece.arguments)
                yield event("response.function_call_arguments.done", item_id=call["id"], output_index=index, arguments=piece.arguments)
                call.update(arguments=piece.arguments, status="completed")
                output.append(call)
                yield event("response.output_item.done", output_index=index, item=call)
                continue
            if message is None:
                message = {"id": item_id("msg"), "type": "message", "role": "assistant", "status": "in_progress", "content": []}
                yield event("response.output_item.added", output_index=len(output), item=dict(message))
                yield event("response.content_part.added", item_id=message["id"], output_index=len(output), content_index=0,
                            part={"type": "output_text", "text": "", "annotations": []})
            text.append(piece.text)
            yield event("response.output_text.delta", item_id=message["id"], output_index=len(output), content_index=0,
                        delta=piece.text, logprobs=[])
    except ContextLengthError as exc:
        # ``ResponseError.code`` has no context-length value: the stream says it in an ``error``
        # event (whose ``code`` is free), and the failed response carries "invalid_prompt".
        why = f"The conversation does not fit the model's context window: {exc}"
        yield event("error", code="context_length_exceeded", message=why, param="input")
        failure = {"code": "invalid_prompt", "message": why}
    except UpstreamError as exc:  # the error event's code says 502 or 504 to responses._final
        yield event("error", code=exc.code, message=exc.message, param=None)
        failure = {"code": "server_error", "message": exc.message}
    except StandinError as exc:
        failure = {"code": "server_error", "message": f"The stand-in's model failed: {exc}"}
    except Exception as exc:  # a fault of the stand-in: OpenAI answers it with response.failed
        log.exception("the Responses stream failed")
        failure = {"code": "server_error", "message": f"The stand-in failed: {type(exc).__name__}: {exc}"}
    incomplete = usage.finish_reason == "length" and failure is None
    if message is not None:
        full = "".join(text)
        part = {"type": "output_text", "text": full, "annotations": [], "logprobs": []}
        index = len(output)
        yield event("response.output_text.done", item_id=message["id"], output_index=index, content_index=0, text=full, logprobs=[])
        yield event("response.content_part.done", item_id=message["id"], output_index=index, content_index=0, part=part)
        message.update(content=[part], status="incomplete" if incomplete else "completed")
        output.append(message)
        yield event("response.output_item.done", output_index=index, item=message)
    if failure is not None:
        final = state("failed", usage=usage, error=failure)
        kind = "response.failed"
    elif incomplete:
        final = state("incomplete", usage=usage, incomplete="max_output_tokens")
        kind = "response.incomplete"
    else:
        final = state("completed", usage=usage)
        kind = "response.completed"
    if on_done is not None:
        on_done(final)
    yield event(kind, response=final)
