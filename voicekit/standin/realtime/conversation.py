"""The conversation of one Realtime session: its items, their audio, and what the LLM reads.

Items have the wire shapes of the SDK's ``openai.types.realtime.ConversationItem``
union (``message`` with role system/user/assistant, ``function_call``,
``function_call_output``), all ``object: "realtime.item"``. The stand-in keeps
each item's audio (PCM16, 24 kHz) beside it: events carry the item without
audio bytes, and ``conversation.item.retrieved`` carries them in full.

Truncating an assistant audio item (``conversation.item.truncate``) cuts its
audio at ``audio_end_ms`` and keeps, as its transcript, only the sentences whose
audio had started by then. OpenAI deletes the transcript of truncated audio
so that no text the user did not hear stays in the context; the stand-in keeps
the part that was heard, which serves the same aim and leaves a small model
something to continue from.

Memory: a session keeps the audio of its newest items up to :data:`MAX_AUDIO_S`
seconds in all (user and assistant, 24 kHz int16: 10 minutes are 28.8 MB). Older
items keep their text and transcript but lose their audio bytes, oldest first:
``conversation.item.retrieved`` then carries no ``audio`` for them, and truncating
one is refused as for an item without audio. OpenAI sets no such limit within its
60-minute sessions; a classroom stand-in shares one process among many sessions.
"""

from __future__ import annotations

import base64
import concurrent.futures
import copy
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from ..engines.llm import Turn
from .events import RealtimeProtocolError, new_id

__all__ = ["MAX_AUDIO_S", "Conversation", "Item"]

MAX_AUDIO_S = 600
"""Seconds of item audio a session keeps, newest items first (see the module docstring)."""


@dataclass
class Item:
    """One conversation item: ``data`` (wire shape, no audio bytes) plus its audio.

    ``audio`` is int16 of shape ``(n,)`` at 24 kHz for ``input_audio`` and
    ``output_audio`` content (index 0); ``transcript`` resolves to the input
    audio's Whisper transcript; ``sentences`` are ``(first_sample, text)`` of
    spoken assistant sentences, for truncation.
    """

    data: dict[str, Any]
    audio: npt.NDArray[np.int16] | None = None
    transcript: concurrent.futures.Future[str] | None = None
    sentences: list[tuple[int, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def wire(self, *, with_audio: bool = False) -> dict[str, Any]:
        """The item for an event; ``with_audio`` adds base64 PCM16 to its audio content."""
        data = copy.deepcopy(self.data)
        if with_audio and self.audio is not None:
            for part in data.get("content", []):
                if part.get("type") in ("input_audio", "output_audio"):
                    part["audio"] = base64.b64encode(self.audio.astype("<i2").tobytes()).decode()
        return data


def _message(role: str, content: list[dict[str, Any]], status: str = "completed") -> dict[str, Any]:
    return {"id": new_id("item"), "object": "realtime.item", "type": "message", "role": role,
            "status": status, "content": content}


def user_audio_item(audio: npt.NDArray[np.int16], item_id: str | None = None) -> Item:
    """A user message holding committed input audio (transcript pending)."""
    data = _message("user", [{"type": "input_audio", "transcript": None}])
    if item_id:
        data["id"] = item_id
    return Item(data, audio=audio, transcript=concurrent.futures.Future())


class Conversation:
    """The ordered items of a session. Thread-safe: the response thread adds items too."""

    def __init__(self) -> None:
        self.id = new_id("conv")
        self._items: list[Item] = []
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[Item]:
        with self._lock:
            return list(self._items)

    def add(self, item: Item, previous_item_id: str | None = None) -> str | None:
        """Insert ``item`` after ``previous_item_id`` (``"root"``: first; None: last).

        Returns the id of the item now before it (None if it is first).

        Raises
        ------
        RealtimeProtocolError
            If ``previous_item_id`` names no item, or ``item.id`` is taken.
        """
        with self._lock:
            if any(i.id == item.id for i in self._items):
                raise RealtimeProtocolError(
                    f"Item with id '{item.id}' already exists.", code="item_id_already_exists", param="item.id"
                )
            if previous_item_id is None:
                index = len(self._items)
            elif previous_item_id == "root":
                index = 0
            else:
                index = self._index(previous_item_id, "previous_item_id", "conversation.item.create") + 1
            self._items.insert(index, item)
            self._bound_audio()
            return self._items[index - 1].id if index > 0 else None

    def _bound_audio(self) -> None:
        """Drop the audio of the oldest items beyond :data:`MAX_AUDIO_S` (under the lock)."""
        budget = MAX_AUDIO_S * REALTIME_SAMPLE_RATE
        for item in reversed(self._items):
            if item.audio is None:
                continue
            if budget >= item.audio.size or (item.transcript is not None and not item.transcript.done()):
                budget -= item.audio.size  # kept (audio Whisper has yet to read is always kept)
            else:
                budget = 0
                item.audio = None

    def _index(self, item_id: str, param: str, action: str) -> int:
        for k, item in enumerate(self._items):
            if item.id == item_id:
                return k
        verb = action.rsplit(".", 1)[-1]
        raise RealtimeProtocolError(
            f"Error {verb}: expected the id of an item in the conversation, got '{item_id}' "
            f"({len(self._items)} items).",
            code=f"item_{verb}_invalid_item_id" if verb in ("retrieve", "delete", "truncate") else "item_not_found",
            param=param,
        )

    def get(self, item_id: str, action: str) -> Item:
        """The item with ``item_id``; ``action`` (the client event type) words the error."""
        with self._lock:
            return self._items[self._index(item_id, "item_id", action)]

    def delete(self, item_id: str) -> None:
        with self._lock:
            del self._items[self._index(item_id, "item_id", "conversation.item.delete")]

    def clear(self) -> None:
        """Drop every item (and so its audio): a closed session's conversation (issue 26, "Memory").

        A session's objects refer to each other, so without this its audio, up to
        2.9 MB per minute of conversation, stayed until Python's cyclic garbage collector ran.
        """
        with self._lock:
            self._items.clear()

    def call_name(self, call_id: str) -> str | None:
        """The function name of the ``function_call`` item with ``call_id``."""
        for item in self.items():
            if item.data["type"] == "function_call" and item.data.get("call_id") == call_id:
                return str(item.data["name"])
        return None

    def truncate(self, item_id: str, content_index: int, audio_end_ms: int) -> None:
        """Cut an assistant audio item's audio at ``audio_end_ms`` (and its transcript to the sentences heard).

        Raises
        ------
        RealtimeProtocolError
            If the item is not an assistant message with audio, ``content_index``
            is not its audio part, or ``audio_end_ms`` is negative or past the audio.
        """
        action = "conversation.item.truncate"
        item = self.get(item_id, action)
        data = item.data
        if data.get("role") != "assistant" or item.audio is None:
            raise RealtimeProtocolError(
                f"expected an assistant message with audio, got a {data.get('role') or data['type']} item",
                code="item_truncate_invalid_item_id", param="item_id",
            )
        if content_index != 0:
            raise RealtimeProtocolError(
                f"expected content_index 0 (the audio part), got {content_index}", code="invalid_value",
                param="content_index",
            )
        duration_ms = item.audio.size * 1000 // REALTIME_SAMPLE_RATE
        if not 0 <= audio_end_ms <= duration_ms:
            raise RealtimeProtocolError(
                f"audio_end_ms must be between 0 and the item's {duration_ms} ms of audio, got {audio_end_ms}",
                code="invalid_value", param="audio_end_ms",
            )
        end = audio_end_ms * REALTIME_SAMPLE_RATE // 1000
        with self._lock:
            total = item.audio.size
            item.audio = item.audio[:end]
            heard = " ".join(text for start, text in item.sentences if start < end)
            item.sentences = [(s, t) for s, t in item.sentences if s < end]
            data["content"][0]["transcript"] = heard
            if end < total:
                data["status"] = "incomplete"

    def turns(self, items: list[Item], instructions: str) -> list[Turn]:
        """What the LLM reads for ``items``: the instructions, then one turn per message.

        Input audio is read as its transcript (waiting for it if Whisper is
        still running). Function calls become tool results named after the call.
        """
        out = [Turn("system", instructions)] if instructions.strip() else []
        names = {i.data.get("call_id"): i.data.get("name") for i in items if i.data["type"] == "function_call"}
        for item in items:
            data = item.data
            if data["type"] == "function_call_output":
                out.append(Turn("tool", str(data["output"]), tool_name=names.get(data["call_id"])))
                continue
            if data["type"] != "message":
                continue
            texts = []
            for part in data["content"]:
                kind = part.get("type")
                if kind in ("input_text", "output_text", "text"):
                    texts.append(part.get("text") or "")
                elif kind == "input_audio":
                    texts.append(item.transcript.result() if item.transcript else part.get("transcript") or "")
                elif kind == "output_audio":
                    texts.append(part.get("transcript") or "")
            text = " ".join(t.strip() for t in texts if t and t.strip())
            if text:
                out.append(Turn(data["role"], text))
        return out
