"""Both voice agents against the real stand-in, on recordings from ``../shared/audio``."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from openai import OpenAI

from voicekit.agents.cascaded import CascadedAgent
from voicekit.agents.realtime_agent import RealtimeAgent
from voicekit.audio import Clip
from voicekit.metrics import wer
from voicekit.samples import sample_transcripts
from voicekit.widgets import MetricsTable, Player, Transcript

WEATHER_QUESTION = "What is the weather like in Paris today?"
DONE = ("completed", "incomplete")  # incomplete: the small model talked up to max_tokens


def get_weather(city: str) -> str:
    """The current weather in a city.

    Parameters
    ----------
    city : str
        The city's name, e.g. "Paris".
    """
    return f"Sunny and 21 degrees in {city}."


@pytest.fixture(scope="module")
def speech(shared_audio: Path) -> dict[str, Clip]:
    return {name: Clip.from_file(shared_audio / name) for name in ("ls_0880.wav", "ls_0890.wav", "cards_005.wav")}


@pytest.fixture(scope="module")
def question(standin_server) -> Clip:
    """The weather question, spoken by the stand-in's Speech API (real Piper audio)."""
    with OpenAI(base_url=standin_server.base_url, api_key="test-no-key") as c:
        wav = c.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input=WEATHER_QUESTION, response_format="wav")
    return Clip.from_bytes(wav.content)


@pytest.fixture
def cascaded(client: OpenAI) -> Iterator[CascadedAgent]:
    agent = CascadedAgent(client, tools=[get_weather], player=Player(), transcript=Transcript(), metrics=MetricsTable())
    yield agent
    agent.close()


def test_cascaded_multi_turn_spoken_conversation_with_a_tool_call(cascaded: CascadedAgent, speech, question) -> None:
    first = cascaded.run_turn(speech["ls_0880.wav"])
    assert first.status in DONE and first.reply_text.strip() and first.reply is not None
    assert wer(sample_transcripts()["ls_0880.wav"], first.user_text) < 0.5
    second = cascaded.run_turn(question, tool_choice="required")
    assert [c.name for c in second.tool_calls] == ["get_weather"] and second.tool_calls[0].ok
    assert "Sunny" in second.tool_calls[0].output
    assert second.status in DONE and second.reply is not None and second.reply.duration > 0.5
    # the conversation holds both turns, the call and its result, in order
    roles = [m["role"] for m in cascaded.messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "tool", "assistant"]
    assert cascaded.messages[4]["tool_calls"][0]["function"]["name"] == "get_weather"
    for turn in (first, second):
        m = turn.metrics
        assert m.stt_ms and m.llm_ttft_ms and m.tts_ttfb_ms and m.voice_to_voice_ms
        assert m.voice_to_voice_ms >= m.tts_ttfb_ms and m.vad_silence_ms == 0
        assert {u.model for u in m.usage} == {"gpt-4o-mini-transcribe", "gpt-4.1-mini", "gpt-4o-mini-tts"}
        assert m.cost_usd > 0 and m.output_audio_s == pytest.approx(turn.reply.duration)
    assert second.metrics.tool_calls == ["get_weather"]
    # widgets: a row per turn, both speakers' lines
    assert [r["turn"] for r in cascaded.metrics_table.rows] == [0, 1]
    assert "get_weather" in cascaded.metrics_table.value
    assert {(line["turn"], line["role"]) for line in cascaded.transcript.lines} == {
        (0, "user"), (0, "assistant"), (1, "user"), (1, "assistant")}
    # each turn's reply starts a new stream in the Player: the second flushed what was left of the
    # first, so replies never queue behind one another (issue 25, item 2)
    assert cascaded.player.duration_ms == pytest.approx(1000 * second.reply.duration, abs=1)


def test_cascaded_vad_ends_the_turn_and_reports_the_silence_window(cascaded: CascadedAgent, speech) -> None:
    turns = cascaded.send_clip(speech["ls_0890.wav"], realtime=False).result()
    assert len(turns) == 1
    m = turns[0].metrics
    assert turns[0].status in DONE and m.vad_silence_ms == 500
    assert wer(sample_transcripts()["ls_0890.wav"], turns[0].user_text) < 0.5
    assert 5.0 < m.input_audio_s < 6.0  # the speech and its 300 ms prefix padding, not the padding silence
    assert m.voice_to_voice_ms is not None and m.voice_to_voice_ms > 0


def test_cascaded_head_start_spoken_over_is_dropped(cascaded: CascadedAgent, speech) -> None:
    first = speech["cards_005.wav"].to_mono().resample(24_000).to_int16().samples[:80_400]  # to its last word
    second = speech["ls_0880.wav"].to_mono().resample(24_000).to_int16().samples[4_800:]  # from 200 ms in
    pause = np.zeros(3_600, np.int16)  # with the recordings' edges, a pause of about 250 ms: the head start
    # begins (after 100 ms), the turn does not end (500 ms)
    started = []
    real_speculate = cascaded._turn_taking._speculate
    cascaded._turn_taking._speculate = (  # type: ignore[method-assign]
        lambda pause_ms, fed_ms: (started.append(pause_ms), real_speculate(pause_ms, fed_ms)))
    one_utterance = Clip(np.concatenate([first, pause, second]), 24_000)
    turns = cascaded.send_clip(one_utterance, realtime=True).result()
    assert len(started) >= 2, "expected a head start at the pause between the recordings, and one at the end"
    assert len(turns) == 1 and turns[0].status in DONE
    assert 5.5 < turns[0].metrics.input_audio_s < 6.8  # both recordings and the pause, in one turn
    assert "young man" in turns[0].user_text.lower() and "of" in turns[0].user_text.lower()
    assert [m["role"] for m in cascaded.messages] == ["system", "user", "assistant"]
    assert [r["turn"] for r in cascaded.metrics_table.rows] == [0]


def test_cascaded_head_start_held_reply_counts_the_wait_when_the_microphone_lags(cascaded: CascadedAgent,
                                                                                   speech) -> None:
    """Issue 25, item 4: 05's table read voice-to-voice 0 ms. Microphone audio that reached the
    kernel late let the head start's reply be ready, and held, before the VAD saw the end of the
    silence window; the adopted reply then "arrived" at once. The wait is counted on the
    microphone's clock: from the pause's arrival plus the rest of the window."""
    cascaded.head_start = True
    pcm = speech["ls_0880.wav"].to_mono().resample(24_000).to_int16().samples
    cascaded.feed(pcm)
    cascaded.feed(np.zeros(4_800, np.int16))  # 200 ms of pause: the head start begins
    spec = cascaded._turn_taking._speculation
    assert spec is not None, "expected a head start at the pause"
    turn = spec[1]
    t_spec = time.perf_counter()
    deadline = time.monotonic() + 120
    while not turn.held and time.monotonic() < deadline:  # its first reply audio, held behind the gate
        time.sleep(0.02)
    assert turn.held, "the head start's reply audio never came"
    waited_ms = 1000 * (time.perf_counter() - t_spec)
    cascaded.feed(np.zeros(24_000, np.int16))  # the rest of the silence arrives late, all at once
    cascaded.wait(120)
    m = turn.metrics
    assert turn.status in DONE and m.vad_silence_ms == 500
    # 300 ms of the window were still to come after the head start's 200 ms of pause
    assert m.voice_to_voice_ms is not None and m.voice_to_voice_ms >= waited_ms - 300 - 50, (m, waited_ms)
    assert cascaded.metrics_table.rows[-1]["v2v_ms"] > 0


def test_cascaded_barge_in_stops_playback_and_keeps_only_what_was_spoken(cascaded: CascadedAgent, speech) -> None:
    cascaded.instructions = "Answer with a long story of at least five sentences."
    cascaded.temperature = 0.0  # greedy: the same long story every run, never a one-line answer
    silence = np.zeros(24_000, np.int16)
    cascaded.feed(speech["cards_005.wav"])
    cascaded.feed(Clip(silence, 24_000))  # the VAD ends the turn; the answer starts in the background
    turn = cascaded.turns[0]
    deadline = time.monotonic() + 60
    while not turn.reply_chunks and not turn.done.is_set() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert turn.reply_chunks and not turn.done.is_set(), "expected the answer to be speaking"
    cascaded.feed(speech["ls_0880.wav"])  # the user talks over it
    assert turn.done.wait(30) and turn.status == "interrupted"
    assert cascaded.player.clip is None or cascaded.player.duration_ms == 0
    assert cascaded.messages[2] == {"role": "assistant", "content": turn.spoken_text}
    assert turn.spoken_text and len(turn.spoken_text) <= len(turn.reply_text)
    cascaded.feed(Clip(silence, 24_000))
    cascaded.wait(60)
    assert len(cascaded.turns) == 2 and cascaded.turns[1].status in DONE


def test_text_turn_and_voice_swap(cascaded: CascadedAgent) -> None:
    a = cascaded.run_turn("Say hello.")
    cascaded.voice = "onyx"
    b = cascaded.run_turn("Say hello again.")
    assert a.metrics.stt_ms is None and a.metrics.input_audio_s is None  # typed: no audio in
    assert a.metrics.row()["audio_in_s"] is None and "<td>–</td>" in cascaded.metrics_table.value
    assert a.reply is not None and b.reply is not None
    assert not np.array_equal(a.reply.samples[:4800], b.reply.samples[:4800])


def test_reset_starts_a_new_conversation_that_overwrites_no_row(cascaded: CascadedAgent) -> None:
    before = cascaded.conversation_id
    cascaded.run_turn("Say hello.")
    cascaded.run_turn("Say goodbye.")
    cascaded.reset()
    assert cascaded.conversation_id != before and cascaded.messages == [] and cascaded.turns == []
    again = cascaded.run_turn("Say hello.")
    assert again.index == 0
    table, transcript = cascaded.metrics_table, cascaded.transcript
    assert [(r["conversation_no"], r["turn"]) for r in table.rows] == [(1, 0), (1, 1), (2, 0)]
    assert [(line["conversation"] == before, line["turn"]) for line in transcript.lines if line["role"] == "user"] == [
        (True, 0), (True, 1), (False, 0)]
    assert "--- new conversation ---" in transcript.text


@pytest.fixture
def realtime(client: OpenAI) -> Iterator[RealtimeAgent]:
    agent = RealtimeAgent(client, tools=[get_weather], player=Player(), transcript=Transcript(), metrics=MetricsTable())
    agent.start()
    yield agent
    agent.close()
    assert not any(t.name == "voicekit-realtime" and t.is_alive() for t in threading.enumerate())


def test_realtime_multi_turn_spoken_conversation_with_a_tool_call(realtime: RealtimeAgent, speech, question) -> None:
    first = realtime.run_turn(speech["ls_0880.wav"])
    assert first.status in DONE and first.reply is not None
    assert wer(sample_transcripts()["ls_0880.wav"], first.user_transcript or "") < 0.5
    second = realtime.run_turn(question, tool_choice="required")
    assert [c["name"] for c in second.tool_calls] == ["get_weather"]
    assert second.status in DONE and second.reply is not None and second.assistant_text.strip()
    assert realtime.session.session["tool_choice"] == "auto"  # forced for one turn only
    metrics = realtime.metrics
    assert [m.turn for m in metrics] == [0, 1] and metrics[1].tool_calls == ["get_weather"]
    for m in metrics:
        assert m.voice_to_voice_ms and m.vad_silence_ms == 500 and m.stt_ms is None
        assert m.tokens > 0 and m.cost_usd > 0 and m.output_audio_s > 0.3
    assert [r["turn"] for r in realtime.metrics_table.rows] == [0, 1]
    assert {line["role"] for line in realtime.session.transcript.lines} == {"user", "assistant"}


def test_a_required_tool_choice_calls_once_while_the_clip_still_streams_silence(realtime: RealtimeAgent,
                                                                                 question) -> None:
    # 3 s of silence after the question keep the socket's queue busy long after the call:
    # the follow-up response.create must not wait for a queued session.update to say "auto"
    # (06's weather cell once called get_weather twice under load)
    turn = realtime.send_clip(question, tool_choice="required", pad_ms=3000).result()[-1]
    assert [c["name"] for c in turn.tool_calls] == ["get_weather"]
    assert turn.status in DONE and turn.assistant_text.strip()
    follow_ups = [e.data for e in realtime.session.events
                  if e.source == "client" and e.type == "response.create"]
    assert follow_ups and follow_ups[-1]["response"]["tool_choice"] == "auto"
    assert realtime.session.session["tool_choice"] == "auto" and realtime.session.follow_up_tool_choice is None


def test_realtime_paced_clip(realtime: RealtimeAgent, speech) -> None:
    turn = realtime.send_clip(speech["cards_005.wav"], realtime=True).result()[-1]
    assert turn.status in DONE and turn.latency_ms is not None
    assert realtime.metrics[-1].voice_to_voice_ms == pytest.approx(turn.latency_ms)
