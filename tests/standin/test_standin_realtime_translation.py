"""The Realtime translation API on the stand-in, driven by the unchanged SDK
(``client.realtime.translations.connect``), issue 23.

Every server event is parsed strictly with the SDK's own union,
``TypeAdapter(openai.types.realtime.RealtimeTranslationServerEvent)``, and fails on
fields the SDK's models do not declare; sessions are checked as ``RealtimeTranslationSession``.
Input: the German recording shipped in ``voicekit/data/multilingual`` and, when present,
``../shared/audio/multilingual``.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import SHARED_AUDIO, heard_de_leopard
from openai import OpenAI
from openai.types.realtime import RealtimeTranslationServerEvent, RealtimeTranslationSession
from pydantic import BaseModel, TypeAdapter

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.samples import DATA_DIR

MODEL = "gpt-realtime-translate"
SERVER_EVENT = TypeAdapter(RealtimeTranslationServerEvent)


def _no_extras(model: Any, path: str = "event") -> None:
    if isinstance(model, BaseModel):
        assert not model.model_extra, f"{path} has fields the SDK does not define: {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            _no_extras(getattr(model, name), f"{path}.{name}")


class Wire:
    """One SDK translation connection and every event the server sent, each checked."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []

    def recv(self) -> dict[str, Any]:
        event = json.loads(self.conn.recv_bytes())
        _no_extras(SERVER_EVENT.validate_python(event, strict=True))
        if "session" in event:
            RealtimeTranslationSession.model_validate(event["session"], strict=True)
        self.events.append(event)
        return event

    def until(self, kind: str, timeout: float = 180.0) -> list[dict[str, Any]]:
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got.append(self.recv())
            if got[-1]["type"] == kind:
                return got
        raise AssertionError(f"no {kind} within {timeout} s; got {[e['type'] for e in got]}")

    def append(self, pcm: np.ndarray, chunk_ms: int = 200) -> None:
        step = REALTIME_SAMPLE_RATE * chunk_ms // 1000
        for k in range(0, pcm.size, step):
            audio = base64.b64encode(pcm[k:k + step].astype("<i2").tobytes()).decode("ascii")
            self.conn.send({"type": "session.input_audio_buffer.append", "audio": audio})


@pytest.fixture
def tw(client: OpenAI) -> Iterator[Wire]:
    with client.realtime.translations.connect(model=MODEL) as conn:
        wire = Wire(conn)
        created = wire.recv()
        assert created["type"] == "session.created" and created["session"]["model"] == MODEL
        assert created["session"]["type"] == "translation" and created["session"]["id"].startswith("sess_")
        yield wire
        ids = [e["event_id"] for e in wire.events]
        assert len(ids) == len(set(ids)), "event ids repeat"


def _pcm(clip: Clip) -> np.ndarray:
    return clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)


def _silence(ms: int) -> np.ndarray:
    return np.zeros(REALTIME_SAMPLE_RATE * ms // 1000, np.int16)


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in re.findall(r"\w+", text.lower())}


def test_session_update_accepts_noise_reduction_and_transcription(tw: Wire):
    tw.conn.send({"type": "session.update", "session": {"audio": {
        "input": {"noise_reduction": {"type": "near_field"}, "transcription": {"model": "gpt-4o-mini-transcribe"}},
        "output": {"language": "en"}}}})
    session = tw.until("session.updated")[-1]["session"]
    assert session["audio"]["input"]["noise_reduction"] == {"type": "near_field", "strength": 1.0}
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    tw.conn.send({"type": "session.update", "session": {"audio": {"input": {"noise_reduction": None}}}})
    session = tw.until("session.updated")[-1]["session"]
    assert session["audio"]["input"]["noise_reduction"] is None
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}  # kept


def test_a_target_other_than_english_is_an_error_naming_the_limit(tw: Wire):
    tw.conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "fr"}}}})
    err = tw.until("error")[-1]["error"]
    assert err["param"] == "session.audio.output.language" and "English only" in err["message"]
    tw.conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "en"}}}})
    assert tw.until("session.updated")[-1]["session"]["audio"]["output"]["language"] == "en"


def test_malformed_events_get_error_events_naming_what_was_expected(tw: Wire):
    """Text that is not a JSON object, and an event type the API has not, each get an
    ``error`` event (naming the client's ``event_id`` where it has one), and the socket stays open."""
    tw.conn.send_raw("{not json")
    err = tw.until("error")[-1]["error"]
    assert err["code"] == "invalid_json" and "at character 1" in err["message"]
    tw.conn.send_raw("[1, 2]")
    err = tw.until("error")[-1]["error"]
    assert err["code"] == "invalid_json" and "got list" in err["message"]
    tw.conn.send_raw(json.dumps({"type": "response.create", "event_id": "evt_x"}))
    err = tw.until("error")[-1]["error"]
    assert (err["code"], err["param"], err["event_id"]) == ("invalid_value", "type", "evt_x")
    assert "session.input_audio_buffer.append" in err["message"]
    tw.conn.send({"type": "session.update", "session": {"audio": {"output": {"language": "en"}}}})
    assert tw.until("session.updated")[-1]["type"] == "session.updated"


def test_an_unknown_model_is_refused_naming_it(client: OpenAI):
    with client.realtime.translations.connect(model="gpt-realtime-mini") as conn:
        event = json.loads(conn.recv_bytes())
    _no_extras(SERVER_EVENT.validate_python(event, strict=True))
    assert event["type"] == "error" and event["error"]["code"] == "model_not_found"
    assert "gpt-realtime-mini" in event["error"]["message"] and MODEL in event["error"]["message"]


def test_german_speech_is_translated_phrase_by_phrase_into_english_audio(tw: Wire):
    clip = Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav")
    tw.conn.send({"type": "session.update", "session": {"audio": {
        "input": {"transcription": {"model": "gpt-4o-transcribe"}}}}})
    tw.until("session.updated")
    tw.append(np.concatenate([_silence(400), _pcm(clip), _silence(1000)]))
    first_audio = tw.until("session.output_audio.delta")  # before close: phrase by phrase, on the pause
    tw.conn.send({"type": "session.close"})
    events = first_audio + tw.until("session.closed")
    source = "".join(e["delta"] for e in events if e["type"] == "session.input_transcript.delta")
    english = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    audio = [e for e in events if e["type"] == "session.output_audio.delta"]
    assert heard_de_leopard(source), source
    assert len(_words(english) & {"portal", "room", "used"}) >= 2, english
    pcm = np.frombuffer(b"".join(base64.b64decode(e["delta"]) for e in audio), "<i2")
    assert pcm.size > REALTIME_SAMPLE_RATE and np.abs(pcm).max() > 1000  # a second and more of speech
    assert all(e["sample_rate"] == REALTIME_SAMPLE_RATE and e["format"] == "pcm16" for e in audio)
    assert all(e["elapsed_ms"] % 200 == 0 and 0 < e["elapsed_ms"] <= 7400 for e in audio)


def test_session_close_flushes_a_phrase_still_open(client: OpenAI):
    path = SHARED_AUDIO / "multilingual" / "test_es.wav"
    if not path.is_file():
        pytest.skip(f"no {path} (the repo's sibling shared/audio/multilingual)")
    with client.realtime.translations.connect(model=MODEL) as conn:
        tw = Wire(conn)
        tw.recv()
        tw.append(_pcm(Clip.from_file(path)))  # no trailing pause: only session.close ends the phrase
        conn.send({"type": "session.close"})
        events = tw.until("session.closed")
    english = "".join(e["delta"] for e in events if e["type"] == "session.output_transcript.delta")
    # Cut at its pauses, the clip is translated in pieces, more roughly than whole (test_standin_multilingual)
    assert len({w for w in _words(english) if w.startswith(("sand", "whit", "medium", "grain"))}) >= 2, english
    assert not [e for e in events if e["type"] == "session.input_transcript.delta"]  # transcription not set
    assert [e for e in events if e["type"] == "session.output_audio.delta"]


def test_a_speaker_who_never_pauses_long_is_translated_as_they_go(tw: Wire):
    german = _pcm(Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav"))
    loud = np.flatnonzero(np.abs(german.astype(np.int32)) > 1000)
    german = german[loud[0]:loud[-1] + 1]  # without its silent ends
    gap = _silence(150)  # far shorter than the phrase pause: one long phrase without the 10 s limit
    tw.append(np.concatenate([_silence(400), german, gap, german, gap, german, _silence(1000)]))
    tw.conn.send({"type": "session.close"})
    events = tw.until("session.closed")
    texts = [e for e in events if e["type"] == "session.output_transcript.delta"]
    assert len(texts) >= 2, texts  # cut at a short pause after 10 s
    assert texts[0]["elapsed_ms"] < texts[-1]["elapsed_ms"]
