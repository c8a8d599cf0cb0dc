"""LiveTurn.latency_ms on one clock: the server's session timeline, whatever the pace of the
input and whichever side sends it. A :class:`voicekit.testing.ScriptedServer` places the
user's speech and the reply on the timeline; no stand-in, no engine."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from openai import OpenAI

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.live import LiveSession
from voicekit.testing import ScriptedServer

OFFLINE = OpenAI(api_key="not-used", base_url="http://127.0.0.1:9/v1")  # never connected to

SPEECH_END_MS = 2000
REPLY_START_MS = 2350
BEEP = Clip(np.full(2400, 1000, np.int16), REALTIME_SAMPLE_RATE).to_realtime_base64()


def _live_server() -> ScriptedServer:
    server = ScriptedServer("live")
    session = {"id": "sess_live", "model": "gpt-live-1", "expires_at": 0, "status": "active"}
    server.on("session.start", lambda e: [{"type": "session.started", "event_id": "e0", "session": session}])
    server.on("session.close", lambda e: [{"type": "session.closed", "event_id": "e9", "reason": "close_requested",
                                           "session": session, "usage": {"seconds": 3.0}}])
    return server


def _user_then_reply(audio: dict[str, Any]) -> list[dict[str, Any]]:
    """The user's speech ends at 2000 ms; the model's reply starts at 2350 ms on the timeline.
    The audio delta comes before the transcript of it, as audio leads its text."""
    return [
        {"type": "session.input_transcript.delta", "event_id": "e1", "delta": "What time is it?",
         "start_ms": 300, "end_ms": SPEECH_END_MS},
        {"type": "session.output_audio.delta", "event_id": "e2", "delta": BEEP, **audio},
        {"type": "session.output_transcript.delta", "event_id": "e3", "delta": "It is noon.",
         "start_ms": REPLY_START_MS, "end_ms": REPLY_START_MS + 900},
    ]


def test_a_recording_sent_faster_than_real_time_is_measured_on_the_session_timeline() -> None:
    """3 s of input arrive in a few ms of the client's clock: the timeline runs ahead of it.
    Subtracting the timeline's 2000 ms from the client's receipt time gave about -2000 ms."""
    server = _live_server()
    received = {"ms": 0.0}

    def heard(event: dict[str, Any]) -> list[dict[str, Any]]:
        before = received["ms"]
        received["ms"] += 1000.0 * Clip.from_base64_pcm16(event["audio"]).samples.size / REALTIME_SAMPLE_RATE
        return _user_then_reply({}) if before < SPEECH_END_MS + 400 <= received["ms"] else []

    server.on("session.input_audio.append", heard)
    with LiveSession(OFFLINE, transport=server.transport()) as live:
        live.start()
        clip = Clip(np.zeros(2 * REALTIME_SAMPLE_RATE, np.int16), REALTIME_SAMPLE_RATE)
        (turn,) = live.send_clip(clip, realtime=False, pad_ms=1000).result(10)
        assert turn.latency_ms == pytest.approx(REPLY_START_MS - SPEECH_END_MS)
        (row,) = live.metrics
        assert row.voice_to_voice_ms == pytest.approx(350.0)
        assert turn.reply_start_ms == REPLY_START_MS
        assert turn.first_audio_ms is not None and turn.first_audio_ms < SPEECH_END_MS  # the client's clock


def test_a_sideband_measures_from_the_reflected_audio_timeline() -> None:
    """On a WebRTC call's sideband the page sends the audio and the kernel receives the reply
    reflected, with its place on the timeline; the kernel's receipt clock does not count."""
    server = _live_server()
    with LiveSession(OFFLINE, transport=server.transport(carries_audio=False)) as live:
        live.start()
        mark = live.mark()
        for event in _user_then_reply({"start_ms": REPLY_START_MS - 20, "end_ms": REPLY_START_MS + 80})[:2]:
            server.push(event)
        live.wait_for("session.output_audio.delta", since=mark, timeout=10)
        (turn,) = live.turns
        assert turn.latency_ms == pytest.approx(330.0)
        assert turn.reply_start_ms == REPLY_START_MS - 20
