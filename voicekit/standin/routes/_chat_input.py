"""Parsing a Chat Completions request: messages, input audio, tools and sampling fields, checked.

Shapes follow the SDK's ``completion_create_params`` (``CompletionCreateParamsBase``)
and ``openai.types.chat`` params; every problem is a 400 ``invalid_request_error``
whose ``param`` names the field (OpenAI API reference, "Create chat completion").
``input_audio`` parts are transcribed here by the stand-in's Whisper, so the
model reads text; their bytes must be the container they declare (wav or mp3).
Assistant audio ids live in :class:`AudioStore` (about an hour, as with OpenAI).
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import typing
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from openai.types.chat import ChatCompletionAudioParam, completion_create_params
from openai.types.chat.chat_completion_content_part_input_audio_param import InputAudio

from ...audio import Clip
from ...errors import AudioFormatError, EmptyAudioError
from ..engines import Engines
from ..engines.llm import DEFAULT_TEMPERATURE, ToolSpec, Turn
from ..engines.synthesis import OPENAI_VOICES
from ..errors import model_not_found
from ..models import CHAT_MODELS
from ._wire import bad, check_known, declared_params, number, penalties

__all__ = ["AUDIO_OUTPUT_FORMATS", "AUDIO_TTL_S", "CHAT_PARAMS", "INPUT_AUDIO_FORMATS", "AudioStore", "ChatRequest", "parse_chat_request"]

AUDIO_OUTPUT_FORMATS: tuple[str, ...] = typing.get_args(typing.get_type_hints(ChatCompletionAudioParam)["format"])
"""``audio.format`` values, from the SDK's ``ChatCompletionAudioParam``: wav, aac, mp3, flac, opus, pcm16."""

INPUT_AUDIO_FORMATS: tuple[str, ...] = typing.get_args(typing.get_type_hints(InputAudio)["format"])
"""``input_audio.format`` values, from the SDK's ``InputAudio`` param: wav and mp3."""

CHAT_PARAMS = declared_params(completion_create_params.CompletionCreateParamsBase, extra=("stream",))
"""Top-level fields of the SDK's ``CompletionCreateParams``; any other is refused as OpenAI refuses it."""

AUDIO_TTL_S = 3600
"""How long an audio id can be referenced (OpenAI keeps it about an hour)."""


def _audio_model(model: str) -> bool:
    """Whether OpenAI serves audio in and out on ``model`` (the ``gpt-audio`` and ``*-audio-preview`` families)."""
    return "audio" in model and "search" not in model


# -- audio ids ---------------------------------------------------------------


@dataclass
class AudioStore:
    """Transcripts of assistant audio by id, so later turns can reference them."""

    max_items: int = 1000
    _items: OrderedDict[str, tuple[str, int]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, transcript: str) -> tuple[str, int]:
        """Remember ``transcript``; returns ``(audio_id, expires_at)`` (Unix seconds)."""
        audio_id = "audio_" + secrets.token_hex(12)
        expires_at = int(time.time()) + AUDIO_TTL_S
        with self._lock:
            self._items[audio_id] = (transcript, expires_at)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)
        return audio_id, expires_at

    def set_transcript(self, audio_id: str, transcript: str) -> None:
        """Replace the transcript of a known ``audio_id`` (a streamed reply, once complete)."""
        with self._lock:
            if audio_id in self._items:
                self._items[audio_id] = (transcript, self._items[audio_id][1])

    def transcript(self, audio_id: str) -> str | None:
        """The transcript for ``audio_id``, or None when unknown or expired."""
        with self._lock:
            item = self._items.get(audio_id)
        if item is None or item[1] < time.time():
            return None
        return item[0]


# -- request parsing -----------------------------------------------------------


@dataclass
class ChatRequest:
    """A validated request, messages already turned into model :class:`Turn` s."""

    model: str
    turns: list[Turn]
    input_audio_s: float
    tools: list[ToolSpec]
    tool_choice: str | None
    audio_out: dict[str, str] | None
    stream: bool
    include_usage: bool
    max_tokens: int | None
    """``max_completion_tokens`` (or ``max_tokens``); None: the rest of the context window."""
    temperature: float
    seed: int | None
    options: dict[str, Any]


_bad = bad


def _container(data: bytes) -> str | None:
    """The audio container ``data`` really is, from its first bytes: wav, mp3, flac or ogg (None if unknown)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    return None


def _text_of(content: Any, param: str, allowed: tuple[str, ...] = ("text",)) -> str:
    """Text of a content string or a list of text parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"Invalid type for '{param}': expected a string or an array of content parts, got {type(content).__name__}.", param, "invalid_type")
    texts = []
    for j, part in enumerate(content):
        p = f"{param}[{j}]"
        if not isinstance(part, dict) or part.get("type") not in allowed:
            got = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise _bad(f"Invalid content part at '{p}': expected type {' or '.join(map(repr, allowed))}, got {got!r}.", f"{p}.type")
        key = "refusal" if part["type"] == "refusal" else "text"
        if not isinstance(part.get(key), str):
            raise _bad(f"Missing required parameter: '{p}.{key}'.", f"{p}.{key}", "missing_required_parameter")
        texts.append(part[key])
    return "\n".join(texts)


def _decode_input_audio(part: dict[str, Any], param: str) -> Clip:
    audio = part.get("input_audio")
    if not isinstance(audio, dict) or not isinstance(audio.get("data"), str):
        raise _bad(f"Missing required parameter: '{param}.input_audio.data' (base64 audio).", f"{param}.input_audio.data", "missing_required_parameter")
    fmt = audio.get("format")
    if fmt not in INPUT_AUDIO_FORMATS:
        raise _bad(f"Invalid value for '{param}.input_audio.format': expected one of {', '.join(INPUT_AUDIO_FORMATS)}, got {fmt!r}.", f"{param}.input_audio.format")
    try:
        data = base64.b64decode(audio["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _bad(f"Invalid '{param}.input_audio.data': expected base64-encoded {fmt} audio ({exc}).", f"{param}.input_audio.data") from exc
    actual = _container(data)
    if actual is not None and actual != fmt:
        raise _bad(
            f"Invalid '{param}.input_audio': 'format' declares {fmt!r}, but the data is {actual} audio. "
            f"Declare format {actual!r} if that is supported ({', '.join(INPUT_AUDIO_FORMATS)}), or send {fmt} data.",
            f"{param}.input_audio.format",
        )
    try:
        clip = Clip.from_bytes(data, name=f"input_audio.{fmt}")
    except (AudioFormatError, EmptyAudioError) as exc:
        raise _bad(f"The audio in '{param}.input_audio.data' could not be decoded as {fmt}: {exc}", f"{param}.input_audio.data") from exc
    if clip.duration < 0.1:
        raise _bad(f"Audio in '{param}' is too short: expected at least 0.1 seconds, got {clip.duration:.3f} s.", f"{param}.input_audio.data", "audio_too_short")
    return clip


def _turns(messages: Any, engines: Engines, store: AudioStore, model: str) -> tuple[list[Turn], float]:
    if not isinstance(messages, list):
        raise _bad("Invalid type for 'messages': expected an array of messages.", "messages", "invalid_type")
    if not messages:
        raise _bad("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array")
    turns: list[Turn] = []
    audio_s = 0.0
    tool_names: dict[str, str] = {}
    for i, msg in enumerate(messages):
        p = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise _bad(f"Invalid type for '{p}': expected an object.", p, "invalid_type")
        role = msg.get("role")
        content = msg.get("content")
        if role in ("system", "developer"):
            turns.append(Turn("system", _text_of(content, f"{p}.content")))
        elif role == "user":
            if isinstance(content, list):
                texts = []
                for j, part in enumerate(content):
                    pp = f"{p}.content[{j}]"
                    kind = part.get("type") if isinstance(part, dict) else None
                    if kind == "text" and isinstance(part.get("text"), str):
                        texts.append(part["text"])
                    elif kind == "input_audio":
                        if not _audio_model(model):
                            raise _bad(f"Model '{model}' does not accept audio input; use an audio model such as 'gpt-audio-mini'.", f"{pp}.type", "unsupported_value")
                        clip = _decode_input_audio(part, pp)
                        audio_s += clip.duration
                        texts.append(engines.stt.transcribe(clip).text)
                    elif kind in ("image_url", "file"):
                        raise _bad(f"'{pp}' is a {kind} part: the offline stand-in has no vision or file model. Send text or input_audio.", f"{pp}.type", "unsupported_value")
                    else:
                        raise _bad(f"Invalid content part at '{pp}': expected type 'text' (with a string 'text') or 'input_audio'.", f"{pp}.type")
                turns.append(Turn("user", "\n".join(texts)))
            else:
                turns.append(Turn("user", _text_of(content, f"{p}.content")))
        elif role == "assistant":
            text = _text_of(content, f"{p}.content", ("text", "refusal"))
            audio = msg.get("audio")
            if audio is not None:
                audio_id = audio.get("id") if isinstance(audio, dict) else None
                transcript = store.transcript(audio_id) if isinstance(audio_id, str) else None
                if transcript is None:
                    raise _bad(f"Audio with id {audio_id!r} not found (unknown, or older than {AUDIO_TTL_S // 60} minutes); expected the id of an earlier response's message.audio.", f"{p}.audio.id")
                text = (text + "\n" + transcript).strip()
            calls = msg.get("tool_calls") or []
            for k, call in enumerate(calls):
                fn = call.get("function") if isinstance(call, dict) else None
                if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                    raise _bad(f"Missing required parameter: '{p}.tool_calls[{k}].function.name'.", f"{p}.tool_calls[{k}].function.name", "missing_required_parameter")
                tool_names[str(call.get("id"))] = fn["name"]
            turns.append(Turn("assistant", text))  # a call-only turn has no text; the tool result carries it
        elif role == "tool":
            call_id = msg.get("tool_call_id")
            if call_id not in tool_names:
                raise _bad(f"Invalid parameter: messages with role 'tool' must be a response to a preceding message with 'tool_calls'; no tool call has id {call_id!r}.", f"{p}.tool_call_id")
            turns.append(Turn("tool", _text_of(content, f"{p}.content"), tool_name=tool_names[call_id]))
        else:
            raise _bad(f"Invalid value for '{p}.role': expected one of system, developer, user, assistant, tool; got {role!r}.", f"{p}.role")
    return turns, audio_s


def _tools(body: dict[str, Any]) -> tuple[list[ToolSpec], str | None]:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise _bad("Invalid type for 'tools': expected an array.", "tools", "invalid_type")
    tools = []
    for i, t in enumerate(raw):
        fn = t.get("function") if isinstance(t, dict) and t.get("type") == "function" else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise _bad(f"Invalid 'tools[{i}]': expected {{'type': 'function', 'function': {{'name': ..., 'parameters': ...}}}}.", f"tools[{i}]")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(ToolSpec(fn["name"], str(fn.get("description") or ""), params))
    choice = body.get("tool_choice")
    if choice is None:
        return tools, "auto" if tools else None
    if isinstance(choice, str):
        if choice not in ("auto", "none", "required"):
            raise _bad(f"Invalid value for 'tool_choice': expected 'auto', 'none', 'required' or a named function, got {choice!r}.", "tool_choice")
        if choice != "none" and not tools:
            raise _bad(f"Invalid value for 'tool_choice': {choice!r} is only allowed when 'tools' are given.", "tool_choice")
        return tools, choice
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if name not in {t.name for t in tools}:
        raise _bad(f"Invalid 'tool_choice': expected the name of a function in 'tools' ({', '.join(t.name for t in tools) or 'none given'}), got {name!r}.", "tool_choice")
    return tools, name


def _sampling_options(body: dict[str, Any]) -> dict[str, Any]:
    """``frequency_penalty``, ``presence_penalty``, ``top_p``, ``stop`` and ``response_format``, checked.

    llama.cpp takes the first four under the same names; ``response_format``
    becomes its ``json_schema`` (``json_object`` is any JSON object).
    """
    options: dict[str, Any] = dict(penalties(body))
    top_p = number(body, "top_p", 0, 1, None)
    if top_p is not None:
        options["top_p"] = top_p
    stop = body.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not 1 <= len(stops) <= 4 or not all(isinstance(x, str) and x for x in stops):
            raise _bad(f"Invalid value for 'stop': expected a string or up to 4 non-empty strings, got {stop!r}.", "stop")
        options["stop"] = stops
    fmt = body.get("response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind == "json_object":
            options["json_schema"] = {"type": "object"}
        elif kind == "json_schema" and isinstance((fmt.get("json_schema") or {}).get("schema"), dict):
            options["json_schema"] = fmt["json_schema"]["schema"]
        elif kind != "text":
            raise _bad(
                "Invalid 'response_format': expected {'type': 'text'}, {'type': 'json_object'} or "
                f"{{'type': 'json_schema', 'json_schema': {{'name': ..., 'schema': {{...}}}}}}, got {fmt!r}.",
                "response_format",
            )
    return options


def _parse(body: Any, engines: Engines, store: AudioStore) -> ChatRequest:
    if not isinstance(body, dict):
        raise _bad("expected a JSON object body", None, "invalid_json")
    check_known(body, CHAT_PARAMS, "Unrecognized request argument supplied: {name}", "unknown_parameter")
    model = body.get("model")
    if not model:
        raise _bad("you must provide a model parameter", "model", "missing_required_parameter")
    if model not in CHAT_MODELS:
        raise model_not_found(str(model))
    n = body.get("n", 1)
    if n not in (None, 1):
        raise _bad(f"Invalid value for 'n': the offline stand-in serves n=1 only, got {n!r}.", "n", "unsupported_value")
    modalities = body.get("modalities") or ["text"]
    if not isinstance(modalities, list) or not set(modalities) <= {"text", "audio"}:
        raise _bad(f"Invalid value for 'modalities': expected ['text'] or ['text', 'audio'], got {modalities!r}.", "modalities")
    stream = bool(body.get("stream"))
    audio_out = None
    if "audio" in modalities:
        if not _audio_model(model):
            raise _bad(f"Model '{model}' does not produce audio; use an audio model such as 'gpt-audio-mini'.", "modalities", "unsupported_value")
        audio = body.get("audio")
        if not isinstance(audio, dict):
            raise _bad("Missing required parameter: 'audio' ({'voice': ..., 'format': ...}) when modalities include 'audio'.", "audio", "missing_required_parameter")
        voice, fmt = audio.get("voice"), audio.get("format")
        if isinstance(voice, dict):
            raise _bad(f"custom voice {voice.get('id')!r} is not available on the offline stand-in; use a built-in voice: {', '.join(OPENAI_VOICES)}", "audio.voice")
        if voice not in OPENAI_VOICES:
            raise _bad(f"Invalid value for 'audio.voice': expected one of {', '.join(OPENAI_VOICES)}, got {voice!r}.", "audio.voice")
        if fmt not in AUDIO_OUTPUT_FORMATS:
            raise _bad(f"Invalid value for 'audio.format': expected one of {', '.join(AUDIO_OUTPUT_FORMATS)}, got {fmt!r}.", "audio.format")
        if stream and fmt != "pcm16":
            raise _bad(f"Audio format {fmt!r} cannot be streamed: with stream=true, expected 'pcm16'.", "audio.format", "unsupported_value")
        audio_out = {"voice": str(voice), "format": str(fmt)}
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
        raise _bad(f"Invalid value for 'max_completion_tokens': expected a positive integer, got {max_tokens!r}.", "max_completion_tokens")
    temperature = number(body, "temperature", 0, 2, DEFAULT_TEMPERATURE)
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _bad(f"Invalid value for 'seed': expected an integer, got {seed!r}.", "seed", "invalid_type")
    options = _sampling_options(body)
    tools, tool_choice = _tools(body)
    turns, audio_s = _turns(body.get("messages"), engines, store, model)
    stream_options = body.get("stream_options") or {}
    return ChatRequest(
        model=model, turns=turns, input_audio_s=audio_s, tools=tools, tool_choice=tool_choice,
        audio_out=audio_out, stream=stream, include_usage=bool(stream_options.get("include_usage")),
        max_tokens=None if max_tokens is None else min(max_tokens, 4096), temperature=float(temperature), seed=seed,
        options=options,
    )


parse_chat_request = _parse
"""Check a chat request body and turn its messages into :class:`Turn` s (transcribing input audio)."""
