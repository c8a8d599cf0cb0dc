"""An upstream LLM behind the stand-in: any server speaking OpenAI's Chat Completions.

:class:`UpstreamLLM` has the interface of :class:`.llm.LLMEngine` (``name``,
``description``, :meth:`~UpstreamLLM.respond`, :meth:`~UpstreamLLM.decide`,
:meth:`~UpstreamLLM.stream`), so every text-generation step of the stand-in
(chat, Responses, Realtime, Live) can run on Ollama, ``llama-server``,
LM Studio, vLLM or another stand-in while speech-to-text and text-to-speech
stay local. It calls the upstream with the ``openai`` SDK's sync client
(``max_retries=0``), always streaming (``stream_options.include_usage``), on
the caller's worker thread.

Messages
--------
A capable model gets the real roles: system (a ``developer`` turn is sent as
``system``, which every local server knows), user, assistant, and a tool
result as an assistant ``tool_calls`` message followed by a ``tool`` message
with its ``tool_call_id``. The stand-in's :class:`.llm.Turn` keeps a call's
tool name but not its id or arguments, so the ids are made up per request
(``call_0``, ...) and the arguments are sent as ``{}``.

Tools
-----
``native`` passes ``tools`` and ``tool_choice`` (OpenAI's shapes) and assembles
the streamed ``tool_calls`` deltas. ``json`` (and every :meth:`decide`, such as
Live's delegation decision) asks for the JSON choice of :func:`.llm.tool_choice_schema`
with ``response_format={"type": "json_schema", ...}``, the upstream's own
grammar-constrained output, as the local pass does with llama.cpp. ``auto``
tries native once; an upstream that refuses tools (an HTTP 4xx) is asked in
json from then on. :attr:`UpstreamLLM.tool_mode` says which way was used.

Errors
------
A refused connection, an HTTP error status, a broken stream or an error event
raise :class:`.errors.UpstreamError` (502); a timeout raises it with 504. The
message names the upstream URL and never its key. A context-window refusal
(code ``context_length_exceeded``) raises :class:`.llm.ContextLengthError`, as
the local engine does, so Realtime truncation still works.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx2
import openai

from ..errors import UpstreamError
from .llm import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    ContextLengthError,
    LLMUsage,
    TextDelta,
    ToolCall,
    ToolSpec,
    Turn,
    _decision_prompt,
    tool_choice_schema,
)
from .llm_config import NO_KEY, LLMConfig
from .tool_choice import decide_or_stream

__all__ = ["UpstreamLLM", "to_messages"]

log = logging.getLogger("voicekit.standin.upstream")

DECISION_MAX_TOKENS = 200
"""Token cap of the JSON decision pass (as the local pass)."""

_PASSED_OPTIONS = ("frequency_penalty", "presence_penalty", "top_p", "stop")
"""Request options sent on unchanged; ``json_schema`` becomes ``response_format``, llama.cpp's own are dropped."""


def to_messages(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """``turns`` as Chat Completions messages with real roles (see the module docstring).

    Returns
    -------
    list of dict, each a ``ChatCompletionMessageParam``.
    """
    out: list[dict[str, Any]] = []
    n_calls = 0
    for t in turns:
        if t.role == "tool":
            prev = out[-1] if out else None
            if prev is not None and prev["role"] == "assistant" and not prev.get("content") and "tool_calls" not in prev:
                out.pop()  # the call-only assistant turn: the tool_calls message below stands for it
            owner = next((m for m in reversed(out) if m["role"] != "tool"), None) if out and out[-1]["role"] == "tool" else None
            if owner is None or "tool_calls" not in owner:
                owner = {"role": "assistant", "content": None, "tool_calls": []}
                out.append(owner)
            call_id = f"call_{n_calls}"
            n_calls += 1
            owner["tool_calls"].append({"id": call_id, "type": "function",
                                        "function": {"name": t.tool_name or "tool", "arguments": "{}"}})
            out.append({"role": "tool", "tool_call_id": call_id, "content": t.content})
        elif t.role == "assistant" and not t.content.strip():
            out.append({"role": "assistant", "content": ""})  # dropped if a tool result follows
        else:
            out.append({"role": "system" if t.role == "developer" else t.role, "content": t.content})
    return [m for m in out if not (m["role"] == "assistant" and m.get("content") == "" and "tool_calls" not in m)]


def _tool_params(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
            for t in tools]


def _response_format(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


class UpstreamLLM:
    """The stand-in's LLM on an upstream server (interface of :class:`.llm.LLMEngine`).

    Parameters
    ----------
    config : LLMConfig
        With ``base_url`` and ``model`` set (:meth:`.llm_config.LLMConfig.resolve`).
    """

    def __init__(self, config: LLMConfig) -> None:
        if config.base_url is None or config.model is None:
            raise ValueError("UpstreamLLM needs an LLMConfig with base_url and model")
        self.config = config
        self.url: str = config.base_url
        self.name: str = config.model
        self._key = config.api_key
        self._client = openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key, max_retries=0,
            timeout=httpx2.Timeout(config.timeout_s, connect=min(5.0, config.timeout_s)),
        )
        self.tool_mode: str | None = {"native": "native", "json": "json_schema"}.get(config.tools)
        """``"native"`` or ``"json_schema"``: how the last tool request went; None until one has (mode ``auto``)."""

    @property
    def description(self) -> str:
        """``"llama3.2 at http://127.0.0.1:11434/v1 (upstream, tools: native)"``; never the key."""
        tools = self.tool_mode or ("auto, not yet used" if self.config.tools == "auto" else self.config.tools)
        return f"{self.name} at {self.url} (upstream, tools: {tools})"

    # -- errors -------------------------------------------------------------------

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and self._key != NO_KEY else text

    def _error(self, exc: Exception) -> Exception:
        """The stand-in's error for an SDK or transport failure of the upstream."""
        where = f"The upstream LLM at {self.url}"
        if isinstance(exc, openai.APITimeoutError | httpx2.TimeoutException):
            return UpstreamError(f"{where} did not answer within {self.config.timeout_s:g} s", timeout=True)
        if isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            inner = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
            code, message = inner.get("code"), str(inner.get("message") or exc.message)
            if code == "context_length_exceeded" or inner.get("type") == "exceed_context_size_error":
                return ContextLengthError(self._scrub(message))
            return UpstreamError(self._scrub(f"{where} refused the request: HTTP {exc.status_code}: {message}"))
        if isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc
            return UpstreamError(self._scrub(f"{where} could not be reached: {type(cause).__name__}: {cause}"))
        if isinstance(exc, httpx2.HTTPError):
            return UpstreamError(self._scrub(f"{where} broke off its answer: {type(exc).__name__}: {exc}"))
        return UpstreamError(self._scrub(f"{where} failed: {type(exc).__name__}: {exc}"))

    # -- one streamed request -------------------------------------------------------

    def _chunks(self, request: dict[str, Any], usage: LLMUsage | None, stop: threading.Event | None) -> Iterator[Any]:
        """The streamed chunks of one request; ``usage`` gets the counts and finish reason."""
        start = time.perf_counter()
        try:
            stream = self._client.chat.completions.create(
                **request, stream=True, stream_options={"include_usage": True})
        except openai.APIError as exc:
            raise self._error(exc) from None
        try:
            for chunk in stream:
                if chunk.usage is not None and usage is not None:
                    usage.add(chunk.usage.model_dump())
                for choice in chunk.choices:
                    if usage is not None and choice.finish_reason:
                        usage.finish_reason = choice.finish_reason
                    if usage is not None and usage.ttft_s is None and (choice.delta.content or choice.delta.tool_calls):
                        usage.ttft_s = time.perf_counter() - start
                yield chunk
                if stop is not None and stop.is_set():
                    return
        except (openai.APIError, httpx2.HTTPError) as exc:
            raise self._error(exc) from None
        finally:
            stream.close()
            if stop is not None:
                stop.set()  # as the local engine: the stream sets it when it ends

    def _request(self, turns: Sequence[Turn], max_tokens: int | None, temperature: float, seed: int | None,
                 options: dict[str, Any] | None) -> dict[str, Any]:
        req: dict[str, Any] = {"model": self.name, "messages": to_messages(turns), "temperature": temperature}
        if max_tokens is not None:  # None: the upstream's own limit, the rest of its context
            req["max_tokens"] = max_tokens
        if seed is not None:
            req["seed"] = seed
        for key in _PASSED_OPTIONS:
            if (options or {}).get(key) is not None:
                req[key] = options[key]  # type: ignore[index]
        if (options or {}).get("json_schema") is not None:
            req["response_format"] = _response_format(options["json_schema"], "output")  # type: ignore[index]
        return req

    # -- the engine interface -----------------------------------------------------------

    def stream(
        self, turns: Sequence[Turn], *, max_tokens: int | None = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE, seed: int | None = None,
        usage: LLMUsage | None = None, stop: threading.Event | None = None,
        options: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        """A free-text reply, yielding text pieces as the upstream streams them.

        Closing the iterator or setting ``stop`` closes the upstream stream at the next chunk.

        Raises
        ------
        UpstreamError
            502 or 504 (see the module docstring).
        ContextLengthError
            If the upstream says the conversation does not fit its context window.
        """
        for chunk in self._chunks(self._request(turns, max_tokens, temperature, seed, options), usage, stop):
            for choice in chunk.choices:
                if choice.delta.content:
                    yield choice.delta.content

    def decide(
        self, turns: Sequence[Turn], tools: Sequence[ToolSpec], *, required: bool, seed: int | None = None,
        usage: LLMUsage | None = None,
    ) -> ToolCall | None:
        """The JSON decision pass through ``response_format``: a tool call, or None to reply instead.

        Raises
        ------
        UpstreamError
            As :meth:`stream`, and 502 when the answer is not the JSON the schema asks for.
        """
        request = self._request([Turn("system", _decision_prompt(tools)), *[t for t in turns if t.role != "system"]],
                                DECISION_MAX_TOKENS, 0.0, seed, None)
        request["response_format"] = _response_format(tool_choice_schema(tools, allow_none=not required), "tool_choice")
        text = "".join(c.delta.content or "" for chunk in self._chunks(request, usage, None) for c in chunk.choices)
        try:
            obj = json.loads(text)
            name = obj.get("tool")
        except (json.JSONDecodeError, AttributeError):
            raise UpstreamError(f"The upstream LLM at {self.url} did not answer the tool decision with the JSON "
                                f"its response_format asks for: {text[:200]!r}") from None
        if name in (None, "none"):
            return None
        if name not in {t.name for t in tools}:
            raise UpstreamError(f"The upstream LLM at {self.url} chose tool {name!r}, expected one of "
                                f"{[t.name for t in tools]} (does it honour response_format json_schema?)")
        return ToolCall(str(name), json.dumps(obj.get("arguments", {})))

    def _native(self, turns: Sequence[Turn], tools: Sequence[ToolSpec], tool_choice: str, max_tokens: int | None,
                temperature: float, seed: int | None, usage: LLMUsage, stop: threading.Event | None,
                options: dict[str, Any] | None) -> Iterator[TextDelta | ToolCall]:
        request = self._request(turns, max_tokens, temperature, seed, options)
        request["tools"] = _tool_params(tools)
        request["tool_choice"] = (tool_choice if tool_choice in ("auto", "required", "none")
                                  else {"type": "function", "function": {"name": tool_choice}})
        calls: dict[int, dict[str, str]] = {}
        for chunk in self._chunks(request, usage, stop):
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                    if delta.function is not None:
                        call["name"] += delta.function.name or ""
                        call["arguments"] += delta.function.arguments or ""
                if choice.delta.content:
                    yield TextDelta(choice.delta.content)
        for _, call in sorted(calls.items()):
            usage.finish_reason = "tool_calls"
            yield ToolCall(call["name"], call["arguments"] or "{}")

    def respond(
        self, turns: Sequence[Turn], *, tools: Sequence[ToolSpec] = (), tool_choice: str | None = "auto",
        max_tokens: int | None = DEFAULT_MAX_TOKENS, temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None, usage: LLMUsage | None = None, stop: threading.Event | None = None,
        options: dict[str, Any] | None = None,
    ) -> Iterator[TextDelta | ToolCall]:
        """One assistant turn: :class:`ToolCall` s and/or :class:`TextDelta` pieces (as :meth:`.llm.LLMEngine.respond`).

        Raises
        ------
        ValueError
            If ``tool_choice`` names a tool that is not in ``tools``.
        UpstreamError, ContextLengthError
            As :meth:`stream`.
        """
        usage = usage if usage is not None else LLMUsage()
        wants_tools = bool(tools) and tool_choice not in (None, "none")
        if wants_tools and tool_choice not in ("auto", "required") and tool_choice not in {t.name for t in tools}:
            raise ValueError(f"tool_choice names {tool_choice!r}, expected one of {[t.name for t in tools]}")
        if wants_tools and self.tool_mode != "json_schema":
            assert tool_choice is not None
            native = self._native(turns, tools, tool_choice, max_tokens, temperature, seed, usage, stop, options)
            try:
                first = next(native, None)
            except UpstreamError as exc:
                cause = exc.__context__
                if self.config.tools != "auto" or not (isinstance(cause, openai.APIStatusError)
                                                      and 400 <= cause.status_code < 500):
                    raise
                log.warning("%s refused native tools (%s); asking for a JSON tool choice from now on", self.url, exc)
                self.tool_mode = "json_schema"
            else:
                self.tool_mode = "native"
                if first is not None:
                    yield first
                    yield from native
                return
        yield from decide_or_stream(self, turns, tools, tool_choice, usage, seed=seed, max_tokens=max_tokens,
                                    temperature=temperature, stop=stop, options=options)
