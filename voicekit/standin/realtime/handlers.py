"""Handlers for the Realtime client events, registered by event type.

Each handler is registered with the SDK model its event is checked against
(``openai.types.realtime``); see the OpenAI API reference, "Realtime client
events". A handler that refuses an event raises
:class:`~.events.RealtimeProtocolError`, which becomes an ``error`` event.
"""

from __future__ import annotations

from typing import Any

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

from .events import RealtimeProtocolError
from .items import decode_pcm16, item_from_client
from .registry import HANDLERS, Connection, handles

__all__ = ["HANDLERS"]


def _no_responses(conn: Connection, event_type: str) -> None:
    """Refuse response events in a transcription session (it never creates responses)."""
    if conn.session["type"] == "transcription":
        raise RealtimeProtocolError(
            f"{event_type} is not available in a transcription session: it transcribes input audio and "
            "creates no responses. Connect with ?model=gpt-realtime-mini for a speech-to-speech session.",
            code="invalid_value", param="type",
        )


# -- session -----------------------------------------------------------------------


@handles("session.update", SessionUpdateEvent)
async def session_update(conn: Connection, event: dict[str, Any]) -> None:
    conn.update_session(event["session"])
    conn.emit({"type": "session.updated", "session": conn.session})


# -- input audio buffer ----------------------------------------------------------------


@handles("input_audio_buffer.append", InputAudioBufferAppendEvent)
async def input_audio_buffer_append(conn: Connection, event: dict[str, Any]) -> None:
    await conn.append_audio(decode_pcm16(event["audio"], "audio"))


@handles("input_audio_buffer.commit", InputAudioBufferCommitEvent)
async def input_audio_buffer_commit(conn: Connection, event: dict[str, Any]) -> None:
    await conn.turn_judged()
    conn.commit_all()


@handles("input_audio_buffer.clear", InputAudioBufferClearEvent)
async def input_audio_buffer_clear(conn: Connection, event: dict[str, Any]) -> None:
    await conn.turn_judged()
    conn.clear_buffer()
    conn.emit({"type": "input_audio_buffer.cleared"})


@handles("output_audio_buffer.clear", OutputAudioBufferClearEvent)
async def output_audio_buffer_clear(conn: Connection, event: dict[str, Any]) -> None:
    """On a WebRTC call, drop the audio not yet played and truncate the item there (:mod:`.call`)."""
    if conn.webrtc is not None:
        conn.webrtc.clear()
        return
    raise RealtimeProtocolError(
        "output_audio_buffer.clear is for WebRTC and SIP connections; over a WebSocket the client plays the "
        "audio, so stop playback and send conversation.item.truncate instead",
        code="invalid_value", param="type",
    )


# -- conversation ----------------------------------------------------------------------

@handles("conversation.item.create", ConversationItemCreateEvent)
async def conversation_item_create(conn: Connection, event: dict[str, Any]) -> None:
    _no_responses(conn, "conversation.item.create")
    item = item_from_client(event["item"], "item", conn.transcribe_later)
    previous = conn.conversation.add(item, event.get("previous_item_id"))
    conn.emit({"type": "conversation.item.added", "previous_item_id": previous, "item": item.wire()})
    conn.emit({"type": "conversation.item.done", "previous_item_id": previous, "item": item.wire()})


@handles("conversation.item.retrieve", ConversationItemRetrieveEvent)
async def conversation_item_retrieve(conn: Connection, event: dict[str, Any]) -> None:
    item = conn.conversation.get(event["item_id"], "conversation.item.retrieve")
    conn.emit({"type": "conversation.item.retrieved", "item": item.wire(with_audio=True)})


@handles("conversation.item.delete", ConversationItemDeleteEvent)
async def conversation_item_delete(conn: Connection, event: dict[str, Any]) -> None:
    conn.conversation.delete(event["item_id"])
    conn.emit({"type": "conversation.item.deleted", "item_id": event["item_id"]})


@handles("conversation.item.truncate", ConversationItemTruncateEvent)
async def conversation_item_truncate(conn: Connection, event: dict[str, Any]) -> None:
    _no_responses(conn, "conversation.item.truncate")
    conn.conversation.truncate(event["item_id"], event["content_index"], event["audio_end_ms"])
    conn.emit({"type": "conversation.item.truncated", "item_id": event["item_id"],
               "content_index": event["content_index"], "audio_end_ms": event["audio_end_ms"]})


# -- responses -------------------------------------------------------------------------


@handles("response.create", ResponseCreateEvent)
async def response_create(conn: Connection, event: dict[str, Any]) -> None:
    _no_responses(conn, "response.create")
    conn.start_response(event.get("response") or {})


@handles("response.cancel", ResponseCancelEvent)
async def response_cancel(conn: Connection, event: dict[str, Any]) -> None:
    _no_responses(conn, "response.cancel")
    wanted = event.get("response_id")
    if not conn.responding() or (wanted and conn.active is not None and wanted != conn.active.id):
        raise RealtimeProtocolError(
            "Cancellation failed: no active response found" + (f" with id '{wanted}'" if wanted else ""),
            code="response_cancel_not_active",
        )
    assert conn.active is not None
    conn.active.cancel("client_cancelled")
