"""voicekit.chat helpers, on hand-built SDK objects (no server)."""

from __future__ import annotations

import base64
import json

import pytest
from openai.types.chat import ChatCompletionChunk, ChatCompletionMessage

from voicekit.audio import Clip
from voicekit.chat import (
    assistant_message,
    collect_stream,
    input_audio_part,
    reply_clip,
    tool_result_message,
)
from voicekit.errors import AudioFormatError


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_input_audio_part_round_trips(sine_clip, fmt):
    part = input_audio_part(sine_clip, fmt)
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == fmt
    back = Clip.from_bytes(base64.b64decode(part["input_audio"]["data"]))
    assert back.duration == pytest.approx(sine_clip.duration, abs=0.06)


def test_input_audio_part_rejects_other_formats(sine_clip):
    with pytest.raises(AudioFormatError, match="'wav' or 'mp3'"):
        input_audio_part(sine_clip, "flac")  # type: ignore[arg-type]


def _message(**kw) -> ChatCompletionMessage:
    return ChatCompletionMessage.model_validate({"role": "assistant", "content": None, **kw})


def test_reply_clip_decodes_wav_and_pcm16(sine_clip):
    wav = _message(audio={"id": "audio_1", "data": base64.b64encode(sine_clip.to_wav_bytes()).decode(),
                          "expires_at": 1, "transcript": "hi"})
    assert reply_clip(wav).n_frames == sine_clip.n_frames
    pcm = sine_clip.resample(24_000).to_pcm16_bytes()
    raw = _message(audio={"id": "audio_2", "data": base64.b64encode(pcm).decode(), "expires_at": 1, "transcript": "hi"})
    clip = reply_clip(raw, "pcm16")
    assert clip.sample_rate == 24_000 and clip.n_frames == len(pcm) // 2


def test_reply_clip_without_audio_says_what_to_request():
    with pytest.raises(ValueError, match="modalities"):
        reply_clip(_message(content="text only"))


def test_assistant_message_references_audio_by_id_and_keeps_tool_calls():
    spoken = _message(audio={"id": "audio_9", "data": "", "expires_at": 1, "transcript": "hello"})
    assert assistant_message(spoken) == {"role": "assistant", "audio": {"id": "audio_9"}}
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
    calling = _message(tool_calls=[call])
    assert assistant_message(calling) == {"role": "assistant", "tool_calls": [call]}
    assert tool_result_message("call_1", {"t": 1}) == {"role": "tool", "tool_call_id": "call_1", "content": json.dumps({"t": 1})}


def _chunk(delta: dict, finish: str | None = None) -> ChatCompletionChunk:
    return ChatCompletionChunk.model_validate({
        "id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })


def test_collect_stream_joins_audio_transcript_and_tool_calls(sine_clip):
    pcm = sine_clip.resample(24_000).to_pcm16_bytes()
    half = len(pcm) // 4 * 2
    chunks = [
        _chunk({"role": "assistant"}),
        _chunk({"audio": {"id": "audio_5", "transcript": "Hel"}}),
        _chunk({"audio": {"id": "audio_5", "data": base64.b64encode(pcm[:half]).decode()}}),
        _chunk({"audio": {"id": "audio_5", "transcript": "lo."}}),
        _chunk({"audio": {"id": "audio_5", "data": base64.b64encode(pcm[half:]).decode()}}),
        _chunk({"tool_calls": [{"index": 0, "id": "call_7", "type": "function", "function": {"name": "f", "arguments": ""}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a": 1}'}}]}),
        _chunk({}, "stop"),
    ]
    heard: list[Clip] = []
    reply = collect_stream(chunks, on_audio=heard.append)
    assert reply.transcript == "Hello." and reply.audio_id == "audio_5" and reply.audio_chunks == 2
    assert [c.n_frames for c in heard] == [half // 2, (len(pcm) - half) // 2]
    assert reply.audio is not None and reply.audio.to_pcm16_bytes() == pcm
    assert reply.tool_calls == {0: {"id": "call_7", "name": "f", "arguments": '{"a": 1}'}}
    assert reply.finish_reason == "stop"
