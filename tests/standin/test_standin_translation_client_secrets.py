"""Client secrets for Realtime translation (issue 23), as the API reference's
``realtime.translations.client_secrets`` defines them: ``POST
/v1/realtime/translations/client_secrets`` with the translation ``session`` (``model``,
``audio``) and ``expires_after`` mints an ``ek_`` key and returns the effective session
(``RealtimeTranslationClientSecretCreateResponse``, parsed by the unchanged SDK). The key
opens the translation WebSocket, whose session starts with the key's configuration, and
nothing else.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from openai import AuthenticationError, BadRequestError, OpenAI
from openai.types.realtime import RealtimeTranslationServerEvent
from pydantic import TypeAdapter

MODEL = "gpt-realtime-translate"
SESSION = {"model": MODEL, "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"},
                                               "noise_reduction": {"type": "near_field"}},
                                     "output": {"language": "en"}}}


def test_a_translation_client_secret_opens_a_translation_session_with_its_configuration(
        standin_server: Any, client: OpenAI) -> None:
    secret = client.realtime.translations.client_secrets.create(
        session=SESSION, expires_after={"anchor": "created_at", "seconds": 60})  # type: ignore[arg-type]
    assert secret.value.startswith("ek_") and 50 <= secret.expires_at - time.time() <= 61
    assert secret.session.type == "translation" and secret.session.model == MODEL
    assert secret.session.audio.input is not None and secret.session.audio.input.transcription is not None
    assert secret.session.audio.input.transcription.model == "gpt-4o-transcribe"
    assert secret.session.audio.input.noise_reduction is not None
    assert secret.session.audio.input.noise_reduction.strength == 1.0  # OpenAI's documented default
    with OpenAI(base_url=standin_server.base_url, api_key=secret.value, max_retries=0) as ek_client:
        with ek_client.realtime.translations.connect(model=MODEL) as conn:
            created = json.loads(conn.recv_bytes())
        TypeAdapter(RealtimeTranslationServerEvent).validate_python(created, strict=True)
        assert created["type"] == "session.created"
        assert created["session"]["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe"}
        # the key opens translation only
        with pytest.raises(AuthenticationError) as info:
            ek_client.models.list()
        assert info.value.code == "invalid_api_key" and "translation" in info.value.message
        with pytest.raises(Exception) as ws_info, ek_client.realtime.connect(model="gpt-realtime-mini") as rt:
            rt.recv()
        assert "401" in str(ws_info.value)


def test_translation_client_secrets_refuse_what_the_stand_in_cannot_do(client: OpenAI) -> None:
    with pytest.raises(BadRequestError, match="English only"):
        client.realtime.translations.client_secrets.create(
            session={"model": MODEL, "audio": {"output": {"language": "fr"}}})
    with pytest.raises(BadRequestError, match="gpt-realtime-mini"):
        client.realtime.translations.client_secrets.create(session={"model": "gpt-realtime-mini"})
    with pytest.raises(BadRequestError, match="between 10 and 7200"):
        client.realtime.translations.client_secrets.create(
            session={"model": MODEL}, expires_after={"anchor": "created_at", "seconds": 5})
    with pytest.raises(BadRequestError, match="noise_reduction"):
        client.realtime.translations.client_secrets.create(
            session={"model": MODEL, "audio": {"input": {"noise_reduction": {"type": "loud"}}}})  # type: ignore[typeddict-item]


def test_a_realtime_client_secret_does_not_open_a_translation_session(standin_server: Any, client: OpenAI) -> None:
    secret = client.realtime.client_secrets.create()
    with (OpenAI(base_url=standin_server.base_url, api_key=secret.value, max_retries=0) as ek_client,
          pytest.raises(Exception) as ws_info, ek_client.realtime.translations.connect(model=MODEL) as conn):
        conn.recv_bytes()
    assert "401" in str(ws_info.value)
