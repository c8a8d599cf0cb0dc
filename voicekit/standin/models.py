"""``GET /v1/models``: the model names the stand-in answers to.

The names come from the SDK's own ``Literal`` types
(``openai.types.AudioModel``, ``openai.types.audio.SpeechModel``,
``openai.types.ChatModel``, the ``model`` field of
``openai.types.realtime.RealtimeSessionCreateRequest`` and that of GPT-Live's
``openai.types.live.SessionConfig``), so they
follow the installed SDK instead of a copied list.
"""

from __future__ import annotations

import time
import typing

from openai.types import ChatModel
from openai.types.audio.speech_model import SpeechModel
from openai.types.audio_model import AudioModel
from openai.types.live import SessionConfig
from openai.types.realtime import RealtimeSessionCreateRequest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .errors import model_not_found

__all__ = ["CHAT_MODELS", "LIVE_MODELS", "OWNED_BY", "REALTIME_MODELS", "SPEECH_MODELS", "TRANSCRIPTION_MODELS", "TRANSLATION_MODELS", "routes"]

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
_CREATED = int(time.time())


def all_models() -> list[str]:
    return sorted(set(TRANSCRIPTION_MODELS) | set(SPEECH_MODELS) | set(CHAT_MODELS) | set(REALTIME_MODELS)
                  | set(LIVE_MODELS))


def _model(model_id: str) -> dict[str, object]:
    return {"id": model_id, "object": "model", "created": _CREATED, "owned_by": OWNED_BY}


async def list_models(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": [_model(m) for m in all_models()]})


async def retrieve_model(request: Request) -> JSONResponse:
    model_id = request.path_params["model"]
    if model_id not in all_models():
        raise model_not_found(model_id)
    return JSONResponse(_model(model_id))


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{model:path}", retrieve_model, methods=["GET"]),
]
