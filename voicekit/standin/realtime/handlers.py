"""Handlers for the Realtime client events, registered by event type.

Each handler is registered with the SDK model its event is checked against
(``openai.types.realtime``); see the OpenAI API reference, "Realtime client
events". A handler that refuses an event raises
:class:`~.events.RealtimeProtocolError`, which becomes an ``error`` event.
"""

from __future__ import annotations

import base64
import binascii
import concurrent.futures
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from openai.types.realtime import (
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)

from .connection import RealtimeConnection
from .conversation import Item
from .events import RealtimeProtocolError, new_id
from .session import merge_session

__all__ = ["HANDLERS", "item_from_client"]

Handler = Callable[[RealtimeConnection, dict[str, Any]], Awaitable[None]]

HANDLERS: dict[str, tuple[type[Any], Handler]] = {}
"""Client event type -> (SDK model, handler)."""


def handles(event_type: str, model: type[Any]) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        HANDLERS[event_type] = (model, handler)
        return handler

    return register


def decode_pcm16(data: str, param: str) -> np.ndarray:
    """Base64 PCM16 little-endian (24 kHz mono) as int16 ``(n,)``.

    Raises
    ------
    RealtimeProtocolError
        If ``data`` is not valid base64 or holds an odd number of bytes.
    """
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RealtimeProtocolError(
            f"expected base64-encoded PCM16 audio in '{param}': {exc}", code="invalid_value", param=param
        ) from None
    if len(raw) % 2:
        raise RealtimeProtocolError(
            f"expected PCM16 audio (2 bytes per sample) in '{param}', got {len(raw)} bytes",
            code="invalid_value", param=param,
        )
    return np.frombuffer(raw, dtype="<i2").astype(np.int16)


# -- session -----------------------------------------------------------------------


@handles("session.update", SessionUpdateEvent)
async def session_update(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.session = merge_session(conn.session, event["session"], voice_locked=conn.voice_locked)
    conn.configure_vad()
    conn.emit({"type": "session.updated", "session": conn.session})


# -- input audio buffer ----------------------------------------------------------------


@handles("input_audio_buffer.append", InputAudioBufferAppendEvent)
async def input_audio_buffer_append(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    await conn.append_audio(decode_pcm16(event["audio"], "audio"))


@handles("input_audio_buffer.commit", InputAudioBufferCommitEvent)
async def input_audio_buffer_commit(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.commit_all()


@handles("input_audio_buffer.clear", InputAudioBufferClearEvent)
async def input_audio_buffer_clear(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.clear_buffer()
    conn.emit({"type": "input_audio_buffer.cleared"})


@handles("output_audio_buffer.clear", OutputAudioBufferClearEvent)
async def output_audio_buffer_clear(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    raise RealtimeProtocolError(
        "output_audio_buffer.clear is for WebRTC and SIP connections; over a WebSocket the client plays the "
        "audio, so stop playback and send conversation.item.truncate instead",
        code="invalid_value", param="type",
    )


# -- conversation ----------------------------------------------------------------------

_USER_PARTS = ("input_text", "input_audio")
_PARTS = {"user": _USER_PARTS, "system": ("input_text",), "assistant": ("output_text", "text", "output_audio")}


def item_from_client(conn: RealtimeConnection, raw: dict[str, Any], param: str) -> Item:
    """An :class:`Item` from a client's ``item`` (message, function_call or function_call_output).

    Input audio in a user message is decoded and sent to Whisper.

    Raises
    ------
    RealtimeProtocolError
        For parts the role cannot hold, several audio parts, or bad base64.
    """
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
        conn.spawn(conn.transcribe(item))
    else:
        item.transcript.set_result("")  # type: ignore[union-attr]
    return item


@handles("conversation.item.create", ConversationItemCreateEvent)
async def conversation_item_create(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    item = item_from_client(conn, event["item"], "item")
    previous = conn.conversation.add(item, event.get("previous_item_id"))
    conn.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire()})
    conn.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.wire()})


@handles("conversation.item.retrieve", ConversationItemRetrieveEvent)
async def conversation_item_retrieve(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    item = conn.conversation.get(event["item_id"], "conversation.item.retrieve")
    conn.emit({"type": "conversation.item.retrieved", "item": item.wire(with_audio=True)})


@handles("conversation.item.delete", ConversationItemDeleteEvent)
async def conversation_item_delete(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.conversation.delete(event["item_id"])
    conn.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})


@handles("conversation.item.truncate", ConversationItemTruncateEvent)
async def conversation_item_truncate(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.conversation.truncate(event["item_id"], event["content_index"], event["audio_end_ms"])
    conn.emit({"type": "conversation.item.truncated", "item_id": event["item_id"],
               "content_index": event["content_index"], "audio_end_ms": event["audio_end_ms"]})


# -- responses -------------------------------------------------------------------------


@handles("response.create", ResponseCreateEvent)
async def response_create(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    conn.start_response(event.get("response") or {})


@handles("response.cancel", ResponseCancelEvent)
async def response_cancel(conn: RealtimeConnection, event: dict[str, Any]) -> None:
    wanted = event.get("response_id")
    if not conn.responding() or (wanted and conn.active is not None and wanted != conn.active.id):
        raise RealtimeProtocolError(
            "Cancellation failed: no active response found" + (f" with id '{wanted}'" if wanted else ""),
            code="response_cancel_not_active",
        )
    assert conn.active is not None
    conn.active.cancel("client_cancelled")
