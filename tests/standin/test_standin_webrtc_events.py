"""Events too large for a WebRTC data channel: the call goes on (an aiortc client peer, no browser).

A data channel takes messages up to the remote peer's SDP ``a=max-message-size``
(aiortc and Chromium offer 262,144 bytes). ``conversation.item.retrieved`` carries
the item's audio as base64 in JSON, so a user item longer than about 4 s does not
fit. aiortc refuses such a message with ``ValueError``; before, that exception ended
the session's sender task, and the call went silent: no more events on any link, and
no reply audio on the track (the track is fed from the same sender). OpenAI's Agents
SDK for JavaScript retrieves every user item after its transcript, so its calls
stalled after any turn of more than about 4 s (``tests/browser/test_agents_js_webrtc.py``).
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI
from test_standin_realtime import check_event
from test_standin_webrtc import _realtime_call, _run, _speech

pytestmark = pytest.mark.timeout(240)


def test_an_item_too_large_for_the_data_channel_comes_without_its_audio_and_the_call_goes_on(
        standin_server: Any) -> None:
    async def body(aclient: AsyncOpenAI) -> None:
        peer, call_id = await _realtime_call(aclient, {
            "type": "realtime", "model": "gpt-realtime-mini", "instructions": "Answer in one short sentence.",
            "audio": {"input": {"turn_detection": None}}})
        await peer.wait("session.created", 30)
        speech = _speech()
        peer.mic.say(np.concatenate([speech, speech, speech]))  # about 10 s: 640 KB of base64 audio in JSON
        while peer.mic.pending.size:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        peer.send({"type": "input_audio_buffer.commit"})
        item_id = (await peer.wait("input_audio_buffer.committed", 30))["item_id"]
        peer.send({"type": "conversation.item.retrieve", "item_id": item_id})
        retrieved = await peer.wait("conversation.item.retrieved", 30)
        check_event(retrieved)
        part = retrieved["item"]["content"][0]
        assert retrieved["item"]["id"] == item_id and part["type"] == "input_audio"
        assert part.get("audio") is None  # the bytes do not fit the channel; the item does
        peer.send({"type": "response.create"})  # the call goes on: a reply, heard on the track
        done = await peer.wait("response.done", 120)
        assert done["response"]["status"] == "completed"
        await peer.wait("output_audio_buffer.stopped", 60)
        await aclient.realtime.calls.hangup(call_id)
        await peer.close()

    _run(standin_server, body)
