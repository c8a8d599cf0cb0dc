"""The kernel side of a WebRTC call (``voicekit.webrtc.Call``), without a browser.

A real stand-in, the unchanged SDK, and an aiortc peer in the place of the page
(``voicekit.webrtc.peer``): the peer's offer reaches the Call as the widget's message
would, the kernel answers with the project key and joins on the sideband, the peer
plays a real recording and hears the reply on its track.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import heard_in_full, said_at_48k
from openai import OpenAI

from voicekit.samples import sample_path
from voicekit.webrtc import Call
from voicekit.webrtc.peer import KernelPeer
from voicekit.widgets import EventLog, Transcript

pytestmark = pytest.mark.timeout(300)

KEY = "test-proj-voicekit-key-must-not-reach-the-page"
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _speech(name: str = "ls_0880.wav") -> np.ndarray:
    pcm, rate = sf.read(sample_path(name), dtype="int16")
    return np.clip(soxr.resample(pcm.astype(np.float32), rate, 24_000), -32768, 32767).astype(np.int16)


@pytest.fixture
def keyed(standin_server: Any) -> Any:
    with OpenAI(base_url=standin_server.base_url, api_key=KEY, max_retries=0) as c:
        yield c


class _Page:
    """Records every message the kernel sends to the page, and hands the peer the answer."""

    def __init__(self, call: Call, peer: KernelPeer) -> None:
        self.sent: list[dict[str, Any]] = []
        self.peer = peer
        call.widget.send = self._send  # type: ignore[method-assign]

    def _send(self, content: dict[str, Any], buffers: Any = None) -> None:
        self.sent.append(content)
        if content.get("type") == "answer":
            self.peer._run(self.peer.peer.accept(content["sdp"]))


def test_a_realtime_call_from_the_page_runs_a_tool_in_the_kernel_and_the_key_stays_out(keyed: OpenAI) -> None:
    ran: list[dict[str, Any]] = []

    def get_weather(city: str) -> str:
        ran.append({"city": city, "at": time.monotonic()})
        return f"Sunny and 21 degrees in {city}."

    transcript, log = Transcript(), EventLog()
    call = Call(keyed, "realtime", session={"instructions": "Use get_weather, then answer in one sentence.",
                                            "tools": [WEATHER_TOOL], "tool_choice": "required"},
                functions={"get_weather": get_weather}, transcript=transcript, event_log=log)
    with call, KernelPeer() as peer:
        page = _Page(call, peer)
        offer = peer._run(peer.peer.offer())
        call.widget._on_msg(call.widget, {"type": "offer", "sdp": offer}, [])  # the page's message
        assert call.widget.error == "", call.widget.error
        assert [m["type"] for m in page.sent] == ["answer"]
        session = call.session
        assert session is not None and not session._transport.carries_audio
        peer.say(_speech())
        peer.wait_for_reply(timeout=180)
        assert ran, "the tool did not run in the kernel"
        said = session.wait_for("response.output_audio_transcript.done", since=0, timeout=120).data["transcript"]
        heard_in_full(peer.peer, peer.peer.mic.sent_until, said_at_48k(keyed, said))
        # the sideband fed the session's record and widgets as a WebSocket would
        types = [e.type for e in session.events]
        assert "response.function_call_arguments.done" in types and "response.output_audio.delta" not in types
        assert any(e["type"] == "function_call_output" for e in _items_sent(session))
        assert session.turns and session.turns[0].tool_calls
        # nothing the kernel sent to the page, nor the widget's state, holds the key
        assert KEY not in json.dumps(page.sent) and KEY not in json.dumps(call.widget.get_state(), default=str)
        call_id = call.call_id
        call.widget._on_msg(call.widget, {"type": "hangup"}, [])
        assert call.call_id is None and session.lifecycle.closed and call_id


def _items_sent(session: Any) -> list[dict[str, Any]]:
    return [e.data["item"] for e in session.events
            if e.source == "client" and e.type == "conversation.item.create"]


def test_a_second_call_hangs_up_the_first(keyed: OpenAI) -> None:
    call = Call(keyed, "realtime", session={"instructions": "Answer in one short sentence."})
    with call, KernelPeer() as first, KernelPeer() as second:
        first.dial(call)
        assert call.widget.state == "connected" and "peer in the kernel" in call.widget.note  # shown in the page
        old = call.session
        first_id = call.call_id
        second.dial(call)
        assert old is not None and old.lifecycle.closed
        assert call.call_id != first_id and call.calls == 2
        call.hangup()
        assert call.widget.state == "ended" and "waits for a click" in call.widget.note
        deadline = time.monotonic() + 10
        while first.peer.pc.connectionState not in ("closed", "failed") and not first.peer.closed.is_set():
            assert time.monotonic() < deadline, "the first call's peer was not hung up"
            time.sleep(0.1)


def test_an_ephemeral_key_call_joins_the_sideband(keyed: OpenAI) -> None:
    call = Call(keyed, "realtime", ephemeral=True, session={"instructions": "Answer in one short sentence."})
    with call, KernelPeer() as peer:
        sent: list[dict[str, Any]] = []
        call.widget.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
        call.widget._on_msg(call.widget, {"type": "need_key"}, [])
        assert sent[0]["type"] == "key" and sent[0]["value"].startswith("ek_") and KEY not in json.dumps(sent)
        assert sent[0]["url"].endswith("/realtime/calls")
        peer.dial(call)
        assert call.session is not None and call.call_id is not None and call.call_id.startswith("rtc_")
        peer.say(_speech())
        peer.wait_for_reply(timeout=180)
        said = call.session.wait_for("response.output_audio_transcript.done", since=0, timeout=120).data["transcript"]
        # all of the reply came over the track: as much speech as the same words in the same voice
        heard_in_full(peer.peer, peer.peer.mic.sent_until, said_at_48k(keyed, said))


def test_a_live_call_with_its_sideband(keyed: OpenAI) -> None:
    transcript = Transcript()
    call = Call(keyed, "live", session={"instructions": "Answer in one short sentence."}, transcript=transcript)
    with pytest.raises(ValueError, match="no ephemeral"):
        Call(keyed, "live", ephemeral=True)
    with call, KernelPeer() as peer:
        peer.dial(call)
        session = call.session
        assert session is not None and session.session.get("id") == call.call_id
        peer.say(_speech())
        peer.wait_for_reply(timeout=180)  # then 1.5 s without a sound: the reply's words are written
        said = " ".join(line["text"] for line in transcript.lines if line["role"] == "assistant")
        assert said.strip(), transcript.lines
        heard_in_full(peer.peer, peer.peer.mic.sent_until, said_at_48k(keyed, said))
        types = [e.type for e in session.events]
        assert "session.started" in types and "session.input_transcript.delta" in types
        assert all(e.type != "session.start" for e in session.events if e.source == "client")
    assert session.lifecycle.closed
