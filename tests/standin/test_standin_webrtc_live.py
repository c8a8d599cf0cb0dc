"""GPT-Live over WebRTC on the stand-in: ``client.live.create`` with an aiortc client peer, the sideband.

Split from ``test_standin_webrtc.py`` (its helpers are imported from there): a session
created with the peer's offer, the sideband attached before the peer connects (both
sides' audio reflected, ``session.start`` refused on the data channel, the reply heard on
the track against its transcript, hangup), one sideband at a time, and a client
delegation answered from the sideband. Every event is validated with ``openai.types.live``.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import time
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.live import ConnectServerEvent
from pydantic import TypeAdapter
from test_standin_webrtc import _heard_is_said, _run, _speech

from voicekit.webrtc.peer import RATE, ClientPeer, voiced_seconds

pytestmark = pytest.mark.timeout(240)

LIVE_EVENT = TypeAdapter(ConnectServerEvent)

# -- GPT-Live ----------------------------------------------------------------------------------

def test_live_webrtc_session_with_a_sideband(standin_server: Any, client: OpenAI) -> None:
    async def body(aclient: AsyncOpenAI) -> None:
        peer = ClientPeer()
        offer = await peer.offer()
        created = await aclient.live.create(session={"model": "gpt-live-1",
                                                     "instructions": "Answer in one short sentence."},
                                            transport={"type": "webrtc", "sdp": offer})
        session_id = created.session.id
        side_events: list[dict[str, Any]] = []
        async with aclient.live.sideband.connect(session_id=session_id) as sideband:
            await peer.accept(created.transport.sdp)  # the browser connects after the sideband attached
            first = await sideband.recv()
            assert first.type == "session.started"
            started = await peer.wait("session.started", 30)
            assert started["session"]["id"] == session_id
            peer.send({"type": "session.start", "session": {"model": "gpt-live-1"}})
            err = await peer.wait("error", 10)
            assert err["error"]["code"] == "session_already_started"
            peer.mic.say(_speech())
            async for event in sideband:
                data = event.model_dump(mode="json", exclude_unset=True)
                LIVE_EVENT.validate_python(data)
                side_events.append(data)
                if event.type == "session.usage.updated" and any(  # the model has finished its turn
                        e["type"] == "session.output_transcript.delta" for e in side_events):
                    break
            await asyncio.sleep(1)  # the track plays its last frames
            # the reply heard on the track is the reply spoken, all of it
            said = "".join(e["delta"] for e in side_events if e["type"] == "session.output_transcript.delta")
            heard = peer.audio_since(peer.mic.sent_until or 0)
            await asyncio.to_thread(_heard_is_said, client, said, heard)
            await aclient.live.sessions.hangup(session_id)
            async for event in sideband:
                if event.type == "session.closed":
                    assert event.reason == "remote_hangup"
                    break
        for event in peer.events:
            LIVE_EVENT.validate_python(event)
        types = [e["type"] for e in side_events]
        assert "session.input_transcript.delta" in types and "session.output_audio.delta" in types
        assert "session.output_audio.delta" not in [e["type"] for e in peer.events]
        # the sideband gets both sides' audio reflected (openai.types.live): the output with its place on the
        # timeline ("required on reflected sideband events"), the microphone as session.input_audio.append
        # server events (PCM16 24 kHz, no event_id); the page's data channel gets neither
        reflected_out = [e for e in side_events if e["type"] == "session.output_audio.delta"]
        assert all(0 <= e["start_ms"] < e["end_ms"] for e in reflected_out), reflected_out[:3]
        assert all(a["end_ms"] <= b["start_ms"] + 1 for a, b in itertools.pairwise(reflected_out))
        reflected_in = [e for e in side_events if e["type"] == "session.input_audio.append"]
        assert reflected_in and all(set(e) == {"type", "audio"} for e in reflected_in)
        mic = np.concatenate([np.frombuffer(base64.b64decode(e["audio"]), "<i2") for e in reflected_in])
        said = _speech()
        assert mic.size >= 0.9 * said.size, f"{mic.size / 24_000:.2f} s reflected of {said.size / 24_000:.2f} s said"
        assert voiced_seconds(np.repeat(mic, RATE // 24_000)) > 1.0  # the recording, not silence
        assert "session.input_audio.append" not in [e["type"] for e in peer.events]
        await peer.close()

    _run(standin_server, body)


def test_live_sideband_refuses_unknown_sessions_and_a_second_attach(standin_server: Any) -> None:
    async def body(aclient: AsyncOpenAI) -> None:
        async with aclient.live.sideband.connect(session_id="sess_nope") as sideband:
            event = await sideband.recv()
            assert event.type == "error" and event.error.code == "session_not_found"
        peer = ClientPeer()
        created = await aclient.live.create(session={"model": "gpt-live-1"},
                                            transport={"type": "webrtc", "sdp": await peer.offer()})
        async with (aclient.live.sideband.connect(session_id=created.session.id),
                    aclient.live.sideband.connect(session_id=created.session.id) as second):
            event = await second.recv()
            assert event.type == "error" and event.error.code == "sideband_already_attached"
        await aclient.live.sessions.hangup(created.session.id)
        await peer.close()

    _run(standin_server, body)


def test_live_client_delegation_is_answered_from_the_sideband(standin_server: Any) -> None:
    from voicekit.samples import load_sample

    robot = ("You are the voice of a small robot. Delegate every request to move the robot forward, back, left "
             "or right to the backend.")
    request = load_sample("goforward_16k_s16le.raw").to_mono().resample(24_000).to_int16().samples.reshape(-1)

    async def body(aclient: AsyncOpenAI) -> None:
        peer = ClientPeer()
        created = await aclient.live.create(session={
            "model": "gpt-live-1", "instructions": robot, "delegation": {"type": "client", "acknowledgement_delay_ms": 0}},
            transport={"type": "webrtc", "sdp": await peer.offer()})
        async with aclient.live.sideband.connect(session_id=created.session.id) as sideband:
            await peer.accept(created.transport.sdp)
            await peer.wait("session.started", 30)
            peer.mic.say(request)
            delegation = None
            async for event in sideband:
                LIVE_EVENT.validate_python(event.model_dump(mode="json", exclude_unset=True))
                if event.type == "session.delegation.created":
                    delegation = event.delegation
                    break
            assert delegation is not None and delegation.target == "client"
            mark = len(peer.events)
            await sideband.send({"type": "session.commentary.append", "event_id": "result", "delegation_id": delegation.id,
                                 "content": "The robot moved ten meters forward and stopped."})
            appended = None
            async for event in sideband:
                if event.type == "session.commentary.appended":
                    appended = event
                if event.type == "session.output_transcript.delta" and appended is not None:
                    break
            assert appended is not None and appended.client_event_id == "result"
            t = time.monotonic()
            said = await peer.wait("session.output_transcript.delta", 60, after=mark)  # the page sees the result spoken
            assert said["delta"].strip()
            await asyncio.sleep(2)
            assert voiced_seconds(peer.audio_since(t)) > 0.3  # and hears it
            await aclient.live.sessions.hangup(created.session.id)
        await peer.close()

    _run(standin_server, body)
