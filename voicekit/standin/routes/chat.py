"""``POST /v1/chat/completions``: a local LLM that hears and speaks.

Request and response shapes follow the SDK's ``completion_create_params`` and
``openai.types.chat`` models (``ChatCompletion``, ``ChatCompletionChunk``) and
OpenAI's "Audio and speech" guide:

- ``input_audio`` content parts (base64 ``wav`` or ``mp3``) are transcribed by
  the stand-in's Whisper, and the model reads the transcript.
- ``modalities=["text", "audio"]`` with ``audio={"voice", "format"}`` returns
  ``message.audio = {id, data, expires_at, transcript}``; ``content`` is null,
  as OpenAI answers. Formats: wav, mp3, flac, opus, aac and pcm16 (raw 24 kHz
  mono PCM16). Piper speaks the transcript, in the voice's variant (see
  :mod:`.speech`).
- ``stream=true`` sends ``chat.completion.chunk`` server-sent events, ending
  with ``data: [DONE]``. Streamed audio must be ``pcm16`` (as with OpenAI); it
  arrives as ``delta.audio`` pieces: transcript text as the model writes it,
  and base64 PCM16 sentence by sentence as Piper speaks it, so audio starts
  before the reply is finished.
- Audio ids are remembered for an hour (``expires_at``), so a later request
  may hold ``{"role": "assistant", "audio": {"id": ...}}`` in its history.
- ``tools`` / ``tool_choice`` use constrained decoding (see :mod:`.llm`).
- Request checks and input-audio transcription live in :mod:`._chat_input`; this
  module builds the answers (whole or streamed).

How the stand-in differs from OpenAI
------------------------------------
- The model is SmolLM2-135M: it follows short instructions, but knows little
  and is often wrong. Every chat model name answers with it.
- It does not hear tone or emotion: only Whisper's transcript reaches it.
- ``temperature`` defaults to 0.2 (OpenAI: 1.0); only ``n=1`` is served.
- Usage: text tokens are the model's real token counts (the tool decision pass
  included); audio tokens are 50 per second of audio in and out.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionAudio,
    ChatCompletionChunk,
)
from openai.types.completion_usage import (
    CompletionTokensDetails,
    CompletionUsage,
    PromptTokensDetails,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines, audio_tokens
from ..engines.llm import ContextLengthError, LLMUsage, ToolCall
from ..engines.scheduling import ClosingStreamingResponse
from ..engines.synthesis import synthesize_pcm
from ..errors import OpenAIError, UpstreamError
from ._chat_input import (
    AUDIO_OUTPUT_FORMATS,
    INPUT_AUDIO_FORMATS,
    AudioStore,
    ChatRequest,
    parse_chat_request,
)
from ._upload import sse
from ._wire import dump

__all__ = ["AUDIO_OUTPUT_FORMATS", "INPUT_AUDIO_FORMATS", "AudioStore", "routes"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
"""A sentence ends at . ! or ? followed by whitespace, or at a line break. Text that
ends in "3." is not split yet: the next token may be "5"."""


def _store(request: Request) -> AudioStore:
    state = request.app.state
    if not hasattr(state, "audio_store"):
        state.audio_store = AudioStore()
    store: AudioStore = state.audio_store
    return store


# -- responses -----------------------------------------------------------------


def _usage(req: ChatRequest, llm: LLMUsage, audio_out_s: float) -> CompletionUsage:
    audio_in = audio_tokens(req.input_audio_s) if req.input_audio_s else 0
    audio_out = audio_tokens(audio_out_s) if audio_out_s else 0
    prompt = llm.prompt_tokens + audio_in
    completion = llm.completion_tokens + audio_out
    return CompletionUsage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        prompt_tokens_details=PromptTokensDetails(audio_tokens=audio_in, cached_tokens=llm.cached_tokens),
        completion_tokens_details=CompletionTokensDetails(audio_tokens=audio_out, reasoning_tokens=0),
    )


def _call_id() -> str:
    return "call_" + secrets.token_hex(12)


def _speak(engines: Engines, text: str, voice: str) -> np.ndarray:
    """Piper speaking ``text`` at 24 kHz; an empty reply is 100 ms of silence (every codec can hold that)."""
    parts = (list(synthesize_pcm(engines.tts, text, voice=voice, sample_rate=REALTIME_SAMPLE_RATE, opening=True))
             if text.strip() else [])
    return np.concatenate(parts) if parts else np.zeros(REALTIME_SAMPLE_RATE // 10, np.int16)


def _too_long(exc: ContextLengthError) -> OpenAIError:
    return OpenAIError(400, f"This model's maximum context length was exceeded: {exc}", param="messages", code="context_length_exceeded")


def _complete(req: ChatRequest, engines: Engines, store: AudioStore) -> dict[str, Any]:
    llm = LLMUsage()
    text, calls = [], []
    try:
        for event in engines.llm.respond(
            req.turns, tools=req.tools, tool_choice=req.tool_choice, max_tokens=req.max_tokens,
            temperature=req.temperature, seed=req.seed, usage=llm, options=req.options,
        ):
            if isinstance(event, ToolCall):
                calls.append({"id": _call_id(), "type": "function", "function": {"name": event.name, "arguments": event.arguments}})
            else:
                text.append(event.text)
    except ContextLengthError as exc:
        raise _too_long(exc) from exc
    reply = "".join(text).strip()
    message: dict[str, Any] = {"role": "assistant", "content": reply if not calls else None}
    audio_s = 0.0
    if calls:
        message["tool_calls"] = calls
    elif req.audio_out is not None:
        pcm = _speak(engines, reply, req.audio_out["voice"])
        audio_s = pcm.size / REALTIME_SAMPLE_RATE
        fmt = req.audio_out["format"]
        data = pcm.astype("<i2").tobytes() if fmt == "pcm16" else Clip(pcm, REALTIME_SAMPLE_RATE).encode(fmt)  # type: ignore[arg-type]
        audio_id, expires_at = store.add(reply)
        message["content"] = None
        message["audio"] = ChatCompletionAudio(
            id=audio_id, data=base64.b64encode(data).decode(), expires_at=expires_at, transcript=reply
        ).model_dump()
    completion = ChatCompletion.model_validate({
        "id": "chatcmpl-" + secrets.token_hex(12),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": req.model,
        "choices": [{"index": 0, "message": message, "finish_reason": llm.finish_reason, "logprobs": None}],
        "usage": _usage(req, llm, audio_s).model_dump(),
    })
    return dump(completion)


def _sentences(buffer: str) -> tuple[list[str], str]:
    """Split off the complete sentences of ``buffer``; returns ``(sentences, rest)``."""
    out = []
    while m := _SENTENCE_END.search(buffer):
        head, buffer = buffer[: m.start()].strip(), buffer[m.end():]
        if head:
            out.append(head)
    return out, buffer


def _chunks(req: ChatRequest, engines: Engines, store: AudioStore) -> Iterator[bytes]:
    """The server-sent events of a streamed completion (sync; Starlette runs it in a thread)."""
    cid = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        c = ChatCompletionChunk.model_validate({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        })
        return sse(json.dumps(dump(c)))

    llm = LLMUsage()
    stop = threading.Event()
    audio_id, expires_at = ("", 0)
    audio_samples = 0
    if req.audio_out is not None:
        audio_id, expires_at = store.add("")  # the id is announced first; the transcript is stored at the end
    yield chunk({"role": "assistant", "content": None if req.audio_out else ""})
    pending = ""
    transcript: list[str] = []
    n_calls = 0

    def speak(sentence: str) -> Iterator[bytes]:
        nonlocal audio_samples
        assert req.audio_out is not None
        for pcm in synthesize_pcm(engines.tts, sentence, voice=req.audio_out["voice"], sample_rate=REALTIME_SAMPLE_RATE,
                                  opening=audio_samples == 0):  # the reply's first sentence goes first (.scheduling)
            audio_samples += pcm.size
            yield chunk({"audio": {"id": audio_id, "data": base64.b64encode(pcm.astype("<i2").tobytes()).decode()}})

    try:
        for event in engines.llm.respond(
            req.turns, tools=req.tools, tool_choice=req.tool_choice, max_tokens=req.max_tokens,
            temperature=req.temperature, seed=req.seed, usage=llm, stop=stop, options=req.options,
        ):
            if isinstance(event, ToolCall):  # an upstream LLM may make several calls
                yield chunk({"tool_calls": [{"index": n_calls, "id": _call_id(), "type": "function", "function": {"name": event.name, "arguments": ""}}]})
                yield chunk({"tool_calls": [{"index": n_calls, "function": {"arguments": event.arguments}}]})
                n_calls += 1
                continue
            if req.audio_out is None:
                yield chunk({"content": event.text})
                continue
            transcript.append(event.text)
            yield chunk({"audio": {"id": audio_id, "transcript": event.text}})
            sentences, pending = _sentences(pending + event.text)
            for sentence in sentences:
                yield from speak(sentence)
        if req.audio_out is not None:
            if pending.strip():
                yield from speak(pending.strip())
            store.set_transcript(audio_id, "".join(transcript).strip())
            yield chunk({"audio": {"id": audio_id, "expires_at": expires_at}})
        yield chunk({}, llm.finish_reason)
        if req.include_usage:
            usage = _usage(req, llm, audio_samples / REALTIME_SAMPLE_RATE)
            final = ChatCompletionChunk.model_validate({
                "id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
                "choices": [], "usage": usage.model_dump(),
            })
            yield sse(json.dumps(dump(final)))
        yield sse("[DONE]")
    except (ContextLengthError, UpstreamError) as exc:
        # Mid-stream errors travel as an ``error`` event, which the SDK raises as ``openai.APIError``.
        err = exc if isinstance(exc, UpstreamError) else _too_long(exc)
        yield sse(json.dumps({"error": {"message": err.message, "type": err.type, "param": err.param, "code": err.code}}))
    finally:
        stop.set()


async def create_chat_completion(request: Request) -> Response:
    try:
        raw = await request.json()
    except ValueError as exc:
        raise OpenAIError(400, f"expected a JSON body: {exc}", code="invalid_json") from exc
    engines: Engines = request.app.state.engines
    store = _store(request)
    req = await run_in_threadpool(parse_chat_request, raw, engines, store)  # transcribes input audio
    if req.stream:
        # closed when the client goes away, which stops the LLM (see .scheduling)
        return ClosingStreamingResponse(_chunks(req, engines, store), media_type="text/event-stream")
    return JSONResponse(await run_in_threadpool(_complete, req, engines, store))


routes = [Route("/v1/chat/completions", create_chat_completion, methods=["POST"])]
