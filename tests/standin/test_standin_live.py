"""The stand-in's GPT-Live WebSocket, driven by the unchanged ``openai`` SDK (``client.live.connect()``).

Every event the server sends is checked against the SDK's own union,
``TypeAdapter(openai.types.live.ServerEvent)`` in strict mode, and for fields
the SDK models do not declare (they accept extras silently). Speech is a
real recording (``voicekit.load_sample``) streamed at microphone pace, 20 ms
per message, with silence between utterances, as a Live client streams.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.lib.live import AsyncTranscriptGrouper, TranscriptSegment
from openai.types.live import ServerEvent
from pydantic import BaseModel, TypeAdapter

from voicekit import load_sample
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.standin.live import backend as live_backend
from voicekit.standin.live.listener import TALK_OVER_MS
from voicekit.standin.live.speaker import CHUNK_MS, LEAD_MS

MODEL = "gpt-live-1"
SERVER_EVENT = TypeAdapter(ServerEvent)
CHUNK = REALTIME_SAMPLE_RATE // 50  # 20 ms
ROBOT = ("You are the voice of a small robot. Delegate every request to move the robot forward, back, left "
         "or right to the backend.")


def _no_extras(model: Any, path: str = "event") -> None:
    """Fail on any field an SDK model did not declare (a misspelt or invented field)."""
    if isinstance(model, BaseModel):
        assert not model.model_extra, f"{path} has fields the SDK does not define: {sorted(model.model_extra)}"
        for name in type(model).model_fields:
            _no_extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list):
        for k, v in enumerate(model):
            _no_extras(v, f"{path}[{k}]")


def speech(name: str) -> np.ndarray:
    """A shipped recording as 24 kHz mono int16, shape ``(n,)``."""
    return load_sample(name).to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)


class LiveWire:
    """One SDK Live connection: a microphone-paced sender and a checked record of every server event."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[dict[str, Any]] = []
        self._speech: list[np.ndarray] = []
        self._changed = asyncio.Event()
        self.sent_ms = 0.0
        """Input audio sent so far, in ms (the session timeline, at microphone pace)."""
        self._tasks = [asyncio.create_task(self._receive())]

    async def _receive(self) -> None:
        while True:
            raw = await self.conn.recv_bytes()
            event = json.loads(raw)
            _no_extras(SERVER_EVENT.validate_python(event, strict=True))
            self.events.append(event)
            self._changed.set()
            if event["type"] == "session.closed":
                return

    def start_microphone(self) -> None:
        """Stream audio from now on: queued speech, else silence, 20 ms per message at real time."""
        self._tasks.append(asyncio.create_task(self._microphone()))

    async def _microphone(self) -> None:
        t0 = time.perf_counter()
        pending = np.zeros(0, np.int16)
        sent = 0
        while True:
            if pending.size == 0 and self._speech:
                pending = self._speech.pop(0)
            chunk, pending = (pending[:CHUNK], pending[CHUNK:]) if pending.size else (np.zeros(CHUNK, np.int16), pending)
            await self.conn.session.input_audio.append(audio=base64.b64encode(chunk.astype("<i2").tobytes()).decode())
            sent += chunk.size
            self.sent_ms = 1000.0 * sent / REALTIME_SAMPLE_RATE
            await asyncio.sleep(max(0.0, t0 + sent / REALTIME_SAMPLE_RATE - time.perf_counter()))

    def say(self, pcm: np.ndarray) -> float:
        """Queue speech after what is queued; returns about where it starts on the timeline (ms)."""
        queued = sum(p.size for p in self._speech)
        self._speech.append(pcm)
        return self.sent_ms + 1000.0 * queued / REALTIME_SAMPLE_RATE

    async def wait(self, check: Callable[[list[dict[str, Any]]], Any], timeout: float = 120.0) -> Any:
        """Wait until ``check(events)`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while not (found := check(self.events)):
            if self._tasks[0].done():
                self._tasks[0].result()
                raise AssertionError(f"connection ended; got {[e['type'] for e in self.events]}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; got {[e['type'] for e in self.events][-40:]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
            except TimeoutError:
                pass
        return found

    async def next_of(self, kind: str, after: int, timeout: float = 30.0) -> dict[str, Any]:
        """The first ``kind`` event at index ``after`` or later."""
        return await self.wait(lambda ev: next((e for e in ev[after:] if e["type"] == kind), None), timeout)

    async def command(self, event: dict[str, Any], reply: str, timeout: float = 30.0) -> dict[str, Any]:
        """Send a raw client event and wait for the ``reply`` type (or ``error``) carrying its event_id."""
        n = len(self.events)
        await self.conn.send(event)
        return await self.wait(lambda ev: next((e for e in ev[n:] if e["type"] in (reply, "error")
                                                and e.get("client_event_id") == event.get("event_id")), None),
                               timeout)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def close(self) -> dict[str, Any]:
        closed = await self.command({"type": "session.close", "event_id": "evt_close"}, "session.closed")
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        ids = [e["event_id"] for e in self.events if "event_id" in e]
        assert len(ids) == len(set(ids)), "event ids repeat"
        failures = [e for e in self.of("error") if e["error"]["type"] == "server_error"]
        assert not failures, f"the stand-in failed: {failures}"
        return closed


def run_live(base_url: str, body: Callable[[LiveWire], Any], session: dict[str, Any] | None = None,
             timeout: float = 300.0) -> Any:
    """Open a Live session (``session.start`` -> ``session.started``), run ``body(wire)``, return its result."""

    async def main() -> Any:
        async with AsyncOpenAI(base_url=base_url, api_key="test-no-key", max_retries=0) as client, \
                client.live.connect(max_retries=0) as conn:
            wire = LiveWire(conn)
            if session is not None:
                await conn.session.start(session=session)  # type: ignore[arg-type]
                await wire.wait(lambda ev: any(e["type"] == "session.started" for e in ev), 30)
            return await body(wire)

    return asyncio.run(asyncio.wait_for(main(), timeout))


# -- start, configuration, errors ------------------------------------------------------


def test_start_resolves_defaults_and_refuses_bad_commands_with_the_socket_still_usable(standin_server) -> None:
    async def body(wire: LiveWire) -> None:
        early = await wire.command({"type": "session.input_audio.mute", "event_id": "e1"}, "session.input_audio.muted")
        assert early["type"] == "error" and early["error"]["code"] == "session_not_started"
        unknown = await wire.command({"type": "session.start", "event_id": "e2",
                                      "session": {"model": MODEL, "audio": {"output": {"voice": "marin", "pitch": 2}}}},
                                     "session.started")
        assert unknown["type"] == "error" and unknown["error"]["param"] == "session.audio.output.pitch"
        assert unknown["error"]["code"] == "unknown_parameter"
        wrong = await wire.command({"type": "session.start", "event_id": "e3", "session": {"model": "gpt-realtime"}},
                                   "session.started")
        assert wrong["error"]["code"] == "model_not_found" and wrong["error"]["param"] == "session.model"
        started = await wire.command({"type": "session.start", "event_id": "e4", "session": {"model": MODEL}},
                                     "session.started")
        assert started["type"] == "session.started", started
        s = started["session"]
        assert s["id"].startswith("sess_") and s["status"] == "active" and s["model"] == MODEL
        assert s["audio"] == {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}}
        assert s["delegation"] == {"type": "client", "acknowledgement_delay_ms": 0}
        assert s["instructions"] and s["store"] is False and s["expires_at"] > time.time()

        again = await wire.command({"type": "session.start", "event_id": "e5", "session": {"model": MODEL}},
                                   "session.started")
        assert again["error"]["code"] == "session_already_started"
        for field, value in (("instructions", "Be terse."), ("audio", {"output": {"voice": "cedar"}})):
            err = await wire.command({"type": "session.update", "event_id": f"u_{field}", "session": {field: value}},
                                     "session.updated")
            assert err["type"] == "error" and err["error"]["code"] == "immutable_parameter"
            assert err["error"]["param"] == f"session.{field}"
        err = await wire.command({"type": "session.update", "event_id": "u_kind",
                                  "session": {"delegation": {"type": "responses"}}}, "session.updated")
        assert err["type"] == "error" and err["error"]["param"] == "session.delegation.type"
        updated = await wire.command({"type": "session.update", "event_id": "u_ok", "session": {
            "delegation": {"type": "client", "acknowledgement_delay_ms": 250}}}, "session.updated")
        assert updated["type"] == "session.updated"
        assert updated["session"]["delegation"]["acknowledgement_delay_ms"] == 250

        await wire.conn.send_raw("{not json")  # type: ignore[attr-defined]
        await wire.wait(lambda ev: ev[-1]["type"] == "error" and ev[-1]["error"]["code"] == "invalid_json", 10)
        for kind, part in (("session.output_audio.fixture.play", "fixture"), ("decision.create", "Decisions"),
                           ("fork.session.start", "Forks"), ("transport.dtmf.send", "SIP"),
                           ("response.create", "Responses delegation")):
            err = await wire.command({"type": kind, "event_id": f"x_{kind}"}, "never")
            assert err["type"] == "error" and part.lower() in err["error"]["message"].lower(), err
        err = await wire.command({"type": "session.commentary.append", "event_id": "c_bad", "content": "Done.",
                                  "delegation_id": "dlg_nope"}, "session.commentary.appended")
        assert err["type"] == "error" and err["error"]["param"] == "delegation_id"

        muted = await wire.command({"type": "session.input_audio.mute", "event_id": "m1"}, "session.input_audio.muted")
        assert muted["type"] == "session.input_audio.muted"
        unmuted = await wire.command({"type": "session.input_audio.unmute", "event_id": "m2"},
                                     "session.input_audio.unmuted")
        assert unmuted["type"] == "session.input_audio.unmuted"
        thought = await wire.command({"type": "session.thinking.append", "event_id": "t1", "content": "The user is Ana.",
                                      "delegation_id": None}, "session.thinking.appended")
        assert thought["type"] == "session.thinking.appended" and thought["start_ms"] == thought["end_ms"]
        rule = await wire.command({"type": "session.instructions.append", "event_id": "i1", "content": "Say hi.",
                                   "delegation_id": None}, "session.instructions.appended")
        assert rule["type"] == "session.instructions.appended"
        closed = await wire.close()
        assert closed["reason"] == "close_requested" and closed["session"]["id"] == s["id"]
        assert closed["usage"]["seconds"] >= 0
        assert not wire.of("session.output_audio.delta")  # thinking is silent

    run_live(standin_server.base_url, body)


def test_startup_input_history_and_refused_startup_settings(standin_server) -> None:
    """``session.input`` comes back resolved; settings the stand-in cannot honour are refused by name."""
    history = [{"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "The user is Ana."}]},
               {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi, I am Ana."}]},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello Ana!"}]}]

    async def body(wire: LiveWire) -> None:
        refused = {
            "session.delegation.type": {"delegation": {"type": "decisions", "decisions": {"model": "x", "questions": []}}},
            "session.audio.format": {"audio": {"format": {"type": "audio/pcmu", "rate": 8000}}},
            "session.audio.output.voice": {"audio": {"output": {"voice": {"id": "voice_123"}}}},
            "session.store": {"store": True},
            "session.triggers": {"triggers": [{"type": "decisions", "event_type": "session.input_transcript.delta",
                                              "decisions": {"questions": []}}]},
            "session.input[0].content": {"input": [{"role": "user", "content": [{"text": "a"}, {"text": "b"}]}]},
            "session.delegation.responses.tools[0]": {"delegation": {"type": "responses", "responses": {
                "model": "gpt-5-mini", "tools": [{"type": "web_search"}]}}},
        }
        for k, (param, extra) in enumerate(refused.items()):
            err = await wire.command({"type": "session.start", "event_id": f"s{k}", "session": {"model": MODEL, **extra}},
                                     "session.started")
            assert err["type"] == "error" and err["error"]["param"] == param, (param, err)
        started = await wire.command({"type": "session.start", "event_id": "ok", "session": {
            "model": "gpt-live-1.1", "input": history, "instructions": "Be kind."}}, "session.started")
        assert started["type"] == "session.started", started
        assert started["session"]["input"] == history and started["session"]["instructions"] == "Be kind."
        await wire.close()

    run_live(standin_server.base_url, body)


def test_webrtc_needs_an_offer_and_unknown_sessions_and_sip_are_named(client: OpenAI, standin_server) -> None:
    """WebRTC sessions work (tests/standin/test_standin_webrtc_live.py); here what is refused, and how."""
    with pytest.raises(openai.BadRequestError, match="m=audio"):
        client.live.create(session={"model": MODEL}, transport={"type": "webrtc", "sdp": "v=0"})  # type: ignore[arg-type,typeddict-item]
    # MediaSessionConfigParam's audio has no format: "WebRTC and SIP negotiate their audio format on the media
    # transport" (the track is Opus; the stand-in's peer resamples it to 24 kHz, whatever a format said)
    with pytest.raises(openai.BadRequestError, match="audio.format") as info:
        client.live.create(session={"model": MODEL, "audio": {"format": {"type": "audio/pcm", "rate": 16000}}},  # type: ignore[typeddict-unknown-key]
                           transport={"type": "webrtc", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"})
    assert info.value.param == "session.audio.format"
    with pytest.raises(openai.NotFoundError, match="sess_123"):
        client.live.sessions.hangup("sess_123")
    r = httpx.post(f"{standin_server.base_url}/live/sessions/sess_123/accept", json={"session": {"model": MODEL}})
    assert r.status_code == 400 and "SIP" in r.json()["error"]["message"]
    with client.live.sideband.connect(session_id="sess_123", max_retries=0) as side:
        event = json.loads(side.recv_bytes())
        _no_extras(SERVER_EVENT.validate_python(event, strict=True))
        assert event["type"] == "error" and event["error"]["code"] == "session_not_found"


# -- a spoken conversation --------------------------------------------------------------


def test_conversation_transcripts_both_ways_spoken_answer_and_talk_over(standin_server) -> None:
    """Real speech in at microphone pace; a spoken answer out; talking over the model stops it."""

    async def body(wire: LiveWire) -> None:
        wire.start_microphone()
        await asyncio.sleep(0.5)
        user = speech("ls_0880.wav")
        begins = wire.say(user)
        heard = await wire.next_of("session.input_transcript.delta", 0, 120)
        assert "young man" in heard["delta"].lower()
        assert begins - 400 <= heard["start_ms"] < heard["end_ms"] <= begins + 1000 * user.size / REALTIME_SAMPLE_RATE + 500
        await wire.next_of("session.output_audio.delta", 0, 120)
        await wire.next_of("session.output_transcript.delta", 0, 30)
        # PCM16 speech, not silence: its first half second (one 100 ms delta may fall in a quiet onset)
        def opening(events: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
            deltas = [e for e in events if e["type"] == "session.output_audio.delta"]
            return deltas[:500 // CHUNK_MS] if len(deltas) >= 500 // CHUNK_MS else None

        pcm = np.concatenate([np.frombuffer(base64.b64decode(e["delta"]), dtype="<i2")
                              for e in await wire.wait(opening, 30)])
        assert pcm.size > 0 and np.abs(pcm).max() > 1000
        await asyncio.sleep(0.3)
        interrupt_at = wire.say(speech("ls_0870.wav"))  # about 6 s of speech over the model
        stop_by = interrupt_at + TALK_OVER_MS + LEAD_MS + 700  # VAD onset, the talk-over window, one tick
        n = len(wire.events)
        await wire.next_of("session.input_transcript.delta", n, 120)
        said = [e for e in wire.of("session.output_transcript.delta")]
        spoken_during = [e for e in said if stop_by < e["start_ms"] < interrupt_at + 5000]
        assert not spoken_during, f"the model kept talking over the user: {spoken_during[:3]}"
        assert any(interrupt_at <= e["start_ms"] <= stop_by for e in said), "the model was not speaking when talked over"
        usage = await wire.next_of("session.usage.updated", 0, 30)
        assert usage["usage"]["seconds"] >= 1
        closed = await wire.close()
        assert closed["usage"]["seconds"] >= usage["usage"]["seconds"]

    run_live(standin_server.base_url, body, {
        "model": MODEL, "instructions": "Answer in three or four full sentences, with details.",
        "audio": {"format": {"type": "audio/pcm", "rate": 24000}}})


def test_an_utterance_ends_when_the_client_stops_sending_audio(standin_server) -> None:
    """A client that streams only the speech (no trailing silence) still gets the transcript and an answer."""

    async def body(wire: LiveWire) -> None:
        user = np.concatenate([np.zeros(REALTIME_SAMPLE_RATE // 2, np.int16), speech("ls_0880.wav")])
        t0 = time.perf_counter()
        for k in range(0, user.size, CHUNK):
            await wire.conn.session.input_audio.append(audio=base64.b64encode(user[k:k + CHUNK].tobytes()).decode())
            await asyncio.sleep(max(0.0, t0 + (k + CHUNK) / REALTIME_SAMPLE_RATE - time.perf_counter()))
        heard = await wire.next_of("session.input_transcript.delta", 0, 120)
        assert "young man" in heard["delta"].lower()
        await wire.next_of("session.output_audio.delta", 0, 120)
        await wire.close()

    run_live(standin_server.base_url, body, {"model": MODEL})


def test_pcm_at_16_khz_in_and_out(standin_server) -> None:
    """``audio.format`` ``audio/pcm`` at 16000 Hz: input is heard, output deltas are 16 kHz PCM16."""

    async def body(wire: LiveWire) -> None:
        rate, chunk = 16_000, 320  # 20 ms
        user = load_sample("ls_0880.wav").to_mono().resample(rate).to_int16().samples.reshape(-1)
        audio = np.concatenate([np.zeros(rate // 2, np.int16), user, np.zeros(rate * 20, np.int16)])
        t0 = time.perf_counter()
        for k in range(0, audio.size, chunk):
            await wire.conn.session.input_audio.append(audio=base64.b64encode(audio[k:k + chunk].tobytes()).decode())
            await asyncio.sleep(max(0.0, t0 + (k + chunk) / rate - time.perf_counter()))
            if len(wire.of("session.output_audio.delta")) >= 2:
                break
        heard = wire.of("session.input_transcript.delta")
        assert heard and "young man" in heard[0]["delta"].lower()
        first = wire.of("session.output_audio.delta")[0]
        assert len(base64.b64decode(first["delta"])) == 2 * rate * 100 // 1000  # one 100 ms chunk at 16 kHz
        await wire.close()

    run_live(standin_server.base_url, body, {"model": MODEL, "audio": {"format": {"type": "audio/pcm", "rate": 16000}}})


def test_muted_input_is_not_heard(standin_server) -> None:
    """While muted the model hears silence: speech then is neither transcribed nor answered."""

    async def body(wire: LiveWire) -> None:
        muted = await wire.command({"type": "session.input_audio.mute", "event_id": "mute"}, "session.input_audio.muted")
        assert muted["type"] == "session.input_audio.muted"
        wire.start_microphone()
        user = speech("ls_0880.wav")
        wire.say(user)
        await asyncio.sleep(user.size / REALTIME_SAMPLE_RATE + 6.0)  # unmuted, it is transcribed in ~2 s here
        assert not wire.of("session.input_transcript.delta") and not wire.of("session.output_audio.delta")
        unmuted = await wire.command({"type": "session.input_audio.unmute", "event_id": "unmute"},
                                     "session.input_audio.unmuted")
        assert unmuted["type"] == "session.input_audio.unmuted"
        wire.say(user)
        heard = await wire.next_of("session.input_transcript.delta", 0, 120)  # the same speech, unmuted, is heard
        assert "young man" in heard["delta"].lower()
        await wire.close()

    run_live(standin_server.base_url, body, {"model": MODEL})


def test_client_delegation_round_trip(standin_server) -> None:
    """A request the instructions delegate: delegation.created, a spoken acknowledgement, the result spoken."""

    async def body(wire: LiveWire) -> None:
        wire.start_microphone()
        await asyncio.sleep(0.5)
        wire.say(speech("goforward_16k_s16le.raw"))
        created = await wire.next_of("session.delegation.created", 0, 120)
        assert created["delegation"]["target"] == "client" and created["delegation"]["id"].startswith("dlg_")
        assert created["offset_ms"] > 0
        assert "forward" in "".join(e["delta"] for e in wire.of("session.input_transcript.delta")).lower()
        n = len(wire.events)
        await wire.next_of("session.output_audio.delta", n, 60)  # the acknowledgement
        got = await wire.command({"type": "session.commentary.append", "event_id": "result",
                                  "delegation_id": created["delegation"]["id"],
                                  "content": "The robot moved ten meters forward and stopped."},
                                 "session.commentary.appended")
        assert got["type"] == "session.commentary.appended", got
        m = len(wire.events)
        await wire.next_of("session.output_audio.delta", m, 60)
        await wire.next_of("session.usage.updated", m, 90)

        def said(events: list[dict[str, Any]]) -> str:  # the acknowledgement's last words may come first
            return "".join(e["delta"] for e in events[m:] if e["type"] == "session.output_transcript.delta").lower()

        await wire.wait(lambda ev: "ten meters forward" in said(ev), 90)  # carried (issue 24, defect 8)
        await wire.close()

    run_live(standin_server.base_url, body, {
        "model": MODEL, "instructions": ROBOT, "delegation": {"type": "client", "acknowledgement_delay_ms": 0}})


def test_the_acknowledgement_says_the_request_is_being_checked_and_guesses_no_answer(standin_server) -> None:
    """Alone, SmolLM2 acknowledged a weather delegation with a made-up forecast in 50 of 60
    samples ("Paris is currently in the midst of a heatwave, with temperatures reaching 40
    degrees"); under ACK_GRAMMAR it opens as a check does, holds no digit and ends at one sentence."""

    async def body(wire: LiveWire) -> None:
        wire.start_microphone()
        await asyncio.sleep(0.5)
        wire.say(speech("goforward_16k_s16le.raw"))
        await wire.next_of("session.delegation.created", 0, 120)
        n = len(wire.events)
        await wire.next_of("session.usage.updated", n, 90)  # the acknowledgement's turn is over
        said = "".join(e["delta"] for e in wire.events[n:] if e["type"] == "session.output_transcript.delta")
        assert re.fullmatch(r"(Let me check|Let me look|One moment|I am checking|I will check)[^0-9\n.!?]*[.!]",
                            said.strip()), said
        await wire.close()

    run_live(standin_server.base_url, body, {
        "model": MODEL, "instructions": ROBOT, "delegation": {"type": "client", "acknowledgement_delay_ms": 0}})


def test_commentary_is_carried_in_the_spoken_reply(standin_server) -> None:
    """Issue 24, defect 8: the reply to "In Paris it is sunny and eighteen degrees." was
    "it's a beautiful day in paris, with a gentle breeze..." (2 of 10 replies carried it)."""
    history = [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "How is the weather in Paris?"}]},
               {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Let me check."}]}]

    async def body(wire: LiveWire) -> None:
        got = await wire.command({"type": "session.commentary.append", "event_id": "result", "delegation_id": None,
                                  "content": "In Paris it is sunny and eighteen degrees."}, "session.commentary.appended")
        assert got["type"] == "session.commentary.appended", got
        m = len(wire.events)
        await wire.next_of("session.usage.updated", m, 90)
        said = "".join(e["delta"] for e in wire.events[m:] if e["type"] == "session.output_transcript.delta").lower()
        assert "sunny" in said and "eighteen" in said, said
        await wire.close()

    run_live(standin_server.base_url, body, {"model": MODEL, "input": history})


def test_thinking_cancels_a_pending_acknowledgement(standin_server) -> None:
    """With ``acknowledgement_delay_ms``, context appended before the delay ends cancels the acknowledgement."""

    async def body(wire: LiveWire) -> None:
        wire.start_microphone()
        await asyncio.sleep(0.5)
        wire.say(speech("goforward_16k_s16le.raw"))
        created = await wire.next_of("session.delegation.created", 0, 150)
        n = wire.events.index(created)
        t0 = time.monotonic()
        got = await wire.command({"type": "session.thinking.append", "event_id": "progress", "content": "Moving.",
                                  "delegation_id": created["delegation"]["id"]}, "session.thinking.appended")
        assert got["type"] == "session.thinking.appended", got
        assert time.monotonic() - t0 < 2.0, "the thinking arrived too late to test the cancellation"
        await asyncio.sleep(4.0)  # past the 2.5 s delay
        assert not [e for e in wire.events[n:] if e["type"] == "session.output_audio.delta"]
        await wire.close()

    run_live(standin_server.base_url, body, {
        "model": MODEL, "instructions": ROBOT, "delegation": {"type": "client", "acknowledgement_delay_ms": 2500}})


# -- openai-python's examples/live/audio_transcript.py ----------------------------------


def test_sdk_example_audio_transcript_logic(standin_server, tmp_path: Path) -> None:
    """The steps of openai-python's ``examples/live/audio_transcript.py``: a 24 kHz WAV paced in 20 ms
    messages, then silence, every event pushed into ``AsyncTranscriptGrouper``; any ``error`` fails."""
    path = tmp_path / "speech.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(REALTIME_SAMPLE_RATE)
        out.writeframes(speech("ls_0880.wav").astype("<i2").tobytes())

    async def run() -> list[TranscriptSegment]:
        with wave.open(str(path), "rb") as source:
            assert (source.getnchannels(), source.getsampwidth(), source.getframerate()) == (1, 2, 24000)
            audio = source.readframes(source.getnframes())
        segments: dict[str, TranscriptSegment] = {}
        async with AsyncOpenAI(base_url=standin_server.base_url, api_key="test-no-key") as client, \
                AsyncTranscriptGrouper(backchannel_max_duration_ms=0) as transcript:
            transcript.on("segment.updated", lambda s: segments.__setitem__(s.id, s))
            async with client.live.connect(max_retries=0) as connection:
                await connection.session.start(session={
                    "model": MODEL, "audio": {"format": {"type": "audio/pcm", "rate": 24000}},
                    "instructions": "Respond briefly and naturally to the user."})
                while True:
                    event = await asyncio.wait_for(connection.recv(), timeout=30)
                    assert event.type != "error", event
                    if event.type == "session.started":
                        break

                async def receive() -> None:
                    async for event in connection:
                        assert event.type != "error", event
                        await transcript.push(event)
                        if event.type == "session.closed":
                            return

                receiver = asyncio.create_task(receive())
                try:
                    chunk_bytes = 24000 * 2 // 50
                    samples = audio + bytes(15 * 24000 * 2)
                    for offset in range(0, len(samples), chunk_bytes):
                        if receiver.done():
                            await receiver
                            break
                        chunk = samples[offset:offset + chunk_bytes]
                        await connection.session.input_audio.append(audio=base64.b64encode(chunk).decode("ascii"))
                        await asyncio.sleep(len(chunk) / (24000 * 2))
                    if receiver.done():
                        await receiver
                    await transcript.close()
                finally:
                    receiver.cancel()
                    await asyncio.gather(receiver, return_exceptions=True)
        return list(segments.values())

    segments = asyncio.run(asyncio.wait_for(run(), 180))
    speakers = [s.speaker for s in segments]
    assert "user" in speakers and "assistant" in speakers, segments
    user = next(s for s in segments if s.speaker == "user")
    assert "young man" in user.text.lower()
    assert next(s for s in segments if s.speaker == "assistant").text.strip()


def _completed_late(run_response: Callable[..., Any]) -> Callable[..., Any]:
    """``run_response`` whose final event is held back 2 s after the one before it (a test fake)."""

    def late(*args: Any, **kwargs: Any) -> Any:
        for event in run_response(*args, **kwargs):
            if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
                time.sleep(2.0)  # the events are pulled on a worker thread: only this request waits
            yield event

    return late


MOVE_TOOL = {"type": "function", "name": "move_robot", "description": "Move the robot forward, back, left or right.",
             "parameters": {"type": "object", "properties": {"direction": {"type": "string"},
                                                             "meters": {"type": "number"}},
                            "required": ["direction", "meters"]}}


@pytest.mark.parametrize("completed_late", [False, True], ids=["completed-at-once", "completed-late"])
def test_responses_delegation_returns_the_function_call_and_speaks_the_outcome(
        standin_server, monkeypatch: pytest.MonkeyPatch, completed_late: bool) -> None:
    """Responses delegation: the backend's events arrive as response.event; its function call comes back to
    the client, whose output (response.item.create + response.create) the backend turns into the spoken answer.

    The client answers at the call's ``response.output_item.done``. ``completed-late`` holds the backend's
    ``response.completed`` back until that answer has arrived, as a loaded machine can: the answer must still
    continue the same response (``previous_response_id``), not start a new one that has no such call.
    """
    if completed_late:
        monkeypatch.setattr(live_backend, "run_response", _completed_late(live_backend.run_response))

    async def body(wire: LiveWire) -> None:
        wire.start_microphone()
        await asyncio.sleep(0.5)
        wire.say(speech("goforward_16k_s16le.raw"))
        created = await wire.next_of("session.delegation.created", 0, 150)
        delegation = created["delegation"]
        assert delegation["target"] == "responses" and delegation["response_id"].startswith("resp_")

        def function_call(events: list[dict[str, Any]]) -> dict[str, Any] | None:
            for e in events:
                inner = e.get("event") or {}
                if (e["type"] == "response.event" and inner.get("type") == "response.output_item.done"
                        and inner["item"]["type"] == "function_call"):
                    assert e["delegation_id"] == delegation["id"]
                    return dict(inner["item"])
            return None

        call = await wire.wait(function_call, 120)
        assert call["name"] == "move_robot"
        err = await wire.command({"type": "session.commentary.append", "event_id": "c1", "content": "Done.",
                                  "delegation_id": delegation["id"]}, "session.commentary.appended")
        assert err["type"] == "error" and err["error"]["param"] == "delegation_id"
        n = len(wire.events)
        await wire.conn.send({"type": "response.item.create", "item": {
            "type": "function_call_output", "call_id": call["call_id"],
            "output": json.dumps({"moved_meters": 10, "status": "arrived"})}})
        await wire.conn.send({"type": "response.create"})
        done = await wire.wait(lambda ev: next((e for e in ev[n:] if e["type"] == "response.event"
                                                and e["event"]["type"] == "response.completed"), None), 120)
        assert done["delegation_id"] == delegation["id"]
        m = wire.events.index(done)
        await wire.next_of("session.output_audio.delta", m, 90)
        await wire.next_of("session.usage.updated", m, 90)
        assert "".join(e["delta"] for e in wire.events[m:] if e["type"] == "session.output_transcript.delta").strip()
        await wire.close()

    run_live(standin_server.base_url, body, {
        "model": MODEL, "instructions": ROBOT,
        "delegation": {"type": "responses", "responses": {
            "model": "gpt-5-mini", "instructions": "Call move_robot for every movement request.",
            "tools": [MOVE_TOOL], "tool_choice": "required"}}})


def test_no_import_cycles_in_the_live_standin() -> None:
    """Import arrows point one way inside ``voicekit.standin.live``, counting imports for type checking too;
    the parts import the shared state, never the connection."""
    import ast

    root = Path(__file__).resolve().parents[2]
    graph: dict[str, set[str]] = {}
    for path in (root / "voicekit" / "standin" / "live").rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        package = module.split(".") if parts[-1] == "__init__" else module.split(".")[:-1]
        deps = graph.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([node.module] if node.module else [])])
                deps.update({base, *(f"{base}.{a.name}" for a in node.names)} - ({base} if not node.module else set()))
    graph = {m: {d for d in ds if d in graph and d != m} for m, ds in graph.items()}
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        for dep in graph[module]:
            assert dep not in trail, "import cycle: " + " -> ".join([*trail[trail.index(dep):], dep])
            if dep not in done:
                visit(dep, (*trail, dep))
        done.add(module)

    for module in sorted(graph):
        visit(module, (module,))
    for part in ("listener", "speaker", "replies", "backend", "handlers.session", "handlers.audio"):
        assert "voicekit.standin.live.connection" not in graph[f"voicekit.standin.live.{part}"]


def test_delegation_rules_read_from_the_instructions() -> None:
    """The word rule that backs up SmolLM2's decision pass (``voicekit.standin.live.delegation``)."""
    from voicekit.standin.live.delegation import delegation_rules, rule_matches

    rules = delegation_rules([ROBOT + " Greet people warmly."])
    assert rules == ["Delegate every request to move the robot forward, back, left or right to the backend."]
    assert rule_matches("Go forward ten meters.", rules) and rule_matches("Turn left, please.", rules)
    assert not rule_matches("He was not an ill disposed young man.", rules)
    assert not rule_matches("Hello there!", rules)
    assert delegation_rules(["Be brief."]) == []
    blanket = delegation_rules(["Be brief. Always delegate."])
    assert rule_matches("What time is it?", blanket) and not rule_matches("", blanket)


def test_the_local_model_leaves_the_delegation_decision_to_the_rule() -> None:
    """SmolLM2's tool decision pass is near chance at delegating (it sent a dragon story to a weather
    backend, and 04b's talk-over then cut into an acknowledgement): with the stand-in's own model,
    the word rule alone decides, and the pass is not run."""
    from voicekit.standin.engines.llm import Turn
    from voicekit.standin.live.delegation import delegation_rules, wants_delegation

    class EagerLLM:  # a pass that would delegate everything
        calls = 0

        def decide(self, *args: Any, **kwargs: Any) -> object:
            EagerLLM.calls += 1
            return object()

    rules = delegation_rules(["Answer in one short sentence. Delegate every question about the weather to the backend."])
    system = Turn("system", "You are a friendly voice assistant.")
    story = [system, Turn("user", "Please tell me a long story about a dragon.")]
    weather = [system, Turn("user", "What is the weather like in Paris today?")]
    assert wants_delegation(EagerLLM(), story, rules) == (False, "none")  # type: ignore[arg-type]
    assert wants_delegation(EagerLLM(), weather, rules) == (True, "rule")  # type: ignore[arg-type]
    assert EagerLLM.calls == 0


def test_an_appended_text_far_over_the_limit_is_refused_before_it_is_tokenized() -> None:
    """Issue 24, defect 9: the 500-token limit on context appends was checked by tokenizing all of it
    (a 1 MB append first cost Whisper's tokenizer the whole megabyte)."""
    from types import SimpleNamespace

    from voicekit.standin.live.errors import LiveError
    from voicekit.standin.live.handlers.context import MAX_CONTEXT_TOKENS, _checked

    def no_tokenizing(text: str) -> int:
        raise AssertionError(f"tokenized {len(text):,} characters")

    conn = SimpleNamespace(engines=SimpleNamespace(stt=SimpleNamespace(count_tokens=no_tokenizing)))
    with pytest.raises(LiveError, match=f"at most {MAX_CONTEXT_TOKENS} tokens") as err:
        _checked(conn, {"content": "x" * 1_000_000})  # type: ignore[arg-type]
    assert err.value.param == "content"
