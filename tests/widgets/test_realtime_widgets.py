"""The conversation widgets' Python side: Transcript, EventLog, TalkButton.

Their JS is checked in a real Chromium by ``tests/browser/test_realtime_browser.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from voicekit.realtime.turns import RealtimeEvent
from voicekit.widgets import EventLog, TalkButton, Transcript


def _event(t: float, kind: str, **fields: Any) -> RealtimeEvent:
    return RealtimeEvent(t, "server", kind, {"type": kind, **fields})


def test_transcript_keeps_turn_order_and_updates_lines_in_place() -> None:
    tr = Transcript()
    tr.show(0, "assistant", "Hel")
    tr.show(0, "user", "hi")  # the user transcript arrived late: it still comes first
    tr.show(0, "assistant", "Hello.")
    tr.show(1, "user", "bye")
    assert [(line["turn"], line["role"], line["text"]) for line in tr.lines] == [
        (0, "user", "hi"), (0, "assistant", "Hello."), (1, "user", "bye")]
    assert tr.text == "You: hi\nAssistant: Hello.\nYou: bye"
    with pytest.raises(ValueError, match="expected role 'user' or 'assistant', got 'system'"):
        tr.show(2, "system", "x")
    tr.clear()
    assert tr.lines == [] and tr.text == ""


def test_transcript_keys_lines_by_conversation_so_a_reset_overwrites_nothing() -> None:
    tr = Transcript()
    for turn in range(3):
        tr.show(turn, "user", f"first {turn}", "conv_a")
    tr.show(0, "user", "second 0", "conv_b")  # after reset(): turn 0 again, a new conversation
    tr.show(0, "assistant", "reply", "conv_b")
    assert [(line["conversation"], line["turn"], line["text"]) for line in tr.lines] == [
        ("conv_a", 0, "first 0"), ("conv_a", 1, "first 1"), ("conv_a", 2, "first 2"),
        ("conv_b", 0, "second 0"), ("conv_b", 0, "reply")]
    assert tr.text.splitlines()[3] == "--- new conversation ---"


def test_a_live_turn_after_another_conversation_goes_at_the_end() -> None:
    """Issue 25, item 17: the learner's live session (conv_live) spoke first, then a later cell's
    tool session (conv_tool); the learner's next live turn is the last line, not above the divider."""
    tr = Transcript()
    tr.show(0, "user", "Hello there.", "conv_live")
    tr.show(0, "assistant", "Hi!", "conv_live")
    tr.show(0, "user", "What is the weather like in Paris today?", "conv_tool")
    tr.show(0, "assistant", "Paris, France, weather: sunny", "conv_tool")
    tr.show(1, "assistant", "Sure", "conv_live")  # the reply starts before the user's transcript lands
    tr.show(1, "user", "Tell me a story.", "conv_live")
    assert [(line["conversation"], line["turn"], line["role"]) for line in tr.lines][-2:] == [
        ("conv_live", 1, "user"), ("conv_live", 1, "assistant")]
    assert tr.text.splitlines()[-3:] == [
        "--- earlier conversation continues ---", "You: Tell me a story.", "Assistant: Sure"]
    assert tr.text.splitlines()[2] == "--- new conversation ---"


def test_transcript_keeps_at_most_max_lines() -> None:
    tr = Transcript(max_lines=3)
    for i in range(5):
        tr.show(i, "user", f"u{i}")
    assert [line["text"] for line in tr.lines] == ["u2", "u3", "u4"]


def test_event_log_sends_rows_and_filters_like_the_browser() -> None:
    log = EventLog(max_rows=4)
    sent: list[dict[str, Any]] = []
    log.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    log.add(_event(0.1, "session.created"))
    log.add(_event(0.2, "response.output_audio.delta", delta="<960 bytes PCM16>"))
    log.add(_event(0.3, "input_audio_buffer.speech_stopped", audio_end_ms=900))
    log.add(_event(0.4, "response.done", response={"id": "resp_1", "status": "completed"}))
    log.add(_event(0.5, "response.created", response={"id": "resp_2", "status": "in_progress"}))
    assert [r["type"] for r in log.rows] == ["response.output_audio.delta", "input_audio_buffer.speech_stopped",
                                              "response.done", "response.created"]
    assert sent[-1] == {"type": "rows", "rows": [{"t": 0.5, "source": "server", "type": "response.created",
                                                  "summary": "response_id=resp_2 status=in_progress"}]}
    assert [r["type"] for r in log.visible_rows()] == ["input_audio_buffer.speech_stopped", "response.done",
                                                       "response.created"]
    log.filter = "RESPONSE."
    assert [r["type"] for r in log.visible_rows()] == ["response.done", "response.created"]
    log.hide_deltas = False
    assert len(log.visible_rows()) == 3
    sent.clear()
    log._handle_custom_msg({"type": "need"}, [])  # a new view asks for everything
    assert sent == [{"type": "reset"}, {"type": "rows", "rows": log.rows}]


def test_talk_button_calls_back_on_press_and_release(caplog: pytest.LogCaptureFixture) -> None:
    button = TalkButton()
    calls: list[str] = []
    button.on_release(lambda: calls.append("release"))
    button.on_release(lambda: 1 / 0)
    def press() -> None:
        calls.append("press")
    button.on_press(press)
    button.on_press(press)  # registered once
    with caplog.at_level(logging.ERROR, "voicekit.widgets"):
        button.press()
        button.press()  # no change, no call
        button.release()
    assert calls == ["press", "release"]
    assert "TalkButton on_release callback" in caplog.text and "ZeroDivisionError" in caplog.text
    assert set(button.keys) >= {"pressed", "label"}
