"""Conversation items sent by the client: ``conversation.item.create`` and ``response.create``'s ``input``.

Item shapes follow the SDK's ``openai.types.realtime.ConversationItem`` union
(message, function_call, function_call_output). Input audio is base64 PCM16,
little-endian, 24 kHz mono (OpenAI API reference, "Realtime client events:
input_audio_buffer.append").
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from ..transport import wire
from .conversation import Item
from .events import RealtimeProtocolError, new_id

__all__ = ["MAX_ITEM_TEXT_CHARS", "decode_pcm16", "item_from_client"]

MAX_ITEM_TEXT_CHARS = 32_768
"""The longest text a client item may carry in one field (a part's ``text`` or ``transcript``,
a call's ``arguments``, an ``output``), in characters; a longer one is refused with an
``error`` event (code ``string_above_max_length``, OpenAI's code for an over-long string),
and the item is not added. The stand-in's limit, not OpenAI's: 32,768 characters are about
8,000 tokens of English, four times SmolLM2's 2,048-token window (:data:`..engines.llm.N_CTX`),
so a longer item could never be read whole. A 1 MB item was once accepted, then failed every
response (issue 24)."""

_USER_PARTS = ("input_text", "input_audio")
_PARTS = {"user": _USER_PARTS, "system": ("input_text",), "assistant": ("output_text", "text", "output_audio")}


def decode_pcm16(data: str, param: str) -> npt.NDArray[np.int16]:
    """Base64 PCM16 little-endian (24 kHz mono) as int16 ``(n,)`` (:func:`..transport.wire.decode_pcm16`).

    Raises
    ------
    RealtimeProtocolError
        If ``data`` is not valid base64 or holds an odd number of bytes.
    """
    try:
        return wire.decode_pcm16(data, param)
    except wire.PcmError as exc:
        raise RealtimeProtocolError(str(exc), code="invalid_value", param=param) from None


def _too_long(value: Any, param: str) -> None:
    if isinstance(value, str) and len(value) > MAX_ITEM_TEXT_CHARS:
        raise RealtimeProtocolError(
            f"Invalid '{param}': string too long. Expected a string with maximum length {MAX_ITEM_TEXT_CHARS} "
            f"(the offline stand-in's limit on an item's text), but got a string with length {len(value)} instead.",
            code="string_above_max_length", param=param,
        )


def _check_text_sizes(raw: dict[str, Any], param: str) -> None:
    """Refuse an item whose text fields pass :data:`MAX_ITEM_TEXT_CHARS`."""
    for key in ("arguments", "output"):
        _too_long(raw.get(key), f"{param}.{key}")
    for k, part in enumerate(raw.get("content") or []):
        if isinstance(part, dict):
            for key in ("text", "transcript"):
                _too_long(part.get(key), f"{param}.content[{k}].{key}")


def item_from_client(raw: dict[str, Any], param: str, transcribe: Callable[[Item], None]) -> Item:
    """An :class:`Item` from a client's ``item`` (message, function_call or function_call_output).

    Parameters
    ----------
    raw : dict
        The item as the client sent it.
    param : str
        Where it was sent (``"item"``, ``"response.input[0]"``), for error messages.
    transcribe : callable
        Called with a user message holding input audio and no transcript, to start Whisper on it.

    Raises
    ------
    RealtimeProtocolError
        For parts the role cannot hold, several audio parts, bad base64, or a text
        field longer than :data:`MAX_ITEM_TEXT_CHARS` characters.
    """
    _check_text_sizes(raw, param)
    data = {k: v for k, v in raw.items() if k not in ("object", "status")}
    data.setdefault("id", new_id("item"))
    data.update(object="realtime.item", status="completed")
    kind = data.get("type")
    if kind == "function_call":
        data.setdefault("call_id", new_id("call"))
        return Item(data)
    if kind == "function_call_output":
        return Item(data)
    if kind != "message":
        raise RealtimeProtocolError(
            f"expected item.type 'message', 'function_call' or 'function_call_output', got {kind!r}",
            code="invalid_value", param=f"{param}.type",
        )
    role = data.get("role")
    allowed = _PARTS.get(str(role), ())
    audio = None
    content = []
    for k, part in enumerate(data.get("content") or []):
        part = dict(part)
        if part.get("type") not in allowed:
            raise RealtimeProtocolError(
                f"expected {param}.content[{k}].type to be one of {', '.join(allowed)} for a {role} message, "
                f"got {part.get('type')!r}",
                code="invalid_value", param=f"{param}.content[{k}].type",
            )
        if part["type"] == "input_audio":
            if audio is not None:
                raise RealtimeProtocolError(
                    "expected at most one input_audio part per message", code="invalid_value",
                    param=f"{param}.content[{k}]",
                )
            audio = decode_pcm16(part.pop("audio", None) or "", f"{param}.content[{k}].audio")
            part.setdefault("transcript", None)
        content.append(part)
    data["content"] = content
    if audio is None:
        return Item(data)
    item = Item(data, audio=audio, transcript=concurrent.futures.Future())
    given = next((p.get("transcript") for p in content if p["type"] == "input_audio"), None)
    if given:
        item.transcript.set_result(str(given))  # type: ignore[union-attr]
    elif audio.size:
        transcribe(item)
    else:
        item.transcript.set_result("")  # type: ignore[union-attr]
    return item
