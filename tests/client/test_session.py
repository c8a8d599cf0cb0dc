"""voicekit.session: the one session model, tested with voicekit.testing's scripted server.

No stand-in here: the server side is a :class:`voicekit.testing.ScriptedServer`, whose
events are validated with the SDK's own server event models.
"""

from __future__ import annotations

import base64
import time
from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from voicekit.audio import Clip
from voicekit.errors import ClosedError, NotStartedError, RealtimeError
from voicekit.live import LiveSession
from voicekit.realtime import Captions, RealtimeSession
from voicekit.session import ConnectedSession, VoiceSession
from voicekit.testing import ScriptedServer
from voicekit.widgets import Player

OFFLINE = OpenAI(api_key="not-used", base_url="http://127.0.0.1:9/v1")  # never connected to


def _realtime_server() -> ScriptedServer:
    server = ScriptedServer("realtime", on_open=[{"type": "session.created", "event_id": "e0", "session": {
        "type": "realtime", "id": "sess_fake", "model": "gpt-realtime-mini"}}])
    merged: dict[str, Any] = {"type": "realtime", "id": "sess_fake"}

    def updated(event: dict[str, Any]) -> list[dict[str, Any]]:
        merged.update(event["session"])
        return [{"type": "session.updated", "event_id": "e1", "session": dict(merged)}]

    server.on("session.update", updated)
    return server


def _appends(server: ScriptedServer) -> list[dict[str, Any]]:
    return [e for e in server.received if e["type"] == "input_audio_buffer.append"]


def test_every_session_and_agent_shares_the_one_base() -> None:
    from voicekit.agents import CascadedAgent, RealtimeAgent

    for cls in (RealtimeSession, Captions, LiveSession):
        assert issubclass(cls, ConnectedSession)
    for cls in (RealtimeSession, Captions, LiveSession, CascadedAgent, RealtimeAgent):
        for name in ("attach", "detach", "start", "close", "__exit__"):
            assert getattr(cls, name) is getattr(VoiceSession, name), (cls, name)


def test_start_is_idempotent_and_configures_once() -> None:
    server = _realtime_server()
    with RealtimeSession(OFFLINE, transport=server.transport()) as rt:
        session = rt.start({"instructions": "Be brief."})
        assert session["instructions"] == "Be brief." and session["audio"]["input"]["transcription"]["model"]
        assert rt.start() == rt.session and server.connections == 1
        assert rt.conversation_id == "sess_fake"
    assert rt.closed and not rt.connected
    with pytest.raises(ClosedError, match="this RealtimeSession was closed by close()"):
        rt.send({"type": "input_audio_buffer.clear"})


def test_nothing_is_sent_before_start() -> None:
    rt = RealtimeSession(OFFLINE, transport=_realtime_server().transport())
    with pytest.raises(NotStartedError, match="not started yet"):
        rt.send_clip(Clip(np.zeros(2400, np.int16), 24_000))
    rt.close()


@pytest.mark.parametrize("realtime", [False, True])
def test_send_clip_streams_padded_chunks_and_returns_the_turns(realtime: bool) -> None:
    server = _realtime_server()
    with RealtimeSession(OFFLINE, transport=server.transport()) as rt:
        rt.start({"audio": {"input": {"turn_detection": None}}})
        clip = Clip(np.ones(16_000, np.int16), 16_000)  # 1 s at 16 kHz: resampled to 24 kHz
        sent = rt.send_clip(clip, chunk_ms=250, realtime=realtime, pad_ms=0)
        assert sent.result(10) == []  # manual turns: the clip starts none
        appends = _appends(server)
        assert len(appends) == 4
        assert sum(len(base64.b64decode(e["audio"])) for e in appends) == 2 * 24_000
        spread = rt.events[-1].t - next(e.t for e in rt.events if e.type == "input_audio_buffer.append")
        assert (spread > 0.6) is realtime  # paced: 750 ms between the first and the last chunk


def test_barge_in_clears_the_player_and_truncates_to_what_was_heard() -> None:
    server = _realtime_server()
    player = Player()
    with RealtimeSession(OFFLINE, player=player, transport=server.transport()) as rt:
        rt.start()
        reply = base64.b64encode(np.zeros(24_000, "<i2").tobytes()).decode()  # 1 s of reply audio
        server.push({"type": "response.created", "event_id": "e2", "response": {
            "id": "resp_1", "object": "realtime.response", "status": "in_progress", "output": []}})
        server.push({"type": "response.output_audio.delta", "event_id": "e3", "response_id": "resp_1",
                     "item_id": "item_a", "output_index": 0, "content_index": 0, "delta": reply})
        rt.wait_for("response.output_audio.delta", since=0, timeout=5)
        server.push({"type": "input_audio_buffer.speech_started", "event_id": "e4", "audio_start_ms": 0,
                     "item_id": "item_u"})
        rt.wait_for("input_audio_buffer.speech_started", since=0, timeout=5)
        rt.send({"type": "input_audio_buffer.clear"}).result(5)  # sent after the truncate queued before it
        truncate = next(e for e in server.received if e["type"] == "conversation.item.truncate")
        assert truncate["item_id"] == "item_a" and 0 <= truncate["audio_end_ms"] < 1000
        assert player.duration_ms == 0


def test_a_sideband_carries_no_audio_but_every_event() -> None:
    """The WebRTC case: media on the peer, events on the sideband."""
    server = _realtime_server()
    with RealtimeSession(OFFLINE, transport=server.transport(carries_audio=False)) as rt:
        rt.start()
        with pytest.raises(RealtimeError, match="sideband"):
            rt.send_audio(Clip(np.zeros(2400, np.int16), 24_000))
        rt.update({"instructions": "Hi."})
        assert rt.session["instructions"] == "Hi."


def test_live_session_starts_with_the_model_in_the_session() -> None:
    server = ScriptedServer("live")
    server.on("session.start", lambda e: [{"type": "session.started", "event_id": "e1", "session": {
        "id": "sess_live", "model": e["session"]["model"], "expires_at": 0, "status": "active"}}])
    with LiveSession(OFFLINE, transport=server.transport()) as live:
        session = live.start({"instructions": "Hello."})
        assert session["model"] == "gpt-live-1" and server.received[0]["session"]["instructions"] == "Hello."
        assert live.start() == session and server.connections == 1


def test_a_realtime_agent_is_a_voice_session_over_its_realtime_session() -> None:
    from voicekit.agents import RealtimeAgent

    server = _realtime_server()
    agent = RealtimeAgent(OFFLINE, instructions="Be brief.", transport=server.transport())
    session = agent.start()
    assert session["instructions"] == "Be brief." and session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert agent.start() == agent.session.session and server.connections == 1
    agent.close()
    assert agent.session.closed and not agent.connected
    with pytest.raises(ClosedError, match="this RealtimeAgent was closed"):
        agent.send_clip(Clip(np.zeros(2400, np.int16), 24_000))


def test_send_clip_with_vad_returns_the_turn_it_started_once_answered() -> None:
    """The server's VAD ends the turn in the padding; the Future waits for response.done."""
    server = _realtime_server()
    appends = 0

    def vad(event: dict[str, Any]) -> list[dict[str, Any]]:
        nonlocal appends
        appends += 1
        if appends == 1:
            return [{"type": "input_audio_buffer.speech_started", "event_id": "v1", "audio_start_ms": 0,
                     "item_id": "item_u"}]
        if appends == 12:  # 1.2 s in: the speech ended, the silence window ran out
            response = {"id": "resp_1", "object": "realtime.response", "output": []}
            return [{"type": "input_audio_buffer.speech_stopped", "event_id": "v2", "audio_end_ms": 700,
                     "item_id": "item_u"},
                    {"type": "input_audio_buffer.committed", "event_id": "v3", "item_id": "item_u"},
                    {"type": "response.created", "event_id": "v4", "response": {**response, "status": "in_progress"}},
                    {"type": "response.done", "event_id": "v5", "response": {**response, "status": "completed"}}]
        return []

    server.on("input_audio_buffer.append", vad)
    with RealtimeSession(OFFLINE, transport=server.transport()) as rt:
        rt.start({"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}})
        turns = rt.send_clip(Clip(np.zeros(12_000, np.int16), 24_000), realtime=False).result(10)
        assert [(t.user_item_id, t.status, t.speech_end_ms) for t in turns] == [("item_u", "completed", 700)]
        assert appends == 15  # 500 ms of clip, then 500 ms silence window + 500 ms, in 100 ms chunks


def test_captions_transcribe_waits_for_the_committed_segment() -> None:
    server = ScriptedServer("realtime", on_open=[{"type": "session.created", "event_id": "e0", "session": {
        "type": "transcription", "id": "sess_cap"}}])
    server.on("session.update", lambda e: [{"type": "session.updated", "event_id": "e1", "session": {
        **e["session"], "id": "sess_cap"}}])
    server.on("input_audio_buffer.commit", lambda e: [
        {"type": "input_audio_buffer.committed", "event_id": "e2", "item_id": "item_1"},
        {"type": "conversation.item.input_audio_transcription.delta", "event_id": "e3", "item_id": "item_1",
         "content_index": 0, "delta": "hello"},
        {"type": "conversation.item.input_audio_transcription.completed", "event_id": "e4", "item_id": "item_1",
         "content_index": 0, "transcript": "hello", "usage": {"type": "duration", "seconds": 1.0}}])
    with Captions(OFFLINE, turn_detection=None, transport=server.transport()) as cap:
        assert cap.start()["type"] == "transcription"
        segment = cap.transcribe(Clip(np.zeros(4800, np.int16), 24_000), timeout=10)
        assert segment.text == "hello" and cap.text == "hello" and cap.conversation_id == "sess_cap"
        assert [e["type"] for e in server.received][-1] == "input_audio_buffer.commit"


def test_a_talk_button_of_a_closed_session_says_so_in_the_widget() -> None:
    """The 04 fault's other widget: step 5's button stayed wired to the RealtimeSession
    that a re-run of its cell closed; holding it raised a ClosedError into the log only.
    Now the button is disabled with the reason, and a press still shows the error."""
    server = _realtime_server()
    rt = RealtimeSession(OFFLINE, transport=server.transport())
    rt.start()
    button = rt.push_to_talk(timeout=5)
    assert not button.disabled and not button.error
    rt.close()
    assert button.disabled and "RealtimeSession was closed" in button.error and "push_to_talk()" in button.error
    button.error = ""
    button.press()  # a press anyway (the page may not have greyed it out yet): said in the widget
    assert "RealtimeSession was closed" in button.error


def test_every_turn_type_records_its_tool_calls_the_same_way() -> None:
    """One spelling, one meaning: ``turn.tool_calls`` holds the same record type on a
    Realtime, a GPT-Live and a cascaded turn, read as ``c.name`` (05) or ``c["name"]``
    (04, 06), with the output the model got where the kit ran the tool."""
    from voicekit.agents import Toolbox, ToolCallRecord
    from voicekit.live.turns import LiveBook

    def get_weather(city: str) -> str:
        """The weather in a city.

        Parameters
        ----------
        city : str
            Its name.
        """
        return f"Sunny in {city}."

    server = _realtime_server()
    done = {"id": "resp_1", "object": "realtime.response", "status": "completed", "output": [
        {"type": "function_call", "id": "item_f", "name": "get_weather", "call_id": "call_1",
         "arguments": '{"city": "Paris"}'}]}
    with RealtimeSession(OFFLINE, functions={"get_weather": get_weather}, transport=server.transport()) as rt:
        rt.start()
        rt.send_text("Weather in Paris?", respond=False)
        server.push({"type": "response.created", "event_id": "e5", "response": {**done, "status": "in_progress",
                                                                                 "output": []}})
        server.push({"type": "response.done", "event_id": "e6", "response": done})
        rt.wait_for("response.done", since=0, timeout=5)
        deadline = time.monotonic() + 5
        while not any(e["type"] == "response.create" for e in server.received):
            assert time.monotonic() < deadline, "the tool's answer was not sent"
            time.sleep(0.05)
        realtime_call = rt.turns[0].tool_calls[0]
    live = LiveBook()
    live.input_delta({"type": "session.input_transcript.delta", "delta": "Weather in Paris?", "start_ms": 0,
                      "end_ms": 900})
    live_call = live.delegation("del_1").tool_calls[0]
    cascaded_call = Toolbox([get_weather]).run("get_weather", '{"city": "Paris"}', "call_9")
    for call in (realtime_call, live_call, cascaded_call):
        assert isinstance(call, ToolCallRecord), type(call)
        assert call["name"] == call.name and call["call_id"] == call.call_id and call["arguments"] == call.arguments
    assert (realtime_call.name, realtime_call.call_id, realtime_call.output, realtime_call.ok) == (
        "get_weather", "call_1", "Sunny in Paris.", True)
    assert (live_call.name, live_call.call_id, live_call.arguments) == ("delegation", "del_1", "Weather in Paris?")
    assert cascaded_call.output == "Sunny in Paris." and cascaded_call.ok
