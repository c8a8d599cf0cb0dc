"""Parsing a Responses request body into what the LLM engine runs.

Field names, item shapes and ranges follow the SDK's
``openai.types.responses.response_create_params.ResponseCreateParamsBase``,
``ResponseInputItemParam``, ``FunctionToolParam`` and ``ResponseTextConfigParam``
and OpenAI's API reference, "Create a model response". Each problem is a 400
``invalid_request_error`` whose ``param`` names the field, worded as OpenAI
words it ("Unknown parameter: 'x'.").

What the offline stand-in does not serve is refused by name: hosted tools
(web search, file search, code interpreter, computer use, image generation,
MCP, shells), image and file inputs, background mode, stored prompts and
conversations. ``input_audio`` is refused too: the SDK's ``ResponseInputContent``
(the content parts Responses accepts) is ``input_text``, ``input_image`` and
``input_file`` only; audio goes to Chat Completions (``gpt-audio-mini``) or Realtime.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from typing import Any

from openai.types.responses import Response, response_create_params
from pydantic import TypeAdapter, ValidationError

from ...engines.llm import DEFAULT_TEMPERATURE, ToolSpec, Turn
from ...models import RESPONSES_MODELS
from .._wire import bad, check_known, declared_params, number, positive_int

__all__ = ["RESPONSES_MODELS", "ResponseRequest", "item_id", "items_to_turns", "parse_request"]


KNOWN_PARAMS = declared_params(response_create_params.ResponseCreateParamsBase, extra=("stream",))
"""Top-level fields of the SDK's ``ResponseCreateParams``; any other is an unknown parameter."""

UNSERVED_PARAMS: dict[str, str] = {
    "background": "background mode (the stand-in answers every request as it runs)",
    "conversation": "stored conversations (use previous_response_id, or send the items)",
    "prompt": "stored prompt templates",
    "context_management": "context compaction",
    "moderation": "moderation",
    "max_tool_calls": "a tool-call budget",
    "access_programs": "access programs",
    "image": "image settings",
    "background_options": "background mode",
    "prompt_cache_options": "explicit prompt caching",
}
"""Declared fields whose feature the offline stand-in lacks, with what it lacks (refused when set)."""

HOSTED_TOOLS = "it has no web, no file store, no sandbox, no MCP servers and no image model; only 'function' tools run"

MAX_OUTPUT_TOKENS_CAP = 4096
"""Largest ``max_output_tokens`` honoured (the model's window is :data:`.llm.N_CTX` tokens per slot)."""


ECHOED = ("metadata", "reasoning", "truncation", "user", "safety_identifier", "prompt_cache_key", "service_tier", "top_logprobs")
"""Fields the stand-in accepts without acting on them and copies into the ``Response``."""


@functools.cache
def _field_adapter(name: str) -> TypeAdapter[Any]:
    annotation = Response.model_fields[name].annotation
    assert annotation is not None
    return TypeAdapter(annotation)


def _echoed(name: str, value: Any) -> Any:
    """``value`` checked against the type of ``Response.<name>`` (so a bad value is a 400, not a 500)."""
    try:
        _field_adapter(name).validate_python(value)
    except ValidationError as exc:
        raise bad(f"Invalid value for '{name}': {exc.errors()[0]['msg']}, got {value!r}.", name) from exc
    return value


def item_id(prefix: str) -> str:
    """A fresh id in OpenAI's style, e.g. ``msg_…``, ``fc_…``, ``resp_…``."""
    return f"{prefix}_{secrets.token_hex(16)}"


@dataclass
class ResponseRequest:
    """A validated request; ``items`` are the new input items, normalised to ``ResponseItem`` shapes (with ids)."""

    model: str
    items: list[dict[str, Any]]
    instructions: str | None
    tools: list[ToolSpec]
    tool_params: list[dict[str, Any]]
    tool_choice: str | None
    tool_choice_echo: Any
    parallel_tool_calls: bool
    text: dict[str, Any]
    max_output_tokens: int | None
    temperature: float
    top_p: float | None
    options: dict[str, Any]
    store: bool
    stream: bool
    previous_response_id: str | None
    echo: dict[str, Any] = field(default_factory=dict)
    """Fields copied back into the ``Response`` as sent (metadata, reasoning, truncation, …)."""


def _text_parts(content: Any, param: str, role: str) -> list[dict[str, Any]]:
    """Content parts of a message, as ``input_text`` (or ``output_text`` for an assistant)."""
    kind = "output_text" if role == "assistant" else "input_text"
    if isinstance(content, str):
        return [{"type": kind, "text": content, **({"annotations": []} if role == "assistant" else {})}]
    if not isinstance(content, list):
        raise bad(f"Invalid type for '{param}': expected a string or an array of content parts, got {type(content).__name__}.", param, "invalid_type")
    parts = []
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        t = part.get("type") if isinstance(part, dict) else None
        if t == "input_audio":
            raise bad(
                f"'{p}' is an input_audio part: the Responses API takes input_text, input_image and input_file parts "
                "(the SDK's ResponseInputContent), not audio. Send audio to Chat Completions with an audio model "
                "such as 'gpt-audio-mini', or to the Realtime API.", f"{p}.type", "unsupported_value")
        if t in ("input_image", "input_file"):
            raise bad(f"'{p}' is an {t} part: the offline stand-in has no vision or file model. Send input_text.", f"{p}.type", "unsupported_value")
        if t not in ("input_text", "output_text", "refusal"):
            raise bad(f"Invalid content part at '{p}': expected type 'input_text' or 'output_text', got {t!r}.", f"{p}.type")
        key = "refusal" if t == "refusal" else "text"
        if not isinstance(part.get(key), str):
            raise bad(f"Missing required parameter: '{p}.{key}'.", f"{p}.{key}", "missing_required_parameter")
        text = part[key]
        parts.append({"type": kind, "text": text, **({"annotations": []} if role == "assistant" else {})})
    return parts


def _input_items(raw: Any) -> list[dict[str, Any]]:
    """``input`` as normalised items (``ResponseInputMessageItem``, ``ResponseOutputMessage``, function call and output items)."""
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list):
        raise bad(f"Invalid type for 'input': expected a string or an array of input items, got {type(raw).__name__}.", "input", "invalid_type")
    items: list[dict[str, Any]] = []
    for i, item in enumerate(raw):
        p = f"input[{i}]"
        if not isinstance(item, dict):
            raise bad(f"Invalid type for '{p}': expected an object.", p, "invalid_type")
        kind = item.get("type", "message")
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise bad(f"Invalid value for '{p}.role': expected one of user, system, developer, assistant; got {role!r}.", f"{p}.role")
            msg: dict[str, Any] = {
                "id": item.get("id") or item_id("msg"), "type": "message", "role": role, "status": "completed",
                "content": _text_parts(item.get("content"), f"{p}.content", role),
            }
            items.append(msg)
        elif kind == "function_call":
            for key in ("call_id", "name", "arguments"):
                if not isinstance(item.get(key), str):
                    raise bad(f"Missing required parameter: '{p}.{key}'.", f"{p}.{key}", "missing_required_parameter")
            items.append({
                "id": item.get("id") or item_id("fc"), "type": "function_call", "status": "completed",
                "call_id": item["call_id"], "name": item["name"], "arguments": item["arguments"],
            })
        elif kind == "function_call_output":
            output = item.get("output")
            if isinstance(output, list):
                output = "\n".join(str(part.get("text", "")) for part in output if isinstance(part, dict))
            if not isinstance(item.get("call_id"), str) or not isinstance(output, str):
                raise bad(f"Missing required parameter: '{p}.call_id' and a string '{p}.output'.", f"{p}.output", "missing_required_parameter")
            items.append({
                "id": item.get("id") or item_id("fco"), "type": "function_call_output", "status": "completed",
                "call_id": item["call_id"], "output": output,
            })
        else:
            raise bad(
                f"Invalid value for '{p}.type': the offline stand-in takes 'message', 'function_call' and "
                f"'function_call_output' items, got {kind!r}.", f"{p}.type", "unsupported_value")
    return items


def items_to_turns(items: list[dict[str, Any]], param: str = "input") -> list[Turn]:
    """Normalised items (history first) as model :class:`Turn` s.

    Raises
    ------
    OpenAIError
        400 when a ``function_call_output`` answers no earlier ``function_call``.
    """
    turns: list[Turn] = []
    names: dict[str, str] = {}
    for item in items:
        kind = item["type"]
        if kind == "message":
            text = "\n".join(part["text"] for part in item["content"])
            role = item["role"]
            turns.append(Turn("system" if role in ("system", "developer") else role, text))
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            turns.append(Turn("assistant", ""))  # the call itself; its result carries the facts
        elif kind == "function_call_output":
            if item["call_id"] not in names:
                raise bad(f"No tool call found for function call output with call_id {item['call_id']}.", param)
            turns.append(Turn("tool", item["output"], tool_name=names[item["call_id"]]))
    return turns


def _tools(body: dict[str, Any]) -> tuple[list[ToolSpec], list[dict[str, Any]]]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise bad("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    specs, echo = [], []
    for i, tool in enumerate(raw):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind != "function":
            raise bad(f"Tool type {kind!r} at 'tools[{i}]' is not available on the offline stand-in: {HOSTED_TOOLS}.", f"tools[{i}].type", "unsupported_value")
        name = tool.get("name")
        if not isinstance(name, str) or not name:
            raise bad(f"Missing required parameter: 'tools[{i}].name'.", f"tools[{i}].name", "missing_required_parameter")
        params = tool.get("parameters") or {"type": "object", "properties": {}}
        if not isinstance(params, dict):
            raise bad(f"Invalid type for 'tools[{i}].parameters': expected a JSON schema object.", f"tools[{i}].parameters", "invalid_type")
        description = tool.get("description")
        if description is not None and not isinstance(description, str):
            raise bad(f"Invalid type for 'tools[{i}].description': expected a string.", f"tools[{i}].description", "invalid_type")
        specs.append(ToolSpec(name, description or "", params))
        echo.append({"type": "function", "name": name, "description": description, "parameters": params,
                     "strict": bool(tool.get("strict", True))})
    return specs, echo


def _tool_choice(body: dict[str, Any], tools: list[ToolSpec]) -> tuple[str | None, Any]:
    """The engine's tool choice (a mode or a tool name) and the value the Response echoes."""
    choice = body.get("tool_choice")
    if choice is None:
        return ("auto" if tools else None), "auto"
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise bad(f"Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or a named function, got {choice!r}.", "tool_choice")
        if choice == "required" and not tools:
            raise bad("Invalid value for 'tool_choice': 'required' needs at least one tool in 'tools'.", "tool_choice")
        return (choice if tools else None), choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind != "function":
        raise bad(f"Invalid 'tool_choice': the offline stand-in takes 'auto', 'none', 'required' or "
                  f"{{'type': 'function', 'name': ...}}, got type {kind!r}.", "tool_choice", "unsupported_value")
    name = choice.get("name")
    if name not in {t.name for t in tools}:
        raise bad(f"Invalid 'tool_choice': expected the name of a function in 'tools' "
                  f"({', '.join(t.name for t in tools) or 'none given'}), got {name!r}.", "tool_choice.name")
    return name, {"type": "function", "name": name}


def _text_format(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``text`` (echoed, with a format) and the llama.cpp options it sets (``json_schema``)."""
    text = body.get("text") or {}
    if not isinstance(text, dict):
        raise bad("Invalid type for 'text': expected an object such as {'format': {'type': 'text'}}.", "text", "invalid_type")
    fmt = text.get("format") or {"type": "text"}
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    options: dict[str, Any] = {}
    if kind == "json_object":
        options["json_schema"] = {"type": "object"}
    elif kind == "json_schema":
        if not isinstance(fmt.get("schema"), dict) or not isinstance(fmt.get("name"), str):
            raise bad("Invalid 'text.format': json_schema needs a 'name' and a 'schema' object.", "text.format.schema", "missing_required_parameter")
        options["json_schema"] = fmt["schema"]
    elif kind != "text":
        raise bad(f"Invalid value for 'text.format.type': expected 'text', 'json_object' or 'json_schema', got {kind!r}.", "text.format.type")
    return {**text, "format": fmt}, options


def parse_request(body: Any) -> ResponseRequest:
    """Check a ``POST /v1/responses`` body (or a WebSocket ``response.create`` without its ``type``).

    Raises
    ------
    OpenAIError
        400 naming the field for anything malformed, unknown or not served offline;
        404 ``model_not_found`` for a model the Responses API does not know.
    """
    from ...errors import model_not_found

    if not isinstance(body, dict):
        raise bad("expected a JSON object body", None, "invalid_json")
    check_known(body, KNOWN_PARAMS, "Unknown parameter: '{name}'.", "unknown_parameter")
    for name, what in UNSERVED_PARAMS.items():
        if body.get(name) not in (None, False, [], {}):
            raise bad(f"'{name}' is not available on the offline stand-in: it has no {what}.", name, "unsupported_parameter")
    model = body.get("model")
    if not model:
        raise bad("Missing required parameter: 'model'.", "model", "missing_required_parameter")
    if model not in RESPONSES_MODELS:
        raise model_not_found(str(model))
    if body.get("input") is None and not body.get("previous_response_id"):
        raise bad("Missing required parameter: 'input'.", "input", "missing_required_parameter")
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise bad("Invalid type for 'instructions': expected a string.", "instructions", "invalid_type")
    tools, tool_params = _tools(body)
    tool_choice, choice_echo = _tool_choice(body, tools)
    text, options = _text_format(body)
    temperature = number(body, "temperature", 0, 2, DEFAULT_TEMPERATURE)
    top_p = number(body, "top_p", 0, 1, None)
    if top_p is not None:
        options["top_p"] = top_p
    cap = body.get("max_output_tokens")
    max_output = None if cap is None else positive_int(body, "max_output_tokens", 1, MAX_OUTPUT_TOKENS_CAP)
    if max_output is not None and max_output < 16:
        raise bad(f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got {max_output} instead.", "max_output_tokens", "integer_below_min_value")
    previous = body.get("previous_response_id")
    if previous is not None and not isinstance(previous, str):
        raise bad("Invalid type for 'previous_response_id': expected a string.", "previous_response_id", "invalid_type")
    echo = {k: _echoed(k, body[k]) for k in ECHOED if body.get(k) is not None}
    return ResponseRequest(
        model=str(model), items=_input_items(body.get("input")), instructions=instructions,
        tools=tools, tool_params=tool_params, tool_choice=tool_choice, tool_choice_echo=choice_echo,
        parallel_tool_calls=bool(body.get("parallel_tool_calls", True)), text=text,
        max_output_tokens=max_output, temperature=temperature, top_p=top_p, options=options,
        store=body.get("store") is not False, stream=bool(body.get("stream")), previous_response_id=previous,
        echo=echo,
    )
