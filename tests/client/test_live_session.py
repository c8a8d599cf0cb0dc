"""voicekit.live.LiveSession against the real stand-in: a spoken turn, client delegation
answered by a backend with a tool, the transcript, close -> session.closed."""

from __future__ import annotations

import numpy as np
import pytest
from openai import OpenAI

from voicekit import ClosedError, load_sample
from voicekit.audio import Clip
from voicekit.live import ChatBackend, LiveSession
from voicekit.live.turns import LiveBook
from voicekit.widgets import Player, Transcript

INSTRUCTIONS = ("You are a friendly voice assistant. Answer in one short sentence. "
                "Delegate every question about the weather to the backend.")


def get_weather(city: str) -> str:
    """The current weather in a city.

    Parameters
    ----------
    city : str
        The city's name.
    """
    return f"Sunny and 21 degrees in {city}."


def test_a_spoken_turn_then_a_delegated_one_then_close(client: OpenAI) -> None:
    player, transcript = Player(), Transcript()
    backend = ChatBackend(client, tools=[get_weather], tool_choice="required")
    live = LiveSession(client, player=player, transcript=transcript, delegate=backend)
    session = live.start({"instructions": INSTRUCTIONS, "delegation": {"type": "client"}})
    assert session["model"] == "gpt-live-1" and session["id"].startswith("sess_")
    assert live.start() == session  # re-run: no second connection
    assert sum(e.type == "session.started" for e in live.events) == 1

    first = live.run_turn(load_sample("ls_0880.wav"))
    assert "young man" in first.user_text.lower(), first.user_text
    assert first.assistant_text.strip() and first.reply is not None and first.reply.duration > 0.3
    assert first.latency_ms is not None and 0 < first.latency_ms < 60_000
    assert player.clip is not None and player.clip.n_frames >= first.reply.n_frames

    # "...like in Paris today?" is a near-tie for tiny.en in this turn: "pairs" on Whisper's 15 s
    # window, "Paris" on 30 s; this wording came out "Paris" on 15, 20 and 30 s
    wav = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", response_format="wav",
                                     input="What is the weather in Paris?")
    weather = live.run_turn(Clip.from_bytes(wav.content))
    assert weather.delegation_ids and weather is not first
    # the Player holds the newest turn's reply, no backlog of older ones before it (issue 25, item 2)
    assert weather.reply is not None and player.clip is not None
    np.testing.assert_array_equal(player.clip.samples, weather.reply.samples)
    (done,) = [d for d in live.delegations if d.id in weather.delegation_ids]
    assert done.target == "client" and done.result and done.error is None
    assert [c.name for c in backend.calls] == ["get_weather"] and "paris" in backend.calls[0].arguments.lower(), (
        weather.user_text, backend.calls)
    answer = next(e for e in live.events if e.type == "session.commentary.append")
    assert answer.data["delegation_id"] == done.id and answer.data["content"] == done.result

    roles = {line["role"] for line in transcript.lines}
    assert roles == {"user", "assistant"} and all(line["conversation"] == session["id"] for line in transcript.lines)
    assert {s.speaker for s in live.segments.values()} == {"user", "assistant"}

    live.close()
    live.close()
    assert live.closed_event is not None and live.closed_event["reason"] == "close_requested"
    assert live.usage is not None and live.usage["seconds"] > 0 and live.cost_usd > 0
    with pytest.raises(ClosedError, match="this LiveSession was closed"):
        live.run_turn(load_sample("cards_001.wav"))


def test_the_book_marks_a_talk_over_and_starts_a_new_turn() -> None:
    book = LiveBook()
    book.input_delta({"delta": "Tell me a story.", "start_ms": 0, "end_ms": 1500})
    import numpy as np

    book.audio(np.zeros(2400, np.int16), 2300.0)
    book.output_delta({"delta": "Once upon a time", "start_ms": 2300, "end_ms": 4000})
    book.input_delta({"delta": "Stop.", "start_ms": 3500, "end_ms": 3900})  # while the model spoke
    story, cut = book.turns
    assert story.talked_over and not cut.talked_over and cut.user_text == "Stop."
    assert story.latency_ms == pytest.approx(800.0)
    assert book.talk_overs == [{"turn": 0, "at_ms": 3500, "said": "Once upon a time"}]


def test_responses_delegation_runs_the_handed_back_function(client: OpenAI) -> None:
    from voicekit.agents import tool
    from voicekit.live import BACKEND_INSTRUCTIONS

    weather = tool(get_weather)
    live = LiveSession(client, functions={"get_weather": get_weather})
    live.start({"instructions": INSTRUCTIONS, "delegation": {"type": "responses", "responses": {
        "model": "gpt-4.1-mini", "instructions": BACKEND_INSTRUCTIONS,
        "tools": [weather.responses_schema()], "tool_choice": "required"}}})
    wav = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", response_format="wav",
                                     input="What is the weather like in Paris today?")
    turn = live.run_turn(Clip.from_bytes(wav.content))
    (done,) = [d for d in live.delegations if d.id in turn.delegation_ids]
    assert done.target == "responses" and [c["name"] for c in done.calls] == ["get_weather"]
    sent = [e.data for e in live.events if e.source == "client" and e.type == "response.item.create"]
    assert sent and sent[0]["item"]["type"] == "function_call_output" and "21 degrees" in sent[0]["item"]["output"]
    assert turn.assistant_text.strip()
    live.close()


def test_a_pause_in_sending_keeps_the_input_transcript_on_the_session_timeline(client: OpenAI) -> None:
    """A notebook sends nothing between two recordings; the server hears the gap as silence,
    so the second utterance's start_ms is where it really began (not the audio count)."""
    import time

    live = LiveSession(client)
    live.start({"instructions": "Answer in one short sentence."})
    live.run_turn(load_sample("cards_001.wav"))
    time.sleep(4.0)  # idle: no audio sent
    t_sent = 1000.0 * (live._now() - live._t_started)
    second = live.run_turn(load_sample("cards_005.wav"))
    assert second.user_start_ms is not None and second.user_start_ms >= t_sent - 500, (second.user_start_ms, t_sent)
    assert second.latency_ms is not None and 0 < second.latency_ms < 30_000, second.latency_ms
    live.close()
