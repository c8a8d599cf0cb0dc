"""TranslationSession (issue 23): the client of OpenAI's Realtime translation API.

Unit tests run it over :class:`voicekit.testing.ScriptedServer` ("translation": every
server event validated with the SDK's ``RealtimeTranslationServerEvent``); the last test
drives a real stand-in through the unchanged SDK (``client.realtime.translations.connect``).
"""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from conftest import heard_de_leopard
from openai import OpenAI

from voicekit import ClosedError
from voicekit.audio import Clip
from voicekit.errors import RealtimeError
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.realtime import TranslationSession
from voicekit.realtime.translation import validate_client_event
from voicekit.samples import DATA_DIR
from voicekit.testing import ScriptedServer
from voicekit.widgets import Player, TranslationLines

SESSION = {"id": "sess_t1", "type": "translation", "model": "gpt-realtime-translate", "expires_at": 2_000_000_000,
           "audio": {"input": {"noise_reduction": None, "transcription": None}, "output": {"language": "en"}}}


def _pcm_b64(n: int, value: int = 1000) -> str:
    return base64.b64encode(np.full(n, value, np.int16).tobytes()).decode()


def _server(script: list[dict[str, Any]] | None = None) -> ScriptedServer:
    """A fake translation server: session.update merges the output language and the
    transcription (a target other than English is an error, as on the stand-in);
    session.close answers with ``script`` then session.closed."""
    server = ScriptedServer("translation", on_open=[{"type": "session.created", "event_id": "e0", "session": SESSION}])

    def update(event: dict[str, Any]) -> list[dict[str, Any]]:
        audio = event["session"].get("audio") or {}
        if (audio.get("output") or {}).get("language", "en") != "en":
            return [{"type": "error", "event_id": "x", "error": {
                "type": "invalid_request_error", "code": "invalid_value",
                "message": "The stand-in translates into English only"}}]
        session = {**SESSION, "audio": {
            "input": {"noise_reduction": None, **(audio.get("input") or {})},
            "output": {"language": "en", **(audio.get("output") or {})}}}
        return [{"type": "session.updated", "event_id": "e1", "session": session}]

    server.on("session.update", update)
    server.on("session.close", lambda e: [*(script or []), {"type": "session.closed", "event_id": "e9"}])
    return server


def _phrase_events(elapsed: int, source: str, text: str, audio_n: int = 2400) -> list[dict[str, Any]]:
    return [
        {"type": "session.input_transcript.delta", "event_id": f"s{elapsed}", "delta": source, "elapsed_ms": elapsed},
        {"type": "session.output_transcript.delta", "event_id": f"t{elapsed}", "delta": text, "elapsed_ms": elapsed},
        {"type": "session.output_audio.delta", "event_id": f"a{elapsed}", "delta": _pcm_b64(audio_n),
         "elapsed_ms": elapsed, "format": "pcm16", "sample_rate": REALTIME_SAMPLE_RATE, "channels": 1},
    ]


def test_start_sends_one_session_update_the_sdk_accepts_with_target_and_source_transcription() -> None:
    server = _server()
    with TranslationSession(None, transport=server.transport(), noise_reduction={"type": "near_field"}) as ts:  # type: ignore[arg-type]
        session = ts.start()
    update = next(e for e in server.received if e["type"] == "session.update")
    assert update["session"] == {"audio": {"output": {"language": "en"}, "input": {
        "transcription": {"model": "gpt-4o-transcribe"}, "noise_reduction": {"type": "near_field"}}}}
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe"}
    assert "type" not in update["session"]  # a translation session.update carries only audio (SDK model)


def test_events_the_sdk_models_refuse_are_not_sent() -> None:
    server = _server()
    with TranslationSession(None, transport=server.transport()) as ts:  # type: ignore[arg-type]
        ts.start()
        sent = len(server.received)
        with pytest.raises(ValueError, match="voice"):
            ts.update({"audio": {"output": {"voice": "marin"}}})  # not a translation session field
        with pytest.raises(ValueError):
            ts.send({"type": "response.create"})  # translation sessions have no responses
        assert len(server.received) == sent
    with pytest.raises(ValueError):
        validate_client_event({"type": "session.input_audio_buffer.append", "audio": 123})


def test_phrases_pair_source_and_translation_side_by_side_and_play_the_audio() -> None:
    script = [*_phrase_events(2400, "Der Raum wurde", "The room was"),
              {"type": "session.output_transcript.delta", "event_id": "t2", "delta": " used.", "elapsed_ms": 2400},
              *_phrase_events(5000, " Guten Morgen.", " Good morning.", audio_n=4800)]
    server = _server(script)
    lines, player = TranslationLines(), Player()
    with TranslationSession(None, transport=server.transport(), lines=lines, player=player) as ts:  # type: ignore[arg-type]
        ts.start()
        ts.send_audio(Clip(np.zeros(REALTIME_SAMPLE_RATE * 6, np.int16), REALTIME_SAMPLE_RATE)).result(10)
        phrases = ts.finish(timeout=10)
    assert [(p.source.strip(), p.translation.strip()) for p in phrases] == [
        ("Der Raum wurde", "The room was used."), ("Guten Morgen.", "Good morning.")]
    assert [(r["source"], r["translation"]) for r in lines.rows] == [
        ("Der Raum wurde", "The room was used."), ("Guten Morgen.", "Good morning.")]
    assert all(r["conversation"] == "sess_t1" for r in lines.rows)
    assert "Der Raum wurde  ->  The room was used." in lines.text
    assert [p.audio.n_frames for p in phrases if p.audio is not None] == [2400, 4800]
    assert player.clip is not None and player.clip.n_frames == 7200
    assert ts.translation == "The room was used. Good morning."
    # the input up to each phrase's elapsed_ms had been sent before session.close: a lag is known
    assert all(p.source_sent_s is not None and p.text_lag_ms is not None and p.text_lag_ms >= 0 for p in phrases)


def test_a_phrase_sent_later_lags_from_when_its_input_was_sent() -> None:
    """The lag counts from the append that carried the input up to ``elapsed_ms``, not from the start."""
    server = _server()
    with TranslationSession(None, transport=server.transport()) as ts:  # type: ignore[arg-type]
        ts.start()
        ts.send_audio(Clip(np.zeros(REALTIME_SAMPLE_RATE, np.int16), REALTIME_SAMPLE_RATE)).result(10)  # 0-1000 ms
        import time

        time.sleep(0.3)
        ts.send_audio(Clip(np.zeros(REALTIME_SAMPLE_RATE, np.int16), REALTIME_SAMPLE_RATE)).result(10)  # 1000-2000
        sent = [t for t in ts._sent.times]
        for event in _phrase_events(600, "a.", "a.") + _phrase_events(1600, "b.", "b."):
            server.push(event)
        ts.wait_for("session.output_audio.delta", since=0, where=lambda e: e.data["elapsed_ms"] == 1600, timeout=10)
    first, second = ts.phrases
    assert first.source_sent_s == sent[0] and second.source_sent_s == sent[1]
    assert second.source_sent_s - first.source_sent_s >= 0.25


def test_error_events_show_in_the_lines_and_raise_in_the_cell() -> None:
    server = _server()
    lines = TranslationLines()
    with TranslationSession(None, transport=server.transport(), lines=lines) as ts:  # type: ignore[arg-type]
        ts.start()
        with pytest.raises(RealtimeError, match="English only"):
            ts.update({"audio": {"output": {"language": "fr"}}}, timeout=5)
    assert lines.errors == ["invalid_value: The stand-in translates into English only"]
    assert ts.errors[0]["code"] == "invalid_value"
    with pytest.raises(ClosedError):
        ts.finish()


def test_a_start_the_server_refused_raises_again_when_called_again() -> None:
    """A second ``start()`` after the server refused the first one's ``session.update`` (a
    French target) sends the configuration again and raises again: it does not hand back
    the English session of ``session.created`` as if French had been accepted."""
    server = _server()
    lines = TranslationLines()
    with TranslationSession(None, transport=server.transport(), language="fr", lines=lines) as ts:  # type: ignore[arg-type]
        for _ in range(2):
            with pytest.raises(RealtimeError, match="English only"):
                ts.start(timeout=5)
        assert [e["session"]["audio"]["output"]["language"] for e in server.received
                if e["type"] == "session.update"] == ["fr", "fr"]
    assert len(lines.errors) == 2


def test_deltas_a_few_frames_apart_stay_one_line_until_a_sentence_ends() -> None:
    """OpenAI streams deltas 200 ms apart: they join one phrase; a sentence end starts the next."""
    from voicekit.realtime.translation_phrases import PhraseBook, SentLog

    book = PhraseBook(None, SentLog())
    for elapsed, delta in ((200, "The room"), (400, " was used"), (600, "."), (800, " Good"), (1000, " morning")):
        book.handle({"type": "session.output_transcript.delta", "delta": delta, "elapsed_ms": elapsed}, 0.0)
    assert [p.translation.strip() for p in book.phrases] == ["The room was used.", "Good morning"]
    book.handle({"type": "session.output_transcript.delta", "delta": " Hi", "elapsed_ms": 2000}, 0.0)  # a pause
    assert len(book.phrases) == 3


def test_the_stand_in_translates_the_shipped_german_recording_through_the_sdk(client: OpenAI) -> None:
    clip = Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav")
    lines, player = TranslationLines(), Player()
    with TranslationSession(client, lines=lines, player=player) as ts:
        session = ts.start()
        assert session["type"] == "translation" and session["audio"]["output"]["language"] == "en"
        phrases = ts.translate(clip, realtime=False, timeout=180)
    assert phrases, ts.events[-5:]
    assert heard_de_leopard(ts.source_text), ts.source_text
    words = set(ts.translation.lower().replace(".", " ").replace(",", " ").split())
    assert len(words & {"portal", "room", "used"}) >= 2, ts.translation
    assert ts.audio is not None and ts.audio.duration > 1.0
    assert player.clip is not None and player.clip.n_frames == ts.audio.n_frames
    assert all(p.text_lag_ms is not None and p.audio_lag_ms is not None for p in phrases)
    assert lines.rows and "room" in lines.text.lower()
    assert any(e.type == "session.closed" for e in ts.events)
    # appends are recorded with their audio elided
    assert all(e.data["audio"].endswith("bytes PCM16>") for e in ts.events if e.type == "session.input_audio_buffer.append")


def test_send_clip_is_done_once_the_translation_went_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    """No event marks a phrase's end: send_clip waits for the first delta, then for quiet."""
    from voicekit.realtime import translation

    monkeypatch.setattr(translation, "QUIET_S", 0.3)
    server = _server()
    appends: list[int] = []

    def on_append(event: dict[str, Any]) -> list[dict[str, Any]]:
        appends.append(1)
        return _phrase_events(600, "Hallo.", "Hello.") if len(appends) == 4 else []

    server.on("session.input_audio_buffer.append", on_append)
    with TranslationSession(None, transport=server.transport()) as ts:  # type: ignore[arg-type]
        ts.start()
        done = ts.send_clip(Clip(np.zeros(REALTIME_SAMPLE_RATE, np.int16), REALTIME_SAMPLE_RATE), realtime=False,
                            pad_ms=0)
        phrases = done.result(timeout=30)
        assert [p.translation for p in phrases] == ["Hello."]
        assert len(appends) == 5  # 1 s in 200 ms appends (the SDK's advice), each checked with its model
        silent = ts.send_clip(Clip(np.zeros(2400, np.int16), REALTIME_SAMPLE_RATE), realtime=False, pad_ms=0,
                              timeout=1.0)
        assert silent.result(timeout=30) == []  # nothing translated within the timeout: no phrase


def test_public_surface() -> None:
    from voicekit.realtime import translation, translation_phrases

    assert sorted(translation.__all__) == ["APPEND", "CHUNK_MS", "DEFAULT_SOURCE_TRANSCRIBE_MODEL",
                                           "DEFAULT_TRANSLATION_MODEL", "PAD_MS", "QUIET_S", "TranslationSession",
                                           "validate_client_event"]
    assert sorted(translation_phrases.__all__) == ["AUDIO_DELTA", "OUTPUT_DELTA", "PHRASE_GAP_MS", "Phrase",
                                                   "PhraseBook", "SOURCE_DELTA", "SentLog"]
