"""``GET /v1/models``: the model names the stand-in answers to.

The names come from the SDK's own ``Literal`` types
(``openai.types.AudioModel``, ``openai.types.audio.SpeechModel``,
``openai.types.ChatModel``, the ``model`` field of
``openai.types.realtime.RealtimeSessionCreateRequest`` and that of GPT-Live's
``openai.types.live.SessionConfig``), so they
follow the installed SDK instead of a copied list. Chat, Realtime and Live entries
also say which LLM answers them (:data:`LLM_FIELD`).
"""

from __future__ import annotations

import time
import typing

from openai.types import ChatModel
from openai.types.audio.speech_model import SpeechModel
from openai.types.audio_model import AudioModel
from openai.types.live import SessionConfig
from openai.types.realtime import RealtimeSessionCreateRequest
from openai.types.shared import ResponsesModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import model_not_found

__all__ = ["BEAM_SIZES", "CHAT_MODELS", "LIVE_MODELS", "LLM_FIELD", "OWNED_BY", "REALTIME_MODELS",
           "REALTIME_TRANSLATION_MODELS", "RESPONSES_MODELS", "SPEECH_MODELS", "TRANSCRIPTION_MODELS", "TRANSLATION_MODELS", "routes"]

OWNED_BY = "voicekit-standin"
TRANSCRIPTION_MODELS: tuple[str, ...] = typing.get_args(AudioModel)
TRANSLATION_MODELS: tuple[str, ...] = ("whisper-1",)  # OpenAI translates with whisper-1 only
SPEECH_MODELS: tuple[str, ...] = typing.get_args(SpeechModel)
CHAT_MODELS: tuple[str, ...] = typing.get_args(ChatModel)
REALTIME_MODELS: tuple[str, ...] = tuple(
    name
    for arg in typing.get_args(RealtimeSessionCreateRequest.model_fields["model"].annotation)
    for name in typing.get_args(arg)
    if isinstance(name, str)
)
LIVE_MODELS: tuple[str, ...] = tuple(
    name
    for arg in typing.get_args(SessionConfig.model_fields["model"].annotation)
    for name in typing.get_args(arg)
    if isinstance(name, str)
)
RESPONSES_MODELS: frozenset[str] = frozenset(
    name for arg in typing.get_args(ResponsesModel) for name in typing.get_args(arg) if isinstance(name, str)
)
"""Model names the Responses API answers to (``POST /v1/responses``, and a GPT-Live session's
Responses delegation): the string literals of the SDK's ``ResponsesModel``."""
REALTIME_TRANSLATION_MODELS: tuple[str, ...] = ("gpt-realtime-translate",)
"""The Realtime translation API's model (``client.realtime.translations.connect(model=...)``; the SDK
types it as a plain ``str``, so the name is OpenAI's guide's, not a Literal's)."""
_CREATED = int(time.time())
_TEXT_MODELS = frozenset(CHAT_MODELS) | frozenset(REALTIME_MODELS) | frozenset(LIVE_MODELS)

LLM_FIELD = "voicekit_llm"
"""Extra field of every chat, Realtime and Live model entry: which LLM writes its text, e.g.
``"SmolLM2-135M-Instruct.Q4_1.gguf (local, llama.cpp)"`` or ``"llama3.2 at http://127.0.0.1:11434/v1
(upstream, tools: native)"`` (the SDK keeps it in ``Model.model_extra``)."""


def all_models() -> list[str]:
    return sorted(set(TRANSCRIPTION_MODELS) | set(SPEECH_MODELS) | set(CHAT_MODELS) | set(REALTIME_MODELS)
                  | set(LIVE_MODELS) | set(REALTIME_TRANSLATION_MODELS))


def _llm_description(request: Request) -> str | None:
    """Which LLM writes the text (``engines.llm.description``), or None for test doubles without one."""
    llm = getattr(getattr(request.app.state, "engines", None), "llm", None)
    return getattr(llm, "description", getattr(llm, "name", None))


def _model(model_id: str, llm: str | None) -> dict[str, object]:
    entry: dict[str, object] = {"id": model_id, "object": "model", "created": _CREATED, "owned_by": OWNED_BY}
    if llm is not None and model_id in _TEXT_MODELS:
        entry[LLM_FIELD] = llm
    return entry


async def list_models(request: Request) -> JSONResponse:
    llm = _llm_description(request)
    return JSONResponse({"object": "list", "data": [_model(m, llm) for m in all_models()]})


async def retrieve_model(request: Request) -> JSONResponse:
    model_id = request.path_params["model"]
    if model_id not in all_models():
        raise model_not_found(model_id)
    return JSONResponse(_model(model_id, _llm_description(request)))


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
]


BEAM_SIZES: dict[str, int] = {"gpt-4o-mini-transcribe": 1}
"""Whisper beam width per model (default: the engine's 5). ``gpt-4o-mini-transcribe``,
the fast model, decodes greedily as Realtime turns do: RTF 0.11 instead of 0.16 on 2
cores, the same WER (6.2%) on the recordings of ``../shared/audio``."""
