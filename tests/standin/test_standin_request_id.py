"""Issue 24, defect 5: an ``x-request-id`` on every stand-in response, as OpenAI sends, which the SDK exposes."""

from __future__ import annotations

import re

import openai
import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse

from voicekit.standin.app import create_app

REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")


def test_the_sdk_sees_a_request_id_on_answers_and_errors(client):
    first = client.models.retrieve("whisper-1")
    second = client.models.retrieve("whisper-1")
    assert REQUEST_ID.match(first._request_id or "") and first._request_id != second._request_id
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-nothing")
    assert REQUEST_ID.match(info.value.request_id or "")
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert REQUEST_ID.match(bad.value.request_id or "")


def test_a_streamed_reply_carries_a_request_id(client):
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], max_completion_tokens=2, stream=True,
    ) as response:
        assert REQUEST_ID.match(response.headers.get("x-request-id", ""))


def test_refusals_by_the_guards_and_unexpected_failures_carry_one():
    """The 500 of an unexpected exception is sent outside every middleware; it gets the id too."""
    app = create_app(lambda: object())  # type: ignore[arg-type,return-value]  # engines with nothing in them
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as http:
        failed = http.post("/v1/audio/speech", json={"model": "tts-1", "voice": "alloy", "input": "Hi"})
        assert failed.status_code == 500 and REQUEST_ID.match(failed.headers["x-request-id"])
        refused = http.get("/v1/models", headers={"host": "elsewhere.example"})
        assert refused.json()["error"]["code"] == "invalid_host" and REQUEST_ID.match(refused.headers["x-request-id"])
        with pytest.raises(WebSocketDenialResponse) as denied:
            http.websocket_connect("/v1/nothing", headers={"host": "127.0.0.1"}).__enter__()
        assert denied.value.status_code == 404 and REQUEST_ID.match(denied.value.headers["x-request-id"])


def test_a_websocket_handshake_carries_one(standin_server):
    from websockets.sync.client import connect

    url = standin_server.base_url.replace("http", "ws", 1) + "/realtime?model=gpt-realtime-mini"
    with connect(url) as ws:
        assert REQUEST_ID.match(ws.response.headers.get("x-request-id", ""))
