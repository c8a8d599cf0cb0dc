"""Every client event a session sends is checked with the SDK's own model first (session.client_events)."""

from __future__ import annotations

import pytest
from openai import OpenAI

from voicekit.live import LiveSession
from voicekit.realtime import RealtimeSession
from voicekit.session.client_events import LIVE, REALTIME, check_client_event
from voicekit.testing import ScriptedServer

OFFLINE = OpenAI(api_key="not-used", base_url="http://127.0.0.1:9/v1")  # never connected to


def _realtime_server() -> ScriptedServer:
    server = ScriptedServer("realtime", on_open=[{"type": "session.created", "event_id": "e0", "session": {
        "type": "realtime", "id": "sess_fake", "model": "gpt-realtime-mini"}}])
    server.on("session.update", lambda e: [{"type": "session.updated", "event_id": "e1",
                                           "session": {"type": "realtime", "id": "sess_fake", **e["session"]}}])
    return server


@pytest.mark.parametrize(("event", "names"), [
    ({"type": "session.update", "session": {"type": "realtime", "instrucions": "Be brief."}}, "instrucions"),
    ({"type": "response.create", "response": {"max_output_tokens": "5"}}, "max_output_tokens"),
    ({"type": "conversation.item.create", "item": {"type": "function_call_output", "output": "sunny"}}, "call_id"),
    ({"type": "response.creat"}, "response.creat"),
])
def test_a_realtime_event_the_sdk_refuses_is_not_sent(event, names):
    server = _realtime_server()
    with RealtimeSession(OFFLINE, transport=server.transport()) as rt:
        rt.start()
        sent = len(server.received)
        with pytest.raises(ValueError, match=names.replace(".", r"\.")):
            rt.send(event)
        rt.send({"type": "response.cancel"}).result(5)
        assert [e["type"] for e in server.received[sent:]] == ["response.cancel"]


def test_what_the_session_itself_sends_passes_the_check():
    server = _realtime_server()
    with RealtimeSession(OFFLINE, transport=server.transport()) as rt:
        rt.start({"instructions": "Be brief.", "audio": {"input": {"turn_detection": None}}})
        rt.update({"tools": [{"type": "function", "name": "get_weather", "description": "Weather.",
                              "parameters": {"type": "object", "properties": {}}}]})
    for event in server.received:
        check_client_event(REALTIME, event)


def test_a_live_event_the_sdk_refuses_is_not_sent():
    server = ScriptedServer("live")
    server.on("session.start", lambda e: [{"type": "session.started", "event_id": "e1", "session": {
        "id": "sess_live", "model": e["session"]["model"], "expires_at": 0, "status": "active"}}])
    with LiveSession(OFFLINE, transport=server.transport()) as live:
        live.start({"instructions": "Hello."})
        sent = len(server.received)
        with pytest.raises(ValueError, match="conversation.item.create"):
            live.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                                                                     "content": []}})  # Realtime's, not Live's
        assert len(server.received) == sent
    for event in server.received:
        check_client_event(LIVE, event)
