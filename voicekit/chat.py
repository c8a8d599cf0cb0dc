"""Thin helpers for Chat Completions with audio in and out.

They build and unpack the audio pieces of a request and a reply; the call
itself stays in plain sight (``client.chat.completions.create(...)``). They
work the same against OpenAI (``gpt-audio-mini``) and the offline stand-in.

Sources: OpenAI's "Audio and speech" guide and the SDK types
``ChatCompletionContentPartInputAudioParam`` (``input_audio``: base64 ``wav``
or ``mp3``), ``ChatCompletionAudio`` (``message.audio``: ``id``, ``data``,
``expires_at``, ``transcript``) and ``ChoiceDeltaAudio`` (streamed pieces).
Streamed audio is ``pcm16``: raw 24 kHz mono PCM16, little-endian.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionChunk,
    ChatCompletionContentPartInputAudioParam,
    ChatCompletionMessage,
    ChatCompletionToolMessageParam,
)
from openai.types.completion_usage import CompletionUsage

from .audio import Clip
from .errors import AudioFormatError
from .formats import REALTIME_SAMPLE_RATE

__all__ = [
    "StreamedReply",
    "assistant_message",
    "collect_stream",
    "input_audio_part",
    "reply_clip",
    "tool_result_message",
]


def input_audio_part(clip: Clip, format: Literal["wav", "mp3"] = "wav") -> ChatCompletionContentPartInputAudioParam:
    """An ``input_audio`` content part carrying ``clip``.

    Parameters
    ----------
    clip : Clip
        Any rate and channel count; sent as is (wav) or encoded (mp3).
    format : {"wav", "mp3"}
        The two formats Chat Completions accepts for input audio.

    Returns
    -------
    dict: ``{"type": "input_audio", "input_audio": {"data": <base64>, "format": format}}``.
    """
    if format not in ("wav", "mp3"):
        raise AudioFormatError(f"expected input_audio format 'wav' or 'mp3', got {format!r}")
    data = clip.to_wav_bytes() if format == "wav" else clip.encode("mp3")
    return {"type": "input_audio", "input_audio": {"data": base64.b64encode(data).decode("ascii"), "format": format}}


def reply_clip(message: ChatCompletionMessage, format: str | None = None) -> Clip:
    """The spoken reply in ``message.audio`` as a :class:`Clip`.

    Parameters
    ----------
    message : ChatCompletionMessage
        ``completion.choices[0].message`` of a request with ``modalities`` including ``"audio"``.
    format : str, optional
        The requested ``audio.format``. Needed only for ``"pcm16"`` (raw 24 kHz
        mono PCM16 has no header); wav, mp3, flac, opus and aac are recognised.

    Raises
    ------
    ValueError
        If the message carries no audio (a tool call, or text-only modalities).
    AudioFormatError
        If the audio does not decode.
    """
    if message.audio is None:
        raise ValueError(
            "expected message.audio (request modalities=['text', 'audio'] and audio={'voice', 'format'}); "
            f"this message has none (content={message.content!r}, tool_calls={bool(message.tool_calls)})"
        )
    data = base64.b64decode(message.audio.data)
    if format == "pcm16":
        return Clip.from_pcm16(data, REALTIME_SAMPLE_RATE)
    return Clip.from_bytes(data, name=f"reply.{format or 'audio'}")


def assistant_message(message: ChatCompletionMessage) -> ChatCompletionAssistantMessageParam:
    """The reply as a history entry for the next request.

    A spoken reply is referenced by its audio id (``{"role": "assistant",
    "audio": {"id": ...}}``) instead of resending its audio, as OpenAI's guide
    shows; tool calls are kept so tool results can answer them.
    """
    out: ChatCompletionAssistantMessageParam = {"role": "assistant"}
    if message.audio is not None:
        out["audio"] = {"id": message.audio.id}
    elif message.content is not None:
        out["content"] = message.content
    if message.tool_calls:
        out["tool_calls"] = [call.model_dump(exclude_none=True) for call in message.tool_calls]  # type: ignore[misc]
    return out


def tool_result_message(tool_call_id: str, result: Any) -> ChatCompletionToolMessageParam:
    """A ``role: "tool"`` message answering ``tool_call_id``; ``result`` is JSON-encoded unless a string."""
    content = result if isinstance(result, str) else json.dumps(result)
    return {"role": "tool", "tool_call_id": tool_call_id, "content": content}


@dataclass
class StreamedReply:
    """What a streamed completion said, gathered by :func:`collect_stream`.

    ``audio`` is the whole spoken reply (24 kHz mono PCM16) or None;
    ``audio_chunks`` counts the ``delta.audio.data`` pieces; ``tool_calls``
    maps each call's index to ``{"id", "name", "arguments"}``.
    """

    content: str = ""
    transcript: str = ""
    audio_id: str | None = None
    audio: Clip | None = None
    audio_chunks: int = 0
    tool_calls: dict[int, dict[str, str]] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: CompletionUsage | None = None


def collect_stream(
    chunks: Iterable[ChatCompletionChunk], on_audio: Callable[[Clip], Any] | None = None,
) -> StreamedReply:
    """Read a ``stream=True`` completion to its end.

    Parameters
    ----------
    chunks : iterable of ChatCompletionChunk
        What ``client.chat.completions.create(..., stream=True)`` returns.
    on_audio : callable, optional
        Called with each audio piece as it arrives (a 24 kHz mono int16
        :class:`Clip`), for example a streaming player's ``append``.

    Returns
    -------
    StreamedReply
    """
    reply = StreamedReply()
    pcm: list[bytes] = []
    for chunk in chunks:
        if chunk.usage is not None:
            reply.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            reply.content += delta.content or ""
            audio = delta.audio
            if audio is not None:
                reply.audio_id = audio.id or reply.audio_id
                reply.transcript += audio.transcript or ""
                if audio.data:
                    piece = base64.b64decode(audio.data)
                    pcm.append(piece)
                    reply.audio_chunks += 1
                    if on_audio is not None:
                        on_audio(Clip.from_pcm16(piece, REALTIME_SAMPLE_RATE))
            for call in delta.tool_calls or []:
                slot = reply.tool_calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] += call.function.name or ""
                    slot["arguments"] += call.function.arguments or ""
            if choice.finish_reason:
                reply.finish_reason = choice.finish_reason
    if pcm:
        reply.audio = Clip.from_pcm16(b"".join(pcm), REALTIME_SAMPLE_RATE)
    return reply
