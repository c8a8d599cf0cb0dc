"""Realtime transcription sessions on the stand-in, driven by the unchanged SDKs.

OpenAI guide "Realtime transcription": connect with ``?intent=transcription``
and no model, send ``session.update`` with ``session.type: "transcription"``,
append audio; each committed turn gets ``conversation.item.input_audio_transcription.delta``
events and a ``.completed`` one. Every server event is checked with the SDK's
models (:func:`test_standin_realtime.check_event`). Input is the recordings
shipped with voicekit (:func:`voicekit.load_sample`), so nothing is skipped.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from conftest import heard_de_leopard
from openai import AsyncOpenAI, OpenAI
from test_standin_realtime import MODEL, Wire, check_event, pcm16, silence_ms, turn_audio, types

from voicekit import load_sample, sample_transcripts
from voicekit.audio import Clip
from voicekit.metrics import wer

TRANSCRIBE = {"intent": "transcription"}


def sample(name: str) -> tuple[np.ndarray, str]:
    """A shipped recording as 24 kHz int16 ``(n,)``, with its reference transcript."""
    return pcm16(load_sample(name)), sample_transcripts()[name]


def configure(wire: Wire, **audio_input: Any) -> dict[str, Any]:
    """Send a transcription ``session.update``; returns the session of ``session.updated``."""
    extra = {k: audio_input.pop(k) for k in ("include",) if k in audio_input}
    wire.send({"type": "session.update", "session": {
        "type": "transcription", "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}, **audio_input}},
        **extra}})
    session: dict[str, Any] = wire.until("session.updated")[-1]["session"]
    return session


@pytest.fixture
def tr(client: OpenAI) -> Iterator[Wire]:
    """A transcription session opened as the Agents SDK and Pipecat open it: no model, intent=transcription."""
    with client.realtime.connect(extra_query=TRANSCRIBE) as conn:
        wire = Wire(conn)
        created = wire.recv()
        assert created["type"] == "session.created"
        yield wire
        wire.check_unique_ids()


def test_intent_transcription_without_a_model_opens_a_transcription_session(tr: Wire) -> None:
    session = tr.events[0]["session"]
    assert session["type"] == "transcription" and session["object"] == "realtime.transcription_session"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    updated = configure(tr, transcription={"model": "gpt-4o-transcribe", "language": "en"},
                        turn_detection={"type": "semantic_vad"})
    assert updated["id"] == session["id"]
    assert updated["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    assert updated["audio"]["input"]["turn_detection"] == {"type": "semantic_vad", "eagerness": "auto"}


@pytest.mark.parametrize("model", ["gpt-4o-mini-transcribe", "gpt-realtime-whisper"])
def test_intent_transcription_with_a_transcription_model_in_the_url_uses_it(client: OpenAI, model: str) -> None:
    """Issue 24, defect 4: LiveKit's streaming STT connects to
    ``/v1/realtime?intent=transcription&model=gpt-4o-mini-transcribe``; it was closed with 1008."""
    pcm, reference = sample("ls_0880.wav")
    with client.realtime.connect(model=model, extra_query=TRANSCRIBE) as conn:
        wire = Wire(conn)
        session = wire.recv()["session"]
        assert session["type"] == "transcription" and session["audio"]["input"]["transcription"]["model"] == model
        if model == "gpt-realtime-whisper":  # no VAD for this model (OpenAI: turn_detection must be null)
            assert session["audio"]["input"]["turn_detection"] is None
            wire.append(pcm, chunk_ms=200)
            wire.send({"type": "input_audio_buffer.commit"})
        else:
            wire.append(turn_audio(pcm), chunk_ms=100)
        done = wire.until("conversation.item.input_audio_transcription.completed")[-1]
        assert wer(reference, done["transcript"]) <= 0.25, done["transcript"]
    with client.realtime.connect(model="tts-1", extra_query=TRANSCRIBE) as conn:
        event = json.loads(conn.recv_bytes())
        assert event["type"] == "error" and "gpt-4o-mini-transcribe" in event["error"]["message"], event


def test_server_vad_turn_is_transcribed_with_deltas_then_completed(tr: Wire) -> None:
    pcm, reference = sample("ls_0880.wav")
    configure(tr, transcription={"model": "gpt-4o-mini-transcribe"})
    tr.append(turn_audio(pcm), chunk_ms=100)
    events = tr.until("conversation.item.input_audio_transcription.completed")
    kinds = types(events)
    order = ["input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped", "input_audio_buffer.committed",
             "conversation.item.added", "conversation.item.done",
             "conversation.item.input_audio_transcription.delta",
             "conversation.item.input_audio_transcription.completed"]
    assert [kinds.index(k) for k in order] == sorted(kinds.index(k) for k in order), kinds
    item_id = next(e for e in events if e["type"] == "input_audio_buffer.committed")["item_id"]
    added = next(e for e in events if e["type"] == "conversation.item.added")["item"]
    assert added["id"] == item_id and added["role"] == "user" and added["content"][0]["type"] == "input_audio"
    done = events[-1]
    pieces = [e["delta"] for e in events if e["type"].endswith("transcription.delta")]
    assert done["item_id"] == item_id and "".join(pieces).strip() == done["transcript"]
    assert wer(reference, done["transcript"]) <= 0.25, done["transcript"]
    # one word per delta, as notebook 01 says (issue 25 item 6: it printed one delta per segment)
    assert pieces == [(" " if k else "") + w for k, w in enumerate(done["transcript"].split())], pieces
    usage = done["usage"]
    assert usage["type"] == "tokens" and usage["input_token_details"]["audio_tokens"] >= 50 * pcm.size // 24000
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"] and usage["output_tokens"] > 0
    assert "logprobs" not in done
    assert not any(k.startswith("response.") for k in kinds)


def test_manual_commit_with_logprobs_and_clear(tr: Wire) -> None:
    pcm, reference = sample("cards_005.wav")
    session = configure(tr, transcription={"model": "gpt-4o-transcribe"}, turn_detection=None,
                        include=["item.input_audio_transcription.logprobs"])
    assert session["audio"]["input"]["turn_detection"] is None
    assert session["include"] == ["item.input_audio_transcription.logprobs"]
    tr.append(pcm[: pcm.size // 2], chunk_ms=100)
    tr.send({"type": "input_audio_buffer.clear"})
    tr.until("input_audio_buffer.cleared")
    tr.append(np.concatenate([silence_ms(300), pcm, silence_ms(300)]), chunk_ms=100)
    tr.send({"type": "input_audio_buffer.commit"})
    events = tr.until("conversation.item.input_audio_transcription.completed")
    assert "input_audio_buffer.speech_started" not in types(tr.events)
    done = events[-1]
    assert wer(reference, done["transcript"]) <= 0.34, done["transcript"]
    logprobs = done["logprobs"]
    assert logprobs and all(lp["logprob"] <= 0.0 for lp in logprobs)
    assert all(bytes(lp["bytes"]).decode() == lp["token"] for lp in logprobs)
    # one entry per word, in order: the words join into the transcript
    assert "".join(lp["token"] for lp in logprobs).split() == done["transcript"].split()
    delta_logprobs = [lp for e in events if e["type"].endswith("transcription.delta") for lp in e["logprobs"]]
    assert delta_logprobs == logprobs


def test_two_turns_complete_in_commit_order(tr: Wire) -> None:
    first, ref1 = sample("cards_001.wav")
    second, ref2 = sample("ls_0890.wav")
    configure(tr, transcription={"model": "whisper-1"}, turn_detection={"type": "server_vad", "silence_duration_ms": 400})
    tr.append(np.concatenate([turn_audio(first), turn_audio(second)]))  # faster than real time, in one append
    events = tr.until("conversation.item.input_audio_transcription.completed")
    events += tr.until("conversation.item.input_audio_transcription.completed")
    committed = [e["item_id"] for e in events if e["type"] == "input_audio_buffer.committed"]
    completed = [e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed"]
    assert [e["item_id"] for e in completed] == committed
    assert wer(ref1, completed[0]["transcript"]) <= 0.34 and wer(ref2, completed[1]["transcript"]) <= 0.25
    # whisper-1 is billed by time: usage is the committed audio's duration
    assert [e["usage"]["type"] for e in completed] == ["duration", "duration"]
    assert 1000 * second.size / 24000 < 1000 * completed[1]["usage"]["seconds"] < 1000 * second.size / 24000 + 1500


def test_no_responses_in_a_transcription_session(tr: Wire) -> None:
    for event in ({"type": "response.create"}, {"type": "response.cancel"},
                  {"type": "conversation.item.create", "item": {
                      "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi."}]}}):
        event_id = tr.send(event)
        err = tr.error()["error"]
        assert err["type"] == "invalid_request_error" and err["event_id"] == event_id
        assert "transcription session" in err["message"] and event["type"] in err["message"]
    tr.send({"type": "session.update", "session": {"type": "realtime", "instructions": "Talk."}})
    assert "transcription session" in tr.error()["error"]["message"]
    # the socket is still usable: a manual turn is transcribed
    pcm, _ = sample("cards_001.wav")
    configure(tr, turn_detection=None)
    tr.append(pcm)
    tr.send({"type": "input_audio_buffer.commit"})
    assert tr.until("conversation.item.input_audio_transcription.completed")[-1]["transcript"]


@pytest.mark.parametrize(("audio_input", "param"), [
    ({"transcription": {"model": "gpt-4o-transcribe-diarize"}}, "session.audio.input.transcription.model"),
    ({"transcription": {"model": "gpt-4o-transcribe", "language": "xx"}}, "session.audio.input.transcription.language"),
    ({"transcription": {"model": "gpt-realtime-whisper"}}, "session.audio.input.turn_detection"),
    ({"turn_detection": {"type": "server_vad", "create_reponse": False}},
     "session.audio.input.turn_detection.create_reponse"),
    ({"format": {"type": "audio/pcmu"}}, "session.audio.input.format.type"),
])
def test_bad_transcription_session_update_is_refused(tr: Wire, audio_input: dict[str, Any], param: str) -> None:
    tr.send({"type": "session.update", "session": {"type": "transcription", "audio": {"input": audio_input}}})
    err = tr.error()["error"]
    assert err["type"] == "invalid_request_error" and err["param"] == param, err
    session = configure(tr)  # unchanged
    assert session["audio"]["input"]["transcription"] == tr.events[0]["session"]["audio"]["input"]["transcription"]


def test_language_is_honoured_in_a_transcription_session(tr: Wire) -> None:
    from voicekit.samples import DATA_DIR

    pcm = pcm16(Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav"))
    session = configure(tr, transcription={"model": "gpt-4o-transcribe", "language": "de"}, turn_detection=None)
    assert session["audio"]["input"]["transcription"]["language"] == "de"
    tr.append(pcm)
    tr.send({"type": "input_audio_buffer.commit"})
    transcript = tr.until("conversation.item.input_audio_transcription.completed")[-1]["transcript"]
    assert heard_de_leopard(transcript), transcript


def test_gpt_realtime_whisper_transcribes_manual_turns(tr: Wire) -> None:
    pcm, reference = sample("ls_0880.wav")
    session = configure(tr, transcription={"model": "gpt-realtime-whisper"}, turn_detection=None)
    assert session["audio"]["input"]["transcription"]["model"] == "gpt-realtime-whisper"
    tr.append(pcm, chunk_ms=200)
    tr.send({"type": "input_audio_buffer.commit"})
    assert wer(reference, tr.until("conversation.item.input_audio_transcription.completed")[-1]["transcript"]) <= 0.25


def test_a_realtime_session_can_become_a_transcription_session(client: OpenAI) -> None:
    with client.realtime.connect(model=MODEL) as conn:
        wire = Wire(conn)
        created = wire.recv()["session"]
        session = configure(wire, transcription={"model": "gpt-4o-mini-transcribe"}, turn_detection=None)
        assert session["type"] == "transcription" and session["id"] == created["id"]
        assert session["object"] == "realtime.transcription_session" and "instructions" not in session
        wire.send({"type": "response.create"})
        assert "transcription session" in wire.error()["error"]["message"]


def test_the_beta_protocol_is_refused_clearly(client: OpenAI, tr: Wire) -> None:
    tr.send({"type": "transcription_session.update", "session": {"input_audio_format": "pcm16"}})
    err = tr.error()["error"]
    assert err["param"] == "type" and "beta" in err["message"] and "session.update" in err["message"]
    with client.realtime.connect(extra_query=TRANSCRIBE, extra_headers={"OpenAI-Beta": "realtime=v1"}) as conn:
        event = json.loads(conn.recv_bytes())
        check_event(event)
        assert event["type"] == "error" and "beta" in event["error"]["message"].lower()
        with pytest.raises(Exception, match="1008|closed|Connection"):
            conn.recv_bytes()


def test_agents_sdk_streamed_audio_input(standin_server: Any) -> None:
    """The Agents SDK's ``OpenAISTTModel`` session, unchanged, on ``StreamedAudioInput``."""
    from agents.voice import StreamedAudioInput, STTModelSettings
    from agents.voice.models.openai_stt import OpenAISTTModel

    pcm, reference = sample("ls_0890.wav")

    async def run() -> list[str]:
        client = AsyncOpenAI(base_url=standin_server.base_url, api_key="test-no-key", max_retries=0)
        audio = StreamedAudioInput()
        session = await OpenAISTTModel("gpt-4o-transcribe", client).create_session(
            audio, STTModelSettings(), trace_include_sensitive_data=False, trace_include_sensitive_audio_data=False)
        for k in range(0, (stream := turn_audio(pcm, tail_ms=1500)).size, 2400):
            await audio.add_audio(stream[k:k + 2400])
        await audio.add_audio(None)  # end of input: the SDK commits and clears, then ends the stream
        turns = [t async for t in session.transcribe_turns()]
        await session.close()
        await client.close()
        return turns

    turns = asyncio.run(asyncio.wait_for(run(), timeout=120))
    assert turns and wer(reference, turns[0]) <= 0.25, turns


def test_a_realtime_session_checks_the_transcription_language(client: OpenAI) -> None:
    with client.realtime.connect(model=MODEL) as conn:
        wire = Wire(conn)
        wire.recv()
        for language in ("xx", "de"):
            wire.send({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
                "transcription": {"model": "gpt-4o-transcribe", "language": language}}}}})
        err = wire.error()["error"]
        assert err["param"] == "session.audio.input.transcription.language" and "'xx'" in err["message"], err
        session = wire.until("session.updated")[-1]["session"]
        assert session["audio"]["input"]["transcription"]["language"] == "de"
