"""A Realtime conversation in a real Chromium (JupyterLab 4): the fake microphone's
speech streams through a Recorder into a RealtimeSession on the stand-in, the spoken
reply plays in the Player, and the Transcript and EventLog show it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import Session, kernel_env, notebook_session
from browser.harness import Browser, JupyterServer
from voicekit.audio import Clip
from voicekit.metrics import normalize_text

pytestmark = pytest.mark.timeout(300)

SETUP_CELL = """\
from openai import OpenAI
from voicekit.realtime import RealtimeSession
from voicekit.widgets import EventLog, Player, Recorder, TalkButton, Transcript

rec = Recorder(auto_gain=False, echo_cancellation=False, noise_suppression=False)
player = Player(autoplay=True)
transcript, log, talk = Transcript(), EventLog(), TalkButton()
rt = RealtimeSession(OpenAI(), player=player, transcript=transcript, event_log=log)
# ls_0890 pauses after its first word: a 1.2 s silence window keeps it one turn
rt.start({"instructions": "Answer in one short sentence.",
          "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 1200}}}})
rt.attach(rec)
display(rec, player, transcript, talk, log)
"""


@pytest.fixture(scope="module")
def realtime_page(browser: Browser, standin_server: Any,
                  jupyter_servers: Callable[..., JupyterServer]) -> Iterator[Session]:
    server = jupyter_servers("lab", kernel_env(standin_server, key=True))
    with notebook_session(browser, server, "realtime", [SETUP_CELL],
                          ready="rt.connected", before_close="rt.close()") as session:
        yield session


@pytest.fixture(scope="module")
def spoken_turn(realtime_page: Session) -> dict[str, Any]:
    """Record from the fake microphone until one reply has been heard."""
    k, page = realtime_page.kernel, realtime_page.page
    page.locator(".voicekit-player").get_by_role("button", name="Play", exact=True).click()  # user gesture
    k.run("rec.recording = True")
    try:
        k.wait_for("any(t.reply is not None and t.status for t in rt.turns) and player.played_ms > 300",
                   timeout=120)
    finally:
        k.run("rec.recording = False")
    return k.eval(
        "dict(turns=[dict(user=t.user, assistant=t.assistant_text, status=t.status, latency=t.latency_ms,"
        " reply_ms=1000 * t.reply.duration if t.reply else 0) for t in rt.turns],"
        " played_ms=player.played_ms, errors=rt.errors, player_error=player.error,"
        " truncates=[e.data['audio_end_ms'] for e in rt.events if e.type == 'conversation.item.truncate'])"
    )


def test_speech_streams_in_and_the_spoken_reply_plays(spoken_turn: dict[str, Any],
                                                      speech: tuple[Path, Clip, str]) -> None:
    r = spoken_turn
    assert r["errors"] == [] and r["player_error"] == ""
    answered = [t for t in r["turns"] if t["status"] and t["reply_ms"] > 0]
    assert answered, r["turns"]
    first = answered[0]
    heard = set(normalize_text(first["user"] or "").split())
    assert heard & {"cold", "hearted", "selfish", "disposed"}, first["user"]  # ls_0890's words
    assert first["assistant"].strip() and first["latency"] > 0
    assert r["played_ms"] > 300  # the browser played the reply (autoplay after one click)
    reply_ms = sum(t["reply_ms"] for t in r["turns"])
    assert all(0 <= ms <= reply_ms for ms in r["truncates"])


def test_transcript_shows_both_turns_in_the_page(realtime_page: Session, spoken_turn: dict[str, Any]) -> None:
    page, k = realtime_page.page, realtime_page.kernel
    lines = k.eval("transcript.lines")
    user = page.locator(".vk-transcript .vk-user .vk-text")
    assistant = page.locator(".vk-transcript .vk-assistant .vk-text")
    user.first.wait_for(timeout=10_000)
    assistant.first.wait_for(timeout=10_000)
    assert user.first.inner_text() == next(x["text"] for x in lines if x["role"] == "user")
    assert assistant.first.inner_text().strip()
    assert page.locator(".vk-transcript .vk-who").first.inner_text() == "You"


def test_a_new_live_turn_shows_at_the_bottom_and_the_box_follows(realtime_page: Session,
                                                                 spoken_turn: dict[str, Any]) -> None:
    """Issue 25, item 17: after another cell's conversation (a tool session) filled the box, the
    learner's next live turn is the last row, under an "earlier conversation continues" divider,
    and the box has scrolled to it."""
    page, k = realtime_page.page, realtime_page.kernel
    k.run("saved_lines = list(transcript.lines)\n"
          "live = transcript.lines[0]['conversation']\n"
          "for i in range(12):\n"
          "    transcript.show(i, 'user', f'tool question {i}', 'conv_tool')\n"
          "    transcript.show(i, 'assistant', f'tool answer {i}', 'conv_tool')\n"
          "transcript.show(99, 'user', 'my new live turn', live)")
    try:
        last = page.locator(".vk-transcript .vk-line").last
        last.filter(has_text="my new live turn").wait_for(timeout=10_000)
        box = page.locator(".vk-transcript")
        page.wait_for_function(
            "() => { const b = document.querySelector('.vk-transcript');"
            " return b.scrollHeight > b.clientHeight && b.scrollTop + b.clientHeight >= b.scrollHeight - 2; }",
            timeout=10_000)
        dividers = page.locator(".vk-transcript .vk-divider")
        assert dividers.last.inner_text() == "earlier conversation continues"
        row, view = last.bounding_box(), box.bounding_box()
        assert row is not None and view is not None
        assert view["y"] <= row["y"] and row["y"] + row["height"] <= view["y"] + view["height"] + 1, (row, view)
    finally:
        k.run("transcript.lines = saved_lines")


def test_event_log_filters_in_the_page(realtime_page: Session, spoken_turn: dict[str, Any]) -> None:
    page, k = realtime_page.page, realtime_page.kernel
    types = page.locator(".vk-eventlog td.vk-type")
    types.filter(has_text="response.done").first.wait_for(timeout=10_000)
    assert not types.filter(has_text="input_audio_buffer.append").count()  # deltas hidden by default
    page.locator(".vk-eventlog input[type=search]").fill("speech_")
    k.wait_for("log.filter == 'speech_'", timeout=10)  # synced back to the kernel
    shown = types.all_inner_texts()
    assert shown and all("speech_" in t for t in shown)
    assert len(shown) == len(k.eval("log.visible_rows()"))
    page.locator(".vk-eventlog input[type=search]").fill("")


def test_push_to_talk_button_commits_on_release(realtime_page: Session, spoken_turn: dict[str, Any]) -> None:
    page, k = realtime_page.page, realtime_page.kernel
    k.run("rt.push_to_talk(talk); n_turns = len(rt.turns); mark = rt.mark(); rec.recording = True")
    button = page.locator(".vk-talk")
    button.wait_for(timeout=10_000)
    time.sleep(1.0)  # the microphone is open, but nothing is sent before the press
    assert k.eval("sum(e.type == 'input_audio_buffer.append' for e in rt.events[mark:])") == 0
    box = button.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    k.wait_for("talk.pressed", timeout=10)
    time.sleep(2.5)
    page.mouse.up()
    k.wait_for("not talk.pressed", timeout=10)
    k.run("rec.recording = False")
    sent = k.eval("[e.type for e in rt.events[mark:] if e.source == 'client']")
    assert "input_audio_buffer.clear" in sent and sent[-2:] == ["input_audio_buffer.commit", "response.create"]
    assert sent.count("input_audio_buffer.append") >= 15  # about 2.5 s of 100 ms chunks
    k.wait_for("len(rt.turns) > n_turns and rt.turns[-1].status is not None", timeout=120)
    assert k.eval("rt.turns[-1].latency_ms") > 0


def test_push_to_talk_button_opens_the_microphone_and_says_so_in_the_page(realtime_page: Session,
                                                                          spoken_turn: dict[str, Any]) -> None:
    """Issue 25, item 1: with the Recorder stopped, holding the button opens the microphone,
    the page says "say something", and release sends; after a switch back to VAD turns the
    button is disabled with the reason shown under it."""
    page, k = realtime_page.page, realtime_page.kernel
    k.run("rec.recording = False; rt.push_to_talk(talk); n_turns = len(rt.turns); mark = rt.mark()")
    button = page.locator(".vk-talk")
    box = button.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    k.wait_for("talk.pressed and rec.recording", timeout=10)
    page.locator(".vk-talk-hint", has_text="say something").wait_for(timeout=10_000)
    time.sleep(2.5)
    page.mouse.up()
    k.wait_for("not talk.pressed and not rec.recording", timeout=10)
    k.wait_for("'input_audio_buffer.commit' in [e.type for e in rt.events[mark:] if e.source == 'client']", timeout=10)
    assert k.eval("sum(e.type == 'input_audio_buffer.append' for e in rt.events[mark:])") >= 15
    k.wait_for("len(rt.turns) > n_turns and rt.turns[-1].status is not None", timeout=120)
    k.run("rt.update({'audio': {'input': {'turn_detection': {'type': 'server_vad'}}}})")
    page.locator(".vk-talk-error", has_text="push_to_talk()").wait_for(timeout=10_000)
    assert button.is_disabled()
