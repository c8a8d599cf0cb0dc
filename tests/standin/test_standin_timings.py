"""The stage times of a turn (``GET /v1/voicekit/timings``, voicekit.standin.timings).

Only what causality guarantees is checked (a stage after the one it needs), never how
long anything took.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openai import OpenAI
from test_standin_live import MODEL as LIVE_MODEL
from test_standin_live import LiveWire, run_live, speech
from test_standin_realtime import MODEL, Wire, pcm16, turn_audio
from test_standin_realtime import _paced as paced

from voicekit.audio import Clip
from voicekit.standin.timings import STAGES, TurnClock


def timings(client: OpenAI, session_id: str) -> list[dict[str, Any]]:
    answer: Any = client.get("/voicekit/timings", cast_to=object, options={"params": {"session_id": session_id}})
    assert answer["object"] == "list"
    return list(answer["data"])


@pytest.fixture(scope="module")
def ls_0880(shared_audio: Path) -> np.ndarray:
    return pcm16(Clip.from_file(shared_audio / "ls_0880.wav"))


WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "The current weather in a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


def _turn(client: OpenAI, pcm: np.ndarray, window_ms: int, live: bool,
          tools: list[dict[str, Any]] | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """One spoken turn; (the response.done response, the turn's timing record)."""
    with client.realtime.connect(model=MODEL) as conn:
        wire = Wire(conn)
        session_id = wire.recv()["session"]["id"]
        wire.send({"type": "session.update", "session": {"type": "realtime", "max_output_tokens": 20,
                   "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": window_ms}}},
                   **({"tools": tools} if tools else {})}})
        wire.until("session.updated")
        audio = turn_audio(pcm, tail_ms=window_ms + 300)
        if live:
            paced(wire, audio)
        else:
            wire.append(audio)
        done = wire.until("response.done")[-1]["response"]
    turns = timings(client, session_id)
    assert [t["response_id"] for t in turns] == [done["id"]]
    return done, turns[0]


def test_a_spoken_turn_reports_its_stages_in_causal_order(client: OpenAI, ls_0880: np.ndarray) -> None:
    # a 2 s window, so that speculative Whisper starts inside it even on a busy machine
    _, turn = _turn(client, ls_0880, 2000, live=True)
    after = turn["after_window_ms"]
    assert set(after) <= set(STAGES) and after["window_end"] == 0
    # whether Whisper (and so the head start) finishes inside the window depends on the load: not checked
    assert {"speech_end", "stt_start", "stt_done", "llm_first_token", "llm_first_phrase", "tts_first_chunk",
            "response_start", "first_delta_sent"} <= set(after), after
    assert after["speech_end"] <= after["stt_start"] <= after["stt_done"] <= after["llm_first_token"]
    if "head_start" in after:
        assert after["stt_done"] <= after["head_start"] <= after["llm_first_token"]
    assert after["llm_first_token"] <= after["llm_first_phrase"] <= after["tts_first_chunk"]
    assert max(after["response_start"], after["tts_first_chunk"]) <= after["first_delta_sent"]
    assert turn["after_speech_ms"]["speech_end"] == 0
    assert turn["item_id"].startswith("item_") and turn["session_id"].startswith("sess_")


def test_a_turn_with_tools_reports_its_tool_decision_pass(client: OpenAI, ls_0880: np.ndarray) -> None:
    done, turn = _turn(client, ls_0880, 500, live=False, tools=[WEATHER_TOOL])
    after = turn["after_window_ms"]
    assert {"tool_decision_start", "tool_decision_done"} <= set(after), after
    assert after["stt_done"] <= after["tool_decision_start"] <= after["tool_decision_done"]
    if done["output"][0]["type"] == "message":  # the reply comes after the decision
        assert after["tool_decision_done"] <= after["llm_first_token"] <= after["first_delta_sent"]


def test_a_turn_sent_at_once_has_no_head_start(client: OpenAI, ls_0880: np.ndarray) -> None:
    _, turn = _turn(client, ls_0880, 500, live=False)
    after = turn["after_window_ms"]
    assert "head_start" not in after  # the whole window arrived with the speech: no time to start early
    assert after["window_end"] == 0 <= after["response_start"] <= after["first_delta_sent"]


def test_a_live_turn_reports_its_stages(client: OpenAI, standin_server: Any) -> None:
    async def body(wire: LiveWire) -> str:
        wire.start_microphone()
        await asyncio.sleep(0.3)
        wire.say(speech("cards_001.wav"))
        await wire.next_of("session.output_audio.delta", 0, 120)
        session_id = str(wire.of("session.started")[0]["session"]["id"])
        await wire.close()
        return session_id

    session_id = run_live(standin_server.base_url, body, {"model": LIVE_MODEL})
    turns = timings(client, session_id)
    assert len(turns) == 1 and turns[0]["response_id"] is None  # Live has no response ids
    after = turns[0]["after_window_ms"]
    assert {"speech_end", "stt_done", "llm_first_token", "tts_first_chunk", "response_start",
            "first_delta_sent"} <= set(after), after
    assert after["speech_end"] < 0 == after["window_end"] <= after["response_start"] <= after["first_delta_sent"]
    assert after["stt_done"] <= after["llm_first_token"] <= after["tts_first_chunk"] <= after["first_delta_sent"]


def test_a_clock_keeps_the_first_mark_and_refuses_unknown_stages() -> None:
    clock = TurnClock("sess_x")
    clock.mark("window_end", 10.0)
    clock.mark("window_end", 11.0)
    clock.mark("first_delta_sent", 10.25)
    assert clock.wire()["after_window_ms"] == {"window_end": 0.0, "first_delta_sent": 250.0}
    with pytest.raises(ValueError, match="unknown stage"):
        clock.mark("lunch")
