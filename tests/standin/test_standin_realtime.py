"""The stand-in's GA Realtime WebSocket, driven by the unchanged ``openai`` SDK.

Every event the server sends is checked against the SDK's own union,
``TypeAdapter(openai.types.realtime.RealtimeServerEvent)`` in strict mode, and
for fields the SDK models do not know (they accept extras silently). The session
in ``session.created``/``session.updated`` is the SDK's request model plus the
identity fields (``id``, ``object``, ``expires_at``) that only the SDK's
``RealtimeSessionCreateResponse`` / ``RealtimeTranscriptionSessionCreateResponse``
declare; those are checked against the response models. Event ids and item ids
must be unique. Input is real speech from ``../shared/audio``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.realtime import (
    RealtimeServerEvent,
    RealtimeSessionCreateResponse,
    RealtimeTranscriptionSessionCreateResponse,
)
from pydantic import BaseModel, TypeAdapter

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.metrics import normalize_text, wer

MODEL = "gpt-realtime-mini"
SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
LEAD_IN_MS = 500
WEATHER_TOOL = {
    "type": "function", "name": "get_weather", "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


IDENTITY = ("id", "object", "expires_at")
"""Session fields only the SDK's session *response* models declare."""


def _no_extras(model: Any, path: str = "event") -> None:
    """Fail on any field an SDK model did not declare (a misspelt or invented field)."""
    if isinstance(model, BaseModel):
        extra = set(model.model_extra or ()) - (set(IDENTITY) if path == "event.session" else set())
        assert not extra, f"{path} has fields the SDK does not define: {sorted(extra)}"
        for name in type(model).model_fields:
            _no_extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for k, v in enumerate(model):
            _no_extras(v, f"{path}[{k}]")


def check_session(session: dict[str, Any]) -> None:
    """The GA session object: its identity as the SDK's session response models declare it."""
    response = {"realtime": RealtimeSessionCreateResponse,
                "transcription": RealtimeTranscriptionSessionCreateResponse}[session["type"]]
    identity = response.model_validate({"type": session["type"], **{k: session[k] for k in IDENTITY}}, strict=True)
    assert identity.id.startswith("sess_") and identity.expires_at is not None and identity.expires_at > time.time()
    assert identity.object == {"realtime": "realtime.session", "transcription": "realtime.transcription_session"}[
        session["type"]]


def check_event(event: dict[str, Any]) -> None:
    """Parse a server event with the SDK's models, strictly, and fail on undeclared fields."""
    _no_extras(SERVER_EVENT.validate_python(event, strict=True))
    if event["type"] in ("session.created", "session.updated"):
        check_session(event["session"])


def pcm16(clip: Clip) -> np.ndarray:
    """Mono int16 at 24 kHz, shape ``(n,)``."""
    return clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)


def silence_ms(ms: int) -> np.ndarray:
    return np.zeros(REALTIME_SAMPLE_RATE * ms // 1000, np.int16)


def b64(pcm: np.ndarray) -> str:
    return base64.b64encode(pcm.astype("<i2").tobytes()).decode("ascii")


class Wire:
    """One SDK connection plus a checked record of everything the server sent."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self._sent = 0

    def recv(self, timeout: float = 60.0) -> dict[str, Any]:
        raw = self.conn.recv_bytes()
        event = json.loads(raw)
        check_event(event)
        self.events.append(event)
        return event

    def until(self, kind: str, timeout: float = 90.0) -> list[dict[str, Any]]:
        """Events up to and including the first ``kind``."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got.append(self.recv())
            if got[-1]["type"] == kind:
                return got
        raise AssertionError(f"no {kind} within {timeout} s; got {[e['type'] for e in got]}")

    def send(self, event: dict[str, Any]) -> str:
        """Send a client event with an ``event_id``; returns the id."""
        self._sent += 1
        event_id = event.get("event_id") or f"evt_test_{self._sent}"
        self.conn.send({**event, "event_id": event_id})
        return event_id

    def send_raw(self, text: str) -> None:
        self.conn.send_raw(text)

    def append(self, pcm: np.ndarray, chunk_ms: int | None = None) -> None:
        step = pcm.size if chunk_ms is None else REALTIME_SAMPLE_RATE * chunk_ms // 1000
        for k in range(0, pcm.size, max(step, 1)):
            self.send({"type": "input_audio_buffer.append", "audio": b64(pcm[k:k + step])})

    def error(self) -> dict[str, Any]:
        event = self.until("error", timeout=10)[-1]
        return event

    def check_unique_ids(self) -> None:
        ids = [e["event_id"] for e in self.events]
        assert len(ids) == len(set(ids)), "event ids repeat"
        items: dict[str, str] = {}
        for e in self.events:
            if e["type"] in ("conversation.item.added", "response.output_item.added"):
                item = e["item"]
                assert items.setdefault(item["id"], item["type"]) == item["type"], f"item id {item['id']} reused"


@pytest.fixture
def rt(client: OpenAI) -> Iterator[Wire]:
    """A fresh Realtime connection whose ``session.created`` has been read and checked."""
    with client.realtime.connect(model=MODEL) as conn:
        wire = Wire(conn)
        assert wire.recv()["type"] == "session.created"
        yield wire
        wire.check_unique_ids()


@pytest.fixture(scope="module")
def speech(shared_audio: Path) -> dict[str, tuple[np.ndarray, str]]:
    """``name -> (24 kHz int16 speech, reference transcript)`` from ``../shared/audio``."""
    rows = (shared_audio / "transcripts.tsv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split("\t")
    i_file, i_ref = header.index("file"), header.index("reference_text")
    out = {}
    for row in rows[1:]:
        cols = row.split("\t")
        if cols[i_file].endswith(".wav"):
            out[cols[i_file]] = (pcm16(Clip.from_file(shared_audio / cols[i_file])), cols[i_ref])
    return out


def turn_audio(pcm: np.ndarray, tail_ms: int = 1200) -> np.ndarray:
    """Lead-in silence, the speech, then enough silence for VAD to end the turn."""
    return np.concatenate([silence_ms(LEAD_IN_MS), pcm, silence_ms(tail_ms)])


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def wav_transcript(client: OpenAI, pcm: np.ndarray) -> str:
    clip = Clip(pcm, REALTIME_SAMPLE_RATE)
    return client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=clip.to_file_tuple()).text


# -- session --------------------------------------------------------------------------


def test_session_created_has_the_ga_shape(client: OpenAI) -> None:
    with client.realtime.connect(model=MODEL) as conn:
        event = conn.recv()
    assert event.type == "session.created"
    session = event.session
    assert session.type == "realtime" and session.model == MODEL
    assert session.id.startswith("sess_")  # type: ignore[union-attr]  # push_to_talk_app.py reads event.session.id
    fmt = session.audio.input.format
    assert (fmt.type, fmt.rate) == ("audio/pcm", 24000)
    assert session.audio.output.format.type == "audio/pcm"
    assert session.audio.input.turn_detection.type == "server_vad"
    assert session.output_modalities == ["audio"]


def test_session_object_has_id_object_and_expiry(rt: Wire) -> None:
    """openai-python's push_to_talk_app.py reads ``session.id``: the GA session object carries it."""
    created = rt.events[0]["session"]
    assert created["object"] == "realtime.session" and created["id"].startswith("sess_")
    assert 55 * 60 <= created["expires_at"] - time.time() <= 60 * 60
    rt.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Be brief."}})
    updated = rt.until("session.updated")[-1]["session"]
    assert {k: updated[k] for k in ("id", "object", "expires_at")} == {k: created[k] for k in ("id", "object", "expires_at")}
    rt.send({"type": "session.update", "session": {"type": "realtime", "id": "sess_mine"}})
    err = rt.error()["error"]
    assert (err["code"], err["param"]) == ("unknown_parameter", "session.id")


@pytest.mark.parametrize(("patch", "param"), [
    ({"temprature": 0.7}, "session.temprature"),
    ({"audio": {"input": {"turn_detection": {"type": "server_vad", "silence_ms": 300}}}},
     "session.audio.input.turn_detection.silence_ms"),
    ({"audio": {"output": {"voice": "cedar", "volume": 2}}}, "session.audio.output.volume"),
])
def test_unknown_session_field_is_refused_by_name(rt: Wire, patch: dict[str, Any], param: str) -> None:
    event_id = rt.send({"type": "session.update", "session": {"type": "realtime", **patch}})
    err = rt.error()["error"]
    assert (err["type"], err["code"], err["param"], err["event_id"]) == (
        "invalid_request_error", "unknown_parameter", param, event_id)
    assert param in err["message"]
    rt.send({"type": "session.update", "session": {"type": "realtime"}})  # still usable, nothing stored
    session = rt.until("session.updated")[-1]["session"]
    assert "temprature" not in session and "volume" not in session["audio"]["output"]
    assert session["audio"]["output"]["voice"] == "alloy"
    assert "silence_ms" not in session["audio"]["input"]["turn_detection"]


def test_unknown_model_gets_an_error_and_close(client: OpenAI) -> None:
    with client.realtime.connect(model="gpt-nonexistent") as conn:
        event = json.loads(conn.recv_bytes())
        assert event["type"] == "error"
        assert event["error"]["code"] == "model_not_found" and "gpt-realtime-mini" in event["error"]["message"]
        with pytest.raises(Exception, match="1008|closed|Connection"):
            conn.recv_bytes()


def test_partial_update_merges_deeply(rt: Wire) -> None:
    rt.send({"type": "session.update", "session": {
        "type": "realtime", "instructions": "Be brief.",
        "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}}}}})
    first = rt.until("session.updated")[-1]["session"]
    td = first["audio"]["input"]["turn_detection"]
    assert td["silence_duration_ms"] == 700
    assert (td["threshold"], td["prefix_padding_ms"], td["create_response"], td["interrupt_response"]) == (0.5, 300, True, True)
    rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "cedar", "speed": 1.2}}}})
    second = rt.until("session.updated")[-1]["session"]
    assert second["instructions"] == "Be brief."
    assert second["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 700
    assert second["audio"]["output"]["voice"] == "cedar" and second["audio"]["output"]["speed"] == 1.2
    assert second["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize(("patch", "param"), [
    ({"audio": {"output": {"voice": "nobody"}}}, "voice"),
    ({"audio": {"output": {"speed": 3.0}}}, "speed"),
    ({"audio": {"input": {"format": {"type": "audio/pcmu"}}}}, "format"),
])
def test_bad_session_update_is_refused_and_changes_nothing(rt: Wire, patch: dict[str, Any], param: str) -> None:
    event_id = rt.send({"type": "session.update", "session": {"type": "realtime", **patch}})
    err = rt.error()
    assert err["error"]["event_id"] == event_id and err["error"]["type"] == "invalid_request_error"
    assert param in (err["error"]["param"] or "") + err["error"]["message"]
    rt.send({"type": "session.update", "session": {"type": "realtime"}})
    session = rt.until("session.updated")[-1]["session"]
    created = rt.events[0]["session"]["audio"]["output"]
    assert session["audio"]["output"]["voice"] == created["voice"] and session["audio"]["output"]["speed"] == 1.0


# -- errors keep the socket usable ------------------------------------------------------


def test_protocol_errors_have_the_documented_shape_and_the_socket_stays_open(rt: Wire) -> None:
    cases: list[tuple[str, str]] = []
    rt.send_raw("{not json")
    cases.append(("invalid_json", rt.error()["error"]["code"]))
    rt.send_raw(json.dumps({"type": "response.audio.delta", "event_id": "beta"}))  # a beta name
    err = rt.error()["error"]
    cases.append(("invalid_value", err["code"]))
    assert err["param"] == "type" and err["event_id"] == "beta"
    rt.send({"type": "input_audio_buffer.append", "audio": "not base64!"})
    cases.append(("invalid_value", rt.error()["error"]["code"]))
    rt.send({"type": "input_audio_buffer.append", "audio": base64.b64encode(b"\x01\x02\x03").decode()})
    odd = rt.error()["error"]
    assert "PCM16" in odd["message"] or "even" in odd["message"]
    rt.send({"type": "conversation.item.retrieve", "item_id": "item_missing"})
    cases.append(("item_retrieve_invalid_item_id", rt.error()["error"]["code"]))
    rt.send({"type": "conversation.item.delete", "item_id": "item_missing"})
    cases.append(("item_delete_invalid_item_id", rt.error()["error"]["code"]))
    rt.send({"type": "conversation.item.truncate", "item_id": "item_missing", "content_index": 0, "audio_end_ms": 10})
    cases.append(("item_truncate_invalid_item_id", rt.error()["error"]["code"]))
    rt.send({"type": "input_audio_buffer.commit"})
    empty = rt.error()["error"]
    cases.append(("input_audio_buffer_commit_empty", empty["code"]))
    assert "100ms" in empty["message"]
    rt.send({"type": "response.cancel"})
    cases.append(("response_cancel_not_active", rt.error()["error"]["code"]))
    for want, got in cases:
        assert got == want
    # Still usable: a text turn gets a reply.
    rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say hello."}]}})
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"]}})
    events = rt.until("response.done")
    errors = [e for e in events if e["type"] == "error"]
    assert [e["error"]["code"] for e in errors] == ["conversation_already_has_active_response"]
    assert events[-1]["response"]["status"] in ("completed", "incomplete")


# -- server VAD turns ----------------------------------------------------------------


def test_server_vad_turn_on_real_speech(rt: Wire, client: OpenAI, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    pcm, reference = speech["ls_0880.wav"]
    rt.send({"type": "session.update", "session": {
        "type": "realtime", "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    rt.until("session.updated")
    rt.append(turn_audio(pcm), chunk_ms=100)
    events = rt.until("response.done")
    kinds = types(events)
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
    speech_ms = 1000 * pcm.size / REALTIME_SAMPLE_RATE
    assert LEAD_IN_MS - 100 < started["audio_start_ms"] < LEAD_IN_MS + 600  # the recording starts with a short pause
    assert LEAD_IN_MS + speech_ms < stopped["audio_end_ms"] < LEAD_IN_MS + speech_ms + 900
    assert started["item_id"] == stopped["item_id"]
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    assert committed["item_id"] == stopped["item_id"]
    # The response follows the documented order.
    order = ["response.created", "response.output_item.added", "response.content_part.added",
             "response.output_audio.delta", "response.output_audio.done", "response.output_audio_transcript.done",
             "response.content_part.done", "response.output_item.done", "response.done"]
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions), kinds
    # Input transcription is Whisper's, close to the reference.
    if "conversation.item.input_audio_transcription.completed" not in kinds:
        events += rt.until("conversation.item.input_audio_transcription.completed")
    done_t = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
    assert done_t["item_id"] == committed["item_id"]
    assert wer(reference, done_t["transcript"]) <= 0.25
    # The reply's audio says what its transcript says, and usage counts it.
    audio = np.concatenate([np.frombuffer(base64.b64decode(e["delta"]), "<i2")
                            for e in events if e["type"] == "response.output_audio.delta"])
    spoken = next(e for e in events if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert audio.size > REALTIME_SAMPLE_RATE // 2
    assert wer(spoken, wav_transcript(client, audio)) <= 0.35
    usage = events[-1]["response"]["usage"]
    out_audio_tokens = usage["output_token_details"]["audio_tokens"]
    assert abs(out_audio_tokens - 50 * audio.size / REALTIME_SAMPLE_RATE) <= 2
    assert usage["input_token_details"]["audio_tokens"] > 0 and usage["input_token_details"]["text_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_vad_works_on_the_audio_timeline_not_the_clock(client: OpenAI, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    """One append or 20 ms appends: the same speech_started/stopped times."""
    pcm = turn_audio(speech["cards_001.wav"][0])
    marks = []
    for chunk_ms in (None, 20):
        with client.realtime.connect(model=MODEL) as conn:
            wire = Wire(conn)
            wire.recv()
            wire.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
                "turn_detection": {"type": "server_vad", "create_response": False}}}}})
            wire.until("session.updated")
            wire.append(pcm, chunk_ms=chunk_ms)
            events = wire.until("input_audio_buffer.committed")
            marks.append([(e["type"], e.get("audio_start_ms"), e.get("audio_end_ms"))
                          for e in events if e["type"].startswith("input_audio_buffer.speech")])
    assert marks[0] == marks[1] and len(marks[0]) == 2


def test_manual_commit_when_turn_detection_is_null(rt: Wire, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    pcm, reference = speech["cards_002.wav"]
    rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    assert rt.until("session.updated")[-1]["session"]["audio"]["input"]["turn_detection"] is None
    rt.append(turn_audio(pcm), chunk_ms=100)
    rt.send({"type": "input_audio_buffer.clear"})
    rt.until("input_audio_buffer.cleared")
    rt.append(pcm, chunk_ms=100)
    rt.send({"type": "input_audio_buffer.commit"})
    events = rt.until("conversation.item.input_audio_transcription.completed")
    assert "input_audio_buffer.speech_started" not in types(rt.events)
    # 4 words with homophones ("four"/"for", "clubs"/"clothes"): one or two may go wrong
    assert wer(reference, events[-1]["transcript"]) <= 0.5
    committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
    # No data lost: the committed item holds exactly the audio sent after the clear.
    rt.send({"type": "conversation.item.retrieve", "item_id": committed["item_id"]})
    item = rt.until("conversation.item.retrieved")[-1]["item"]
    got = np.frombuffer(base64.b64decode(item["content"][0]["audio"]), "<i2")
    np.testing.assert_array_equal(got, pcm)
    rt.send({"type": "response.create"})
    assert rt.until("response.done")[-1]["response"]["status"] in ("completed", "incomplete")


def test_vad_turned_on_again_keeps_the_session_timeline(rt: Wire, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    rt.until("session.updated")
    manual, _ = speech["cards_001.wav"]
    rt.append(manual, chunk_ms=100)
    rt.send({"type": "input_audio_buffer.commit"})
    rt.until("conversation.item.input_audio_transcription.completed")
    rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "create_response": False}}}}})
    rt.until("session.updated")
    pcm, reference = speech["ls_0880.wav"]
    rt.append(turn_audio(pcm), chunk_ms=100)
    events = rt.until("conversation.item.input_audio_transcription.completed")
    started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
    offset_ms = 1000 * manual.size / REALTIME_SAMPLE_RATE
    # audio_start_ms counts from the session's first audio, manual turns included
    assert offset_ms + LEAD_IN_MS - 100 <= started["audio_start_ms"] <= offset_ms + LEAD_IN_MS + 400
    assert wer(reference, events[-1]["transcript"]) <= 0.5, events[-1]["transcript"]


# -- conversation ----------------------------------------------------------------------


def test_items_create_retrieve_delete(rt: Wire, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    pcm, reference = speech["cards_004.wav"]
    rt.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
        "transcription": {"model": "gpt-4o-mini-transcribe"}}}}})
    rt.until("session.updated")
    rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": b64(pcm)}]}})
    added = rt.until("conversation.item.added")[-1]
    item_id = added["item"]["id"]
    assert added["previous_item_id"] is None
    done = rt.until("conversation.item.input_audio_transcription.completed")[-1]
    assert done["item_id"] == item_id and wer(reference, done["transcript"]) <= 0.34
    rt.send({"type": "conversation.item.create", "item": {
        "id": "item_mine", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi."}]}})
    second = rt.until("conversation.item.added")[-1]
    assert second["item"]["id"] == "item_mine" and second["previous_item_id"] == item_id
    rt.send({"type": "conversation.item.delete", "item_id": item_id})
    assert rt.until("conversation.item.deleted")[-1]["item_id"] == item_id
    rt.send({"type": "conversation.item.retrieve", "item_id": item_id})
    assert rt.error()["error"]["code"] == "item_retrieve_invalid_item_id"


def test_an_item_text_over_the_limit_is_refused_with_an_error_naming_it(rt: Wire) -> None:
    """Issue 24, defect 9: a 1 MB text item was answered conversation.item.added."""
    from voicekit.standin.realtime.items import MAX_ITEM_TEXT_CHARS

    big = "All work and no play. " * (1_000_000 // 22)
    rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi."}, {"type": "input_text", "text": big}]}})
    err = rt.error()["error"]
    assert err["code"] == "string_above_max_length" and err["param"] == "item.content[1].text", err
    assert f"maximum length {MAX_ITEM_TEXT_CHARS}" in err["message"] and f"length {len(big)}" in err["message"]
    rt.send({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_1", "output": big}})
    assert rt.error()["error"]["param"] == "item.output"
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"], "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": big}]}]}})
    assert rt.error()["error"]["param"] == "response.input[0].content[0].text"
    rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "x" * MAX_ITEM_TEXT_CHARS}]}})
    assert rt.until("conversation.item.added")[-1]["previous_item_id"] is None  # nothing refused was added


def test_text_only_response_with_overrides(rt: Wire) -> None:
    rt.send({"type": "conversation.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "What colour is the sky?"}]}})
    rt.send({"type": "response.create", "response": {
        "output_modalities": ["text"], "instructions": "Answer in one short sentence.",
        "max_output_tokens": 40, "metadata": {"lesson": "4"}}})
    events = rt.until("response.done")
    kinds = types(events)
    assert "response.output_text.delta" in kinds and "response.output_text.done" in kinds
    assert not any("audio" in k for k in kinds)
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text and text == next(e for e in events if e["type"] == "response.output_text.done")["text"]
    response = events[-1]["response"]
    assert response["metadata"] == {"lesson": "4"} and response["max_output_tokens"] == 40
    assert response["usage"]["output_tokens"] <= 40 and response["usage"]["output_token_details"]["audio_tokens"] == 0


def test_out_of_band_response_leaves_the_conversation_alone(rt: Wire) -> None:
    rt.send({"type": "response.create", "response": {
        "conversation": "none", "output_modalities": ["text"], "max_output_tokens": 20,
        "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Say yes."}]}]}})
    events = rt.until("response.done")
    assert events[-1]["response"]["conversation_id"] is None
    assert "conversation.item.added" not in types(events)


def test_tool_call_round_trip(rt: Wire) -> None:
    rt.send({"type": "session.update", "session": {"type": "realtime", "tools": [WEATHER_TOOL], "tool_choice": "auto"}})
    rt.until("session.updated")
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "What is the weather like in Paris today?"}]}})
    rt.send({"type": "response.create", "response": {"tool_choice": {"type": "function", "name": "get_weather"}}})
    events = rt.until("response.done")
    args_done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.function_call_arguments.delta")
    assert deltas == args_done["arguments"] and args_done["name"] == "get_weather"
    assert json.loads(args_done["arguments"])["city"].lower() == "paris"
    call = events[-1]["response"]["output"][0]
    assert call["type"] == "function_call" and call["call_id"] == args_done["call_id"]
    rt.send({"type": "conversation.item.create", "item": {
        "type": "function_call_output", "call_id": call["call_id"], "output": json.dumps({"forecast": "sunny", "celsius": 21})}})
    rt.until("conversation.item.added")
    # SmolLM2-135M samples (temperature 0.2); plain instructions make it use the tool's output
    rt.send({"type": "response.create", "response": {
        "instructions": "Tell the user the forecast and the temperature from the get_weather result."}})
    answer = rt.until("response.done")
    transcript = next(e for e in answer if e["type"] == "response.output_audio_transcript.done")["transcript"]
    assert "response.output_audio.delta" in types(answer)
    assert "sunny" in transcript.lower() or "21" in transcript


def test_response_cancel(rt: Wire) -> None:
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Tell me a long story about a dragon."}]}})
    rt.send({"type": "response.create"})
    rt.until("response.output_audio.delta")
    rt.send({"type": "response.cancel"})
    done = rt.until("response.done")[-1]["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "client_cancelled"


# -- barge-in --------------------------------------------------------------------------


def test_barge_in_cancels_and_truncate_cuts_to_what_was_heard(rt: Wire, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Tell me about the history of trains in three sentences."}]}})
    rt.send({"type": "response.create"})
    first = rt.until("response.output_audio.delta")
    item_id = first[-1]["item_id"]
    # The user talks over the reply (server_vad, interrupt_response on by default).
    rt.append(turn_audio(speech["cards_005.wav"][0]))
    events = rt.until("input_audio_buffer.speech_started")
    while True:
        events.append(rt.recv())
        if events[-1]["type"] == "response.done":
            break
    cancelled = events[-1]["response"]
    assert cancelled["status"] == "cancelled" and cancelled["status_details"]["reason"] == "turn_detected"
    received = sum(np.frombuffer(base64.b64decode(e["delta"]), "<i2").size
                   for e in first + events if e["type"] == "response.output_audio.delta")
    heard_ms = min(150, received * 1000 // REALTIME_SAMPLE_RATE)
    rt.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
             "audio_end_ms": received * 1000 // REALTIME_SAMPLE_RATE + 500})
    assert rt.error()["error"]["code"] == "invalid_value"
    rt.send({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": heard_ms})
    truncated = rt.until("conversation.item.truncated")[-1]
    assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, heard_ms)
    rt.send({"type": "conversation.item.retrieve", "item_id": item_id})
    item = rt.until("conversation.item.retrieved")[-1]["item"]
    kept = base64.b64decode(item["content"][0]["audio"])
    assert len(kept) // 2 == REALTIME_SAMPLE_RATE * heard_ms // 1000
    # The interrupting turn gets its own reply.
    assert rt.until("response.done")[-1]["response"]["status"] in ("completed", "incomplete")


# -- the async client ------------------------------------------------------------------


def test_async_client_turn(standin_server: Any, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    async def main() -> list[str]:
        client = AsyncOpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0)
        seen: list[str] = []
        async with client.realtime.connect(model=MODEL) as conn:
            await conn.session.update(session={"type": "realtime", "output_modalities": ["text"]})
            await conn.input_audio_buffer.append(audio=b64(turn_audio(speech["cards_001.wav"][0])))
            async for event in conn:
                _no_extras(SERVER_EVENT.validate_python(event.model_dump(mode="json", exclude_unset=True), strict=True))
                seen.append(event.type)
                if event.type == "response.done":
                    assert event.response.status in ("completed", "incomplete")
                    break
        await client.close()
        return seen

    seen = asyncio.run(asyncio.wait_for(main(), 120))
    assert seen[0] == "session.created" and "response.output_text.delta" in seen
    assert seen.index("input_audio_buffer.speech_stopped") < seen.index("response.created")


def test_idle_timeout_prompts_the_user(rt: Wire) -> None:
    rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "audio": {"input": {
        "turn_detection": {"type": "server_vad", "idle_timeout_ms": 600}}}}})
    rt.until("session.updated")
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Hello."}]}})
    rt.send({"type": "response.create", "response": {"max_output_tokens": 30}})
    rt.until("response.done")
    rt.append(silence_ms(300))
    started = time.monotonic()
    events = rt.until("input_audio_buffer.timeout_triggered", timeout=10)
    assert time.monotonic() - started >= 0.25
    trig = events[-1]
    assert trig["audio_end_ms"] >= trig["audio_start_ms"]
    assert rt.until("response.done")[-1]["response"]["status"] in ("completed", "incomplete")


def test_turn_detector_reports_the_pause_that_ends_the_turn(speech: dict[str, tuple[np.ndarray, str]]) -> None:
    """``speech_paused`` (internal, for speculative Whisper) comes before the stop, at the same silence onset."""
    from voicekit.standin.realtime.session import VadTiming, vad_timing
    from voicekit.vad import TurnDetector

    timing = vad_timing({"type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
                         "create_response": True, "interrupt_response": True})
    assert isinstance(timing, VadTiming)
    pcm = turn_audio(speech["ls_0890.wav"][0])
    events = []
    detector = TurnDetector(timing)
    for k in range(0, pcm.size, 960):
        events += detector.feed(pcm[k:k + 960])
    kinds = [e.kind for e in events]
    assert kinds[0] == "speech_started" and kinds[-1] == "speech_stopped" and kinds.count("speech_stopped") == 1
    stop = events[-1]
    last_pause = [e for e in events if e.kind == "speech_paused"][-1]
    assert last_pause.ms == stop.pause_ms and stop.ms - stop.pause_ms >= 500


@pytest.mark.parametrize(("text", "pieces", "rest"), [
    ("Hello there. I am", ["Hello there."], "I am"),
    ("Sure, I can help with that. Next", ["Sure, I can help", "with that."], "Next"),
    ("Yes, it is. Next", ["Yes, it is."], "Next"),
    ("The weather in Paris is mild today, with sun. Later", ["The weather in Paris is mild today,", "with sun."], "Later"),
    ("The queen of hearts is a classic card game that has been played. X",
     ["The queen of hearts is a classic card game", "that has been played."], "X"),
    ("The queen of hearts is a classic card game that", [], "The queen of hearts is a classic card game that"),
    ("The Queen of Clothes is a legendary character from the realm", ["The Queen of Clothes is a legendary character"],
     "from the realm"),
    ("Seven clubs are: 7, 11", ["Seven clubs are:"], "7, 11"),
    ("Supercalifragilisticexpialidocious words never stop coming here", ["Supercalifragilisticexpialidocious words never"],
     "stop coming here"),
])
def test_first_audio_waits_for_a_phrase_not_a_sentence(text: str, pieces: list[str], rest: str) -> None:
    from voicekit.standin.realtime.response import speakable

    assert speakable(text, first=True) == (pieces, rest)
    later, _ = speakable(text, first=False)
    assert all(p.endswith((".", "!", "?")) for p in later)


def test_incomplete_and_failed_responses(rt: Wire) -> None:
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Describe the sea in detail."}]}})
    rt.send({"type": "response.create", "response": {"max_output_tokens": 3}})
    cut = rt.until("response.done")[-1]["response"]
    assert cut["status"] == "incomplete" and cut["status_details"]["reason"] == "max_output_tokens"
    assert cut["usage"]["output_token_details"]["text_tokens"] <= 3
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "word " * 5000}]}})
    rt.send({"type": "response.create"})
    failed = rt.until("response.done")[-1]["response"]
    assert failed["status"] == "failed"
    assert failed["status_details"]["error"]["code"] == "context_length_exceeded"


def test_auto_truncation_drops_the_oldest_turns_to_fit_the_context(rt: Wire) -> None:
    for i in range(8):  # about 8 x 400 tokens: more than SmolLM2's 2,048-token window
        rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": f"Note {i}: " + "the sea is wide and deep " * 70}]}})
    rt.send({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [
        {"type": "input_text", "text": "Say hello."}]}})
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"], "max_output_tokens": 20}})
    fitted = rt.until("response.done")[-1]["response"]
    assert fitted["status"] in ("completed", "incomplete"), fitted.get("status_details")
    assert 0 < fitted["usage"]["input_tokens"] <= 2048, fitted
    rt.send({"type": "session.update", "session": {"type": "realtime", "truncation": "disabled"}})
    assert rt.until("session.updated")[-1]["session"]["truncation"] == "disabled"
    rt.send({"type": "response.create", "response": {"output_modalities": ["text"], "max_output_tokens": 20}})
    failed = rt.until("response.done")[-1]["response"]
    assert failed["status"] == "failed" and failed["status_details"]["error"]["code"] == "context_length_exceeded"


def test_drop_oldest_turns_keeps_the_instructions_and_starts_at_a_user_turn() -> None:
    from voicekit.standin.engines.llm import Turn
    from voicekit.standin.realtime.response import drop_oldest_turns

    turns = [Turn("system", "be brief"), Turn("user", "a"), Turn("assistant", "b"), Turn("user", "c"),
             Turn("tool", "d", tool_name="f"), Turn("user", "e")]
    assert [t.content for t in drop_oldest_turns(turns) or []] == ["be brief", "c", "d", "e"]
    assert [t.content for t in drop_oldest_turns(turns[1:4]) or []] == ["c"]
    assert drop_oldest_turns([Turn("system", "x"), Turn("user", "only")]) is None


def _paced(rt: Wire, pcm: np.ndarray, chunk_ms: int = 40) -> None:
    """Send like a microphone: ``chunk_ms`` of audio every ``chunk_ms`` of wall time."""
    step = REALTIME_SAMPLE_RATE * chunk_ms // 1000
    start = time.monotonic()
    for i, k in enumerate(range(0, pcm.size, step)):
        time.sleep(max(0.0, start + i * chunk_ms / 1000 - time.monotonic()))
        rt.send({"type": "input_audio_buffer.append", "audio": b64(pcm[k:k + step])})


def test_the_reply_starts_during_the_silence_window(rt: Wire, speech: dict[str, tuple[np.ndarray, str]],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "voicekit.standin.realtime")
    rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
             "max_output_tokens": 30, "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                            "silence_duration_ms": 1200}}}}})
    rt.until("session.updated")
    # the window leaves Whisper (about 0.35 s on this clip) room even on a busy machine
    _paced(rt, turn_audio(speech["ls_0880.wav"][0], tail_ms=1500))
    events = rt.until("response.done")
    assert "the reply comes from the head start" in caplog.text  # the LLM began before speech_stopped
    done = events[-1]["response"]
    assert done["status"] in ("completed", "incomplete") and done["usage"]["output_tokens"] > 0
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text.strip() and text == done["output"][0]["content"][0]["text"]


def test_a_head_start_is_dropped_when_the_user_talks_again(rt: Wire, speech: dict[str, tuple[np.ndarray, str]],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, "voicekit.standin.realtime")
    rt.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
             "max_output_tokens": 30, "audio": {"input": {"transcription": {"model": "gpt-4o-mini-transcribe"},
                                                          "turn_detection": {"type": "server_vad",
                                                                             "silence_duration_ms": 1800}}}}})
    rt.until("session.updated")
    first, second = speech["cards_001.wav"][0], speech["cards_005.wav"][0]
    # a 1 s pause inside one turn: long enough for Whisper and a head start, shorter than the window
    _paced(rt, np.concatenate([silence_ms(LEAD_IN_MS), first, silence_ms(1000), second, silence_ms(2100)]))
    events = rt.until("response.done")
    assert "dropped" in caplog.text
    assert types(events).count("input_audio_buffer.speech_stopped") == 1
    done = "conversation.item.input_audio_transcription.completed"
    transcript = next((e for e in events if e["type"] == done), None) or rt.until(done)[-1]
    words = normalize_text(transcript["transcript"]).split()
    assert len(words) >= 8 and "hearts" in words, words  # the reply was to both parts, not the first alone


# -- the server's own responses ------------------------------------------------------------


def test_vad_responses_never_report_an_error_the_server_caused(client: OpenAI, speech: dict[str, tuple[np.ndarray, str]]) -> None:
    """Bug 4 (issue 15): three turns sent faster than real time, create_response and
    interrupt_response on; turns 2 and 3 commit while turn 1's response is running or
    winding down. No ``conversation_already_has_active_response`` (or any) error may come,
    and the last turn is answered."""
    turns = [speech[name][0] for name in ("cards_001.wav", "cards_002.wav", "cards_003.wav")]
    audio = np.concatenate([turn_audio(pcm, tail_ms=700) for pcm in turns])
    with client.realtime.connect(model=MODEL) as conn:
        wire = Wire(conn)
        wire.recv()
        wire.send({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"],
                                                          "audio": {"input": {"turn_detection": {
                                                              "type": "server_vad", "create_response": True,
                                                              "interrupt_response": True}}}}})
        wire.until("session.updated")
        wire.append(audio, chunk_ms=100)
        wire.append(silence_ms(1000), chunk_ms=100)
        # VAD runs as each append is read, so every turn has committed before this is answered
        events = wire.until("session.updated") if wire.send({"type": "session.update", "session": {
            "type": "realtime"}}) else []
        commits = [k for k, e in enumerate(events) if e["type"] == "input_audio_buffer.committed"]
        assert len(commits) >= 3, types(events)
        while events[-1]["type"] != "response.done" or not any(  # the response that answers the last turn
                e["type"] == "response.created" and e["response"]["id"] == events[-1]["response"]["id"]
                for e in events[commits[-1]:]):
            events.append(wire.recv())
        errors = [e for e in events if e["type"] == "error"]
        assert not errors, errors
        # anything the server still had queued comes before the answer to this probe
        wire.send({"type": "conversation.item.retrieve", "item_id": events[commits[-1]]["item_id"]})
        probe = wire.until("conversation.item.retrieved")
        assert "error" not in types(probe), probe
        events += probe
        wire.check_unique_ids()
    created = [e["response"]["id"] for e in events if e["type"] == "response.created"]
    done = [e["response"]["id"] for e in events if e["type"] == "response.done"]
    assert created == done  # one response at a time, each finished


# -- layout ---------------------------------------------------------------------------------


def test_no_import_cycles_in_the_standin() -> None:
    """Issue 13: import arrows point one way from voicekit.standin.realtime, through every
    stand-in module it reaches (handlers never import connection)."""
    import ast

    root = Path(__file__).resolve().parents[2] / "voicekit"
    graph: dict[str, set[str]] = {}
    for path in (root / "standin").rglob("*.py"):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_pkg else parts)
        package = module.split(".") if is_pkg else module.split(".")[:-1]
        deps = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                deps.update({target, *(f"{target}.{a.name}" for a in node.names)})
                if node.module is None:  # ``from . import x``: the submodules, not the package's __init__
                    deps.discard(target)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
    graph = {module: {d for d in deps if d in graph and d != module} for module, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph[module]):
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail[trail.index(dep):], dep]))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[module] = 2

    for module in sorted(m for m in graph if m.startswith("voicekit.standin.realtime")):
        if module not in state:  # everything the Realtime stand-in imports, directly or not
            visit(module, [module])
    assert "voicekit.standin.realtime.connection" not in graph["voicekit.standin.realtime.handlers"]


# -- unknown WebSocket paths ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/realtime/nope", "/v1/unknown", "/v1/models"])
def test_unknown_websocket_path_gets_openai_404_not_403(standin_server: Any, path: str) -> None:
    """Bug 7 (issue 15): a 403 handshake looks like a credentials problem; OpenAI answers 404 ``unknown_url``."""
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    url = standin_server.base_url.replace("http", "ws", 1).rsplit("/v1", 1)[0] + path
    with pytest.raises(InvalidStatus) as caught:
        connect(url, open_timeout=10).close()
    response = caught.value.response
    assert response.status_code == 404
    body = json.loads(response.body)
    assert body["error"]["code"] == "unknown_url" and path in body["error"]["message"]
    assert body["error"]["type"] == "invalid_request_error"
