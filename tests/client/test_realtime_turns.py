"""Turn bookkeeping of a Realtime conversation, fed server events by hand (no socket)."""

from __future__ import annotations

import base64

import numpy as np
import pytest

from voicekit.realtime.turns import RealtimeEvent, TurnBook, elide_audio
from voicekit.widgets import Transcript


def _delta(book: TurnBook, response_id: str, item_id: str, frames: int, now: float, player_ms: float = 0.0) -> None:
    pcm = np.full(frames, 7, np.int16)
    book.audio_delta({"type": "response.output_audio.delta", "response_id": response_id, "item_id": item_id},
                     pcm, now, player_ms)


def _vad_turn(book: TurnBook, item_id: str, t_stop: float) -> None:
    book.handle({"type": "input_audio_buffer.speech_started", "audio_start_ms": 100, "item_id": item_id}, t_stop - 1)
    book.handle({"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2100, "item_id": item_id}, t_stop)
    book.handle({"type": "input_audio_buffer.committed", "item_id": item_id, "previous_item_id": None}, t_stop)


def test_a_vad_turn_collects_transcripts_audio_and_latency() -> None:
    transcript = Transcript()
    book = TurnBook(transcript)
    _vad_turn(book, "item_u1", t_stop=2.0)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 2.05)
    assert book.active_response == "resp_1"
    _delta(book, "resp_1", "item_a1", 2400, now=2.4)
    _delta(book, "resp_1", "item_a1", 1200, now=2.5)
    book.handle({"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "item_id": "item_a1",
                 "delta": "Hello"}, 2.5)
    # the user's transcription may finish after the reply began
    book.handle({"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u1",
                 "transcript": "hi there"}, 2.6)
    book.handle({"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "item_id": "item_a1",
                 "delta": " you."}, 2.7)
    book.handle({"type": "response.done", "response": {"id": "resp_1", "status": "completed",
                 "usage": {"total_tokens": 9}, "output": []}}, 3.0)
    [turn] = book.turns
    assert (turn.user, turn.assistant_text, turn.status) == ("hi there", "Hello you.", "completed")
    assert (turn.speech_start_ms, turn.speech_end_ms) == (100, 2100)
    assert turn.latency_ms == pytest.approx(400.0)
    assert turn.reply is not None and turn.reply.n_frames == 3600 and turn.reply.sample_rate == 24_000
    assert turn.usage == {"total_tokens": 9} and book.active_response is None
    assert [(line["role"], line["text"]) for line in transcript.lines] == [("user", "hi there"),
                                                                          ("assistant", "Hello you.")]


def test_a_manual_turn_measures_latency_from_the_commit_sent() -> None:
    book = TurnBook()
    book.commit_sent(5.0)
    book.handle({"type": "input_audio_buffer.committed", "item_id": "item_u1"}, 5.2)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 5.3)
    _delta(book, "resp_1", "item_a1", 480, now=5.75)
    assert book.turns[0].user_item_id == "item_u1"
    assert book.turns[0].latency_ms == pytest.approx(750.0)


def test_a_tool_round_stays_in_one_turn_and_a_new_input_starts_the_next() -> None:
    book = TurnBook()
    book.handle({"type": "conversation.item.added", "item": {"id": "item_u1", "type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "weather in Paris?"}]}}, 1.0)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 1.1)
    book.handle({"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": [
        {"type": "function_call", "name": "get_weather", "call_id": "call_1", "arguments": '{"city": "Paris"}'}]}}, 1.5)
    assert book.turns[0].awaiting_tool
    book.handle({"type": "response.created", "response": {"id": "resp_2"}}, 1.6)
    book.handle({"type": "response.done", "response": {"id": "resp_2", "status": "completed", "output": []}}, 2.0)
    book.handle({"type": "response.created", "response": {"id": "resp_3"}}, 3.0)  # no new input: a turn of its own
    first, second = book.turns
    assert first.user == "weather in Paris?" and first.response_ids == ["resp_1", "resp_2"]
    assert first.tool_calls == [{"name": "get_weather", "call_id": "call_1", "arguments": '{"city": "Paris"}',
                                 "output": None, "ok": None}]  # a ToolCallRecord: not run here
    assert not first.awaiting_tool and second.user is None and second.response_ids == ["resp_3"]


def test_truncated_marks_the_item_and_its_turn() -> None:
    book = TurnBook()
    _vad_turn(book, "item_u1", 1.0)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 1.1)
    _delta(book, "resp_1", "item_a1", 24_000, now=1.5, player_ms=250.0)
    item = book.playing_item
    assert item is not None and item.received_ms == 1000.0 and item.player_offset_ms == 250.0
    book.handle({"type": "conversation.item.truncated", "item_id": "item_a1", "content_index": 0,
                 "audio_end_ms": 640}, 2.0)
    assert book.turns[0].truncated_at_ms == 640 and book.playing_item is None


def test_a_sideband_turn_has_no_audio_but_its_latency_and_truncation_from_the_events() -> None:
    """A WebRTC call's sideband gets no ``response.output_audio.delta``: the reply's audio
    shows as ``output_audio_buffer.started``, and a barge-in's truncation names an item
    the book knows from ``response.output_item.added``."""
    book = TurnBook()
    _vad_turn(book, "item_u1", t_stop=2.0)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 2.05)
    book.handle({"type": "response.output_item.added", "response_id": "resp_1", "output_index": 0,
                 "item": {"id": "item_a1", "type": "message", "role": "assistant", "content": []}}, 2.1)
    book.handle({"type": "output_audio_buffer.started", "response_id": "resp_1"}, 2.35)
    book.handle({"type": "output_audio_buffer.started", "response_id": "resp_1"}, 2.9)  # the first one counts
    book.handle({"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}}, 3.0)
    book.handle({"type": "conversation.item.truncated", "item_id": "item_a1", "content_index": 0,
                 "audio_end_ms": 900}, 3.5)
    [turn] = book.turns
    assert turn.reply is None and turn.t_first_audio is None and turn.t_audio_started == 2.35
    assert turn.latency_ms == pytest.approx(350.0)
    assert turn.truncated_at_ms == 900


def test_an_audio_delta_wins_over_output_audio_buffer_started() -> None:
    book = TurnBook()
    _vad_turn(book, "item_u1", t_stop=2.0)
    book.handle({"type": "response.created", "response": {"id": "resp_1"}}, 2.05)
    _delta(book, "resp_1", "item_a1", 2400, now=2.2)
    book.handle({"type": "output_audio_buffer.started", "response_id": "resp_1"}, 2.6)
    assert book.turns[0].latency_ms == pytest.approx(200.0)


def test_elide_audio_keeps_the_size_not_the_samples() -> None:
    audio = base64.b64encode(bytes(4801)).decode()
    event = {"type": "input_audio_buffer.append", "audio": audio}
    assert elide_audio(event) == {"type": "input_audio_buffer.append", "audio": "<4801 bytes PCM16>"}
    assert event["audio"] == audio  # the original is left alone
    delta = {"type": "response.output_audio.delta", "delta": base64.b64encode(bytes(10)).decode()}
    assert elide_audio(delta)["delta"] == "<10 bytes PCM16>"
    other = {"type": "response.output_text.delta", "delta": "hi"}
    assert elide_audio(other) is other


def test_event_summary_names_the_key_fields() -> None:
    stopped = RealtimeEvent(1.0, "server", "input_audio_buffer.speech_stopped",
                            {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 2100, "item_id": "item_1"})
    assert stopped.summary() == "audio_end_ms=2100 item_id=item_1"
    error = RealtimeEvent(1.0, "server", "error", {"type": "error", "error": {
        "type": "invalid_request_error", "code": "input_audio_buffer_commit_empty", "message": "x" * 100}})
    assert "code=input_audio_buffer_commit_empty" in error.summary() and "x" * 60 + "…" in error.summary()
    added = RealtimeEvent(1.0, "server", "conversation.item.added", {"type": "conversation.item.added", "item": {
        "id": "item_9", "type": "function_call", "name": "get_weather", "arguments": "{}", "call_id": "call_1"}})
    assert added.summary() == "item_id=item_9 name=get_weather call_id=call_1 arguments={}"


class _Sideband:
    """What RealtimeMeter reads of a RealtimeSession, over a hand-fed TurnBook (a sideband)."""

    def __init__(self, book: TurnBook) -> None:
        self.book, self.model, self.transcribe, self.conversation_id = book, "gpt-realtime-mini", None, "sess_1"
        self.turn_detection = {"type": "server_vad", "silence_duration_ms": 500}
        self.transport = type("T", (), {"carries_audio": False})()

    @property
    def turns(self) -> list:
        return self.book.turns

    def turn_of(self, response_id: str):
        return self.book.turn_of_response(response_id)


def test_a_sideband_row_gets_its_voice_to_voice_when_the_sound_starts_after_response_done() -> None:
    """The server may finish writing a reply before the peer starts playing it: the row
    shown at ``response.done`` has no voice-to-voice yet, and ``output_audio_buffer.started``
    gives it (found in a Run All of 04c in Chromium: the row stayed at '–')."""
    from voicekit.agents.realtime_metrics import RealtimeMeter

    book = TurnBook()
    meter = RealtimeMeter(_Sideband(book))  # type: ignore[arg-type]

    def feed(event: dict, now: float) -> list:
        book.handle(event, now)
        return meter.handle(RealtimeEvent(now, "server", event["type"], event))

    _vad_turn(book, "item_u1", t_stop=2.0)
    feed({"type": "response.created", "response": {"id": "resp_1"}}, 2.05)
    [row] = feed({"type": "response.done", "response": {"id": "resp_1", "status": "completed", "output": []}}, 2.3)
    assert row.voice_to_voice_ms is None
    [row] = feed({"type": "output_audio_buffer.started", "response_id": "resp_1"}, 2.4)
    assert row.voice_to_voice_ms == pytest.approx(400.0) and row.turn == 0
