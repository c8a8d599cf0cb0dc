"""The stand-in's request guards (voicekit.standin.access.guards) on a real server.

Origin and Host allow-lists on HTTP and on WebSocket handshakes, the body-size
cap (413 on a big ``Content-Length`` and on a big chunked body, the server
answering after), and the Realtime per-event cap (an ``error`` event, the
session going on).
"""

from __future__ import annotations

import base64
import json
import socket
from typing import Any

import httpx
import pytest
import websockets.sync.client as ws_client
from openai import OpenAI
from openai.types.realtime import RealtimeErrorEvent
from websockets.exceptions import InvalidStatus

from voicekit.standin.access.guards import (
    MAX_JSON_BODY_BYTES,
    MAX_MULTIPART_BODY_BYTES,
    MAX_WS_EVENT_BYTES,
    Guards,
)

MODEL = "gpt-realtime-mini"


def _error(body: bytes | str) -> dict[str, Any]:
    err = json.loads(body)["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    return dict(err)


def _ws_url(server: Any, path: str = "/v1/realtime?model=gpt-realtime-mini") -> str:
    return f"ws://{server.host}:{server.port}{path}"


# -- the rules, without a server ------------------------------------------------------------


def test_rules_loopback_and_configured_names() -> None:
    g = Guards(None, allowed_hosts=["hub.example.org"], allowed_origins=["https://hub.example.org"])  # type: ignore[arg-type]
    for host in ("127.0.0.1:8000", "localhost", "[::1]:9", "hub.example.org", "HUB.example.org:443", None):
        assert g.host_allowed(host), host
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.evil.example", "[::2]:80"):
        assert not g.host_allowed(host), host
    for origin in (None, "http://127.0.0.1:8888", "http://localhost:8888", "https://hub.example.org/", "http://[::1]:1"):
        assert g.origin_allowed(origin, "127.0.0.1:8000"), origin
    for origin in ("https://evil.example", "null", "file://", "http://localhost.evil.example"):
        assert not g.origin_allowed(origin, "127.0.0.1:8000"), origin
    assert g.origin_allowed("https://other.example.org", "other.example.org")  # same origin as the Host
    assert not g.origin_allowed("https://other.example.org", "hub.example.org")


def test_env_lists_add_to_the_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_ALLOWED_HOSTS", "a.example, b.example")
    monkeypatch.setenv("VOICEKIT_ALLOWED_ORIGINS", "https://c.example")
    g = Guards(None)  # type: ignore[arg-type]
    assert g.host_allowed("b.example:8000") and not g.host_allowed("c.example")
    assert g.origin_allowed("https://c.example", "127.0.0.1") and not g.origin_allowed("https://a.example", "127.0.0.1")


# -- HTTP -----------------------------------------------------------------------------------


def test_http_foreign_origin_refused_loopback_allowed(standin_server: Any) -> None:
    url = f"{standin_server.base_url}/models"
    r = httpx.get(url, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and _error(r.content)["code"] == "invalid_origin"
    assert "access-control-allow-origin" not in r.headers
    r = httpx.post(f"{standin_server.base_url}/chat/completions", content=b"{}",
                   headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})  # a "simple" CORS request
    assert r.status_code == 403
    for origin in ("http://127.0.0.1:8888", "http://localhost:8888"):
        r = httpx.get(url, headers={"Origin": origin})
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    assert httpx.get(url).status_code == 200


def test_http_foreign_host_refused(standin_server: Any) -> None:
    url = f"{standin_server.base_url}/models"
    r = httpx.get(url, headers={"Host": "evil.example:8000"})
    assert r.status_code == 400 and _error(r.content)["code"] == "invalid_host"
    assert httpx.get(url, headers={"Host": f"localhost:{standin_server.port}"}).status_code == 200


def _raw_http(server: Any, head: bytes, chunks: int = 0, first: bytes = b"") -> bytes:
    """Send ``head``, ``first`` as a chunk, then up to ``chunks`` 1 MiB chunks (chunked encoding); the answer."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(head + (b"%x\r\n%s\r\n" % (len(first), first) if first else b""))
        piece = b"%x\r\n%s\r\n" % (1 << 20, b"x" * (1 << 20))
        try:
            for _ in range(chunks):
                s.sendall(piece)
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the server answered (and closed, or stopped reading) before the body ended
        s.settimeout(30)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
                if b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1].rstrip().endswith(b"}"):
                    break
        except ConnectionResetError:
            pass
        return data


def test_big_content_length_gets_413_before_the_body(standin_server: Any) -> None:
    head = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % (100 * 1024 * 1024))
    answer = _raw_http(standin_server, head)  # no body byte is ever sent
    status, body = answer.split(b"\r\n", 1)[0], answer.split(b"\r\n\r\n", 1)[1]
    assert b" 413 " in status, answer[:200]
    assert _error(body)["code"] == "request_too_large"


_FILE_PART = b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'


@pytest.mark.parametrize(("path", "ctype", "cap"), [
    ("/v1/chat/completions", "application/json", MAX_JSON_BODY_BYTES),
    ("/v1/audio/transcriptions", "multipart/form-data; boundary=x", MAX_MULTIPART_BODY_BYTES),  # a file part
])
def test_big_chunked_body_gets_413_and_the_server_stays_up(standin_server: Any, client: OpenAI, path: str,
                                                           ctype: str, cap: int) -> None:
    head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" % (path.encode(), ctype.encode()))
    first = _FILE_PART if ctype.startswith("multipart") else b""
    answer = _raw_http(standin_server, head, chunks=cap // (1 << 20) + 2, first=first)
    assert b" 413 " in answer.split(b"\r\n", 1)[0], answer[:200]
    assert _error(answer.split(b"\r\n\r\n", 1)[1])["code"] == "request_too_large"
    assert client.models.list().data  # still answering


# -- WebSocket ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/realtime?model=gpt-realtime-mini", "/v1/responses"])
def test_websocket_foreign_origin_refused(standin_server: Any, path: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        ws_client.connect(_ws_url(standin_server, path), origin="https://evil.example")  # type: ignore[arg-type]
    assert info.value.response.status_code == 403
    assert _error(info.value.response.body or b"")["code"] == "invalid_origin"


def test_websocket_foreign_host_refused(standin_server: Any) -> None:
    head = (b"GET /v1/realtime?model=gpt-realtime-mini HTTP/1.1\r\nHost: evil.example\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    answer = _raw_http(standin_server, head)
    assert b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]
    assert _error(answer.split(b"\r\n\r\n", 1)[1])["code"] == "invalid_host"


@pytest.mark.parametrize("origin", [None, "http://127.0.0.1:8888", "http://localhost:8888"])
def test_websocket_loopback_or_no_origin_allowed(standin_server: Any, origin: str | None) -> None:
    with ws_client.connect(_ws_url(standin_server), origin=origin) as ws:  # type: ignore[arg-type]
        assert json.loads(ws.recv(timeout=30))["type"] == "session.created"


def test_oversized_realtime_event_gets_an_error_and_the_session_goes_on(client: OpenAI) -> None:
    audio = base64.b64encode(bytes(MAX_WS_EVENT_BYTES * 3 // 4 + 3)).decode()  # just over 15 MiB of base64
    with client.realtime.connect(model=MODEL) as conn:
        assert json.loads(conn.recv_bytes())["type"] == "session.created"
        conn.send({"type": "input_audio_buffer.append", "audio": audio})
        event = json.loads(conn.recv_bytes())
        err = RealtimeErrorEvent.model_validate(event, strict=True)
        assert err.error.code == "event_too_large"
        conn.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})
        conn.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}})
        conn.send({"type": "response.create", "response": {"max_output_tokens": 8}})
        kinds = []
        while not kinds or kinds[-1] not in ("response.done", "error"):
            kinds.append(json.loads(conn.recv_bytes())["type"])
        assert kinds[-1] == "response.done", kinds


def test_oversized_live_event_gets_an_error_and_the_session_goes_on(standin_server: Any) -> None:
    from openai.types.live import ServerEvent
    from pydantic import TypeAdapter

    events = TypeAdapter(ServerEvent)
    big = json.dumps({"type": "session.input_audio.append", "audio": "A" * (MAX_WS_EVENT_BYTES + 16)})
    with ws_client.connect(_ws_url(standin_server, "/v1/live/sessions")) as ws:
        ws.send(big)
        err = json.loads(ws.recv(timeout=30))
        assert err["type"] == "error" and err["error"]["code"] == "event_too_large", err
        events.validate_python(err)
        ws.send(json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}}))
        event = json.loads(ws.recv(timeout=30))
        while event["type"] != "session.started":
            assert event["type"] != "error", event
            event = json.loads(ws.recv(timeout=30))
