"""MetricsTable rows for a Realtime call over WebRTC, measured on the kernel's sideband.

A real stand-in call: an aiortc peer (``voicekit.webrtc.peer.KernelPeer``) in the place of
the page plays a real recording, the kernel answers and joins on the sideband
(``carries_audio=False``). The rows hold what the sideband's events tell: voice-to-voice
to ``output_audio_buffer.started``, the VAD window, the user's audio seconds, the tool,
the tokens. The reply's seconds stay None ("–"): its audio went to the peer, never to
the kernel (``voicekit.agents.realtime_metrics``).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import soundfile as sf
import soxr
from conftest import heard_in_full, said_at_48k
from openai import OpenAI

from voicekit.samples import sample_path
from voicekit.webrtc import Call
from voicekit.webrtc.peer import KernelPeer
from voicekit.widgets import MetricsTable

pytestmark = pytest.mark.timeout(300)

WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _speech(name: str = "ls_0880.wav") -> np.ndarray:
    pcm, rate = sf.read(sample_path(name), dtype="int16")
    return np.clip(soxr.resample(pcm.astype(np.float32), rate, 24_000), -32768, 32767).astype(np.int16)


def test_a_realtime_webrtc_call_fills_the_metrics_table_from_its_sideband(client: OpenAI) -> None:
    table = MetricsTable()
    call = Call(client, "realtime", session={"instructions": "Use get_weather, then answer in one sentence.",
                                             "tools": [WEATHER_TOOL], "tool_choice": "required"},
                functions={"get_weather": lambda city: f"Sunny and 21 degrees in {city}."}, metrics=table)
    with call, KernelPeer() as peer:
        peer.dial(call)
        session, meter = call.session, call.meter
        assert session is not None and meter is not None and not session.transport.carries_audio
        peer.say(_speech())
        peer.wait_for_reply(timeout=180)
        spoken_at = peer.peer.mic.sent_until
        deadline = time.monotonic() + 60
        while not table.rows:
            assert time.monotonic() < deadline, "the call's turn made no MetricsTable row"
            time.sleep(0.2)
        [row] = table.rows
        [turn] = session.turns
        assert row["agent"] == "realtime" and row["status"] == "completed" and row["turn"] == 0
        assert row["conversation"] == session.conversation_id == session.session["id"]
        assert row["user"] and row["reply"] == turn.assistant_text and row["reply"]
        heard_in_full(peer.peer, spoken_at, said_at_48k(client, row["reply"]))  # the reply came over the track
        assert row["tools"].startswith("get_weather") and row["tools"] == ", ".join(c["name"] for c in turn.tool_calls)
        # voice-to-voice: speech_stopped to output_audio_buffer.started, both as the sideband got them
        stopped = next(e for e in session.events if e.type == "input_audio_buffer.speech_stopped")
        started = next(e for e in session.events if e.type == "output_audio_buffer.started")
        assert turn.t_first_audio is None and turn.t_audio_started == pytest.approx(started.t, abs=0.05)
        assert row["v2v_ms"] == pytest.approx(1000 * (started.t - stopped.t), abs=50) and row["v2v_ms"] > 0
        vad = session.turn_detection
        assert vad is not None and row["vad_silence_ms"] == vad["silence_duration_ms"]
        assert row["audio_in_s"] == pytest.approx((turn.speech_end_ms - turn.speech_start_ms) / 1000, abs=0.01)
        assert row["audio_in_s"] > 1.0
        assert row["tokens"] > 0 and row["cost_usd"] > 0
        # what only the page knows is not invented: the reply's seconds are "–"
        assert row["audio_out_s"] is None and row["stt_ms"] is None
        assert [m.row() for m in meter.metrics] == [{k: v for k, v in row.items() if k != "conversation_no"}]
        cells = table.value.split("<tbody>")[1]
        assert cells.count("<td>–</td>") >= 4  # STT, LLM TTFT, TTS TTFB, audio out



def test_a_live_webrtc_call_fills_the_metrics_table_as_the_model_finishes(client: OpenAI) -> None:
    """GPT-Live over WebRTC: the page's microphone, not a kernel ``send_clip``, makes the
    turns, so the row is added when the SDK's TranscriptGrouper closes the model's
    segment. GPT-Live's sideband gets the output audio reflected
    (``openai.types.live.OutputAudioDeltaEvent``), so voice-to-voice and the reply's
    seconds are known."""
    table = MetricsTable()
    call = Call(client, "live", session={"instructions": "Answer in one short sentence."}, metrics=table)
    with call, KernelPeer() as peer:
        peer.dial(call)
        session = call.session
        assert session is not None and call.meter is None and not session.transport.carries_audio
        peer.say(_speech())
        peer.wait_for_reply(timeout=180)
        spoken_at = peer.peer.mic.sent_until
        deadline = time.monotonic() + 60
        while not any(r["reply"] for r in table.rows):
            assert time.monotonic() < deadline, "the Live call's turn made no MetricsTable row"
            time.sleep(0.2)
        row = next(r for r in table.rows if r["reply"])
        assert row["agent"] == "live" and row["conversation"] == call.call_id and row["user"]
        assert row["v2v_ms"] is not None and row["v2v_ms"] > 0 and row["audio_out_s"] > 0.3
        assert row["cost_usd"] > 0
        heard_in_full(peer.peer, spoken_at, said_at_48k(client, row["reply"]))
