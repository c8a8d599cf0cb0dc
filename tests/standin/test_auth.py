"""Token authentication (``voicekit.standin.access.auth``): OpenAI's 401s on HTTP and on the WebSocket handshake.

One stand-in with a token (real engines) serves the module; one more, started by
``voicekit serve --host 0.0.0.0`` without a token, checks the generated token.
Every request goes through 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from voicekit.standin import StandinServer
from voicekit.standin.server import free_port

TOKEN = "vk-standin-test-token-0123456789abcdef"
MODEL = "gpt-realtime-mini"


@pytest.fixture(scope="module")
def secured() -> Iterator[StandinServer]:
    with StandinServer(token=TOKEN) as server:
        yield server


def test_wrong_key_gets_openais_401(secured: StandinServer) -> None:
    with (OpenAI(base_url=secured.base_url, api_key="sk-not-the-token-1234", max_retries=0) as bad,
          pytest.raises(openai.AuthenticationError) as info):
        bad.models.list()
    assert info.value.status_code == 401
    body = info.value.body
    assert isinstance(body, dict) and body["code"] == "invalid_api_key" and body["type"] == "invalid_request_error"
    assert body["message"].startswith("Incorrect API key provided: sk-") and "1234" in body["message"]
    assert "not-the-token" not in body["message"]  # masked, as OpenAI does
    assert TOKEN not in str(body)


def test_missing_key_gets_openais_401(secured: StandinServer) -> None:
    for path in ("/models", "/audio/speech"):
        resp = httpx.get(secured.base_url + path)
        assert resp.status_code == 401
        err = resp.json()["error"]
        assert err["message"].startswith("You didn't provide an API key.") and err["type"] == "invalid_request_error"
    resp = httpx.get(secured.base_url + "/models", headers={"Authorization": "Basic abc"})
    assert resp.status_code == 401


def test_right_token_works_and_status_names_the_llm(secured: StandinServer) -> None:
    with OpenAI(base_url=secured.base_url, api_key=TOKEN, max_retries=0) as good:
        assert any(m.id == "gpt-4o-mini-transcribe" for m in good.models.list())
    status = httpx.get(secured.base_url + "/voicekit/status", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert status["pid"] == os.getpid() and status["llm"]
    assert TOKEN not in str(status)


def test_websocket_handshake_refused_with_401(secured: StandinServer) -> None:
    async def connect(key: str) -> None:
        async with (AsyncOpenAI(base_url=secured.base_url, api_key=key, max_retries=0) as c,
                    c.realtime.connect(model=MODEL)):
            pass

    with pytest.raises(Exception) as info:
        asyncio.run(connect("sk-wrong-key-000000000"))
    response = getattr(info.value, "response", None)  # websockets' InvalidStatus carries the HTTP answer
    assert response is not None and response.status_code == 401, repr(info.value)
    assert b'"invalid_api_key"' in response.body


def test_realtime_turn_with_the_token(secured: StandinServer) -> None:
    async def turn() -> list[str]:
        types: list[str] = []
        async with (AsyncOpenAI(base_url=secured.base_url, api_key=TOKEN, max_retries=0) as c,
                    c.realtime.connect(model=MODEL) as conn):
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]})
            await conn.response.create()
            async for event in conn:
                types.append(event.type)
                if event.type in ("response.done", "error"):
                    break
        return types

    types = asyncio.run(asyncio.wait_for(turn(), 120))
    assert types[0] == "session.created" and types[-1] == "response.done" and "error" not in types


def test_beyond_loopback_without_token_generates_and_enforces_one(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICEKIT_TOKEN"))}
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path)
    # Binds every address, but the test only ever connects through 127.0.0.1.
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicekit", "serve", "--host", "0.0.0.0", "--port", str(port), "--log-level", "warning"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, env=env, text=True,
    )
    try:
        assert proc.stderr is not None
        lines = []
        token = None
        deadline = time.monotonic() + 60
        while token is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, f"voicekit serve exited ({proc.poll()}): {''.join(lines)}"
            lines.append(line)
            m = re.search(r"OPENAI_API_KEY=(vk-standin-\S+)", line)
            token = m.group(1) if m else None
        assert token is not None, "".join(lines)
        base_url = f"http://127.0.0.1:{port}/v1"
        deadline = time.monotonic() + 120
        while True:
            try:
                resp = httpx.get(base_url + "/models")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.2)
        assert resp.status_code == 401
        assert httpx.get(base_url + "/models", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert not list(tmp_path.glob("voicekit-standin-*.json"))  # not registered beyond loopback
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if proc.stderr is not None:
            rest = proc.stderr.read()
            assert token is None or token not in rest  # printed once only
            proc.stderr.close()


def test_webrtc_calls_and_sidebands_need_the_token(secured: StandinServer) -> None:
    """Issue 21 item 7: a call, a hangup or a sideband with a wrong or missing token gets 401; CORS is
    answered on /v1/realtime/calls only for the ephemeral-key form."""
    base, wrong = secured.base_url, "vk-wrong-token-0000000000"
    offer = "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    page = {"Content-Type": "application/sdp", "Origin": "http://127.0.0.1:8888"}
    for headers in ({}, {"Authorization": f"Bearer {wrong}"}):
        for path in ("/realtime/calls", "/realtime/calls/rtc_x/hangup", "/live/sessions/sess_x/hangup"):
            r = httpx.post(base + path, content=offer, headers={**page, **headers})
            assert r.status_code == 401, (path, r.status_code)
            assert "access-control-allow-origin" not in r.headers
    with OpenAI(base_url=base, api_key=wrong, max_retries=0) as bad, pytest.raises(openai.AuthenticationError):
        bad.realtime.calls.create(sdp=offer, session={"type": "realtime", "model": MODEL})  # type: ignore[arg-type]

    async def attach(url_call: str) -> None:
        async with AsyncOpenAI(base_url=base, api_key=wrong, max_retries=0) as c:
            if url_call.startswith("rtc_"):
                async with c.realtime.connect(call_id=url_call):
                    pass
            else:
                async with c.live.sideband.connect(session_id=url_call):
                    pass

    for target in ("rtc_x", "sess_x"):
        with pytest.raises(Exception) as info:
            asyncio.run(attach(target))
        response = getattr(info.value, "response", None)
        assert response is not None and response.status_code == 401, (target, repr(info.value))
    # the project token's form gets no CORS (a page never holds it); an ephemeral key's does
    r = httpx.post(base + "/realtime/calls", content="hello", headers={**page, "Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers
    with OpenAI(base_url=base, api_key=TOKEN, max_retries=0) as good:
        key = good.realtime.client_secrets.create().value
    r = httpx.post(base + "/realtime/calls", content="hello", headers={**page, "Authorization": f"Bearer {key}"})
    assert r.status_code == 400 and r.headers["access-control-allow-origin"] == "http://127.0.0.1:8888"
