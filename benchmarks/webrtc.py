"""Benchmark WebRTC against the WebSocket: end of speech to the first reply audio the client gets.

Run ``.venv/bin/python benchmarks/webrtc.py`` (``--rounds N``, ``--json-only``).
It starts ``python -m voicekit serve`` on a free loopback port (a process of
its own, as a learner's stand-in is), then, in the same run and on the same
recordings (``../shared/audio`` when present, else the shipped samples), one
new session per turn on four paths:

``realtime_websocket``
    ``client.realtime.connect``; 24 kHz PCM16 appended in 40 ms chunks at real
    time; the first audible sample (peak > 300) of the deltas, played from the
    first delta's arrival without a gap.
``realtime_webrtc``
    ``client.realtime.calls.create`` and an aiortc client peer (the test
    kit's ``voicekit/webrtc/peer.py``) whose microphone track plays the same
    audio at real time; the first audible frame (peak > 300) received on the
    peer's audio track.
``live_websocket`` / ``live_webrtc``
    The same for GPT-Live (``client.live.connect``; ``client.live.create``).

Measured: ``first_audio_ms``, from the moment the recording's last sample left
the client to the first reply audio the client has, with the VAD's silence
window inside it (Realtime ``server_vad`` 500 ms; Live 400 ms). Median, p90 and
per turn, and the machine's load before and after. One unmeasured turn per
path warms the engines first. On the WebSocket the stand-in sends audio as soon
as it is made (GPT-Live: up to 250 ms before it is due); on WebRTC the audio
leaves in real time, so Live's WebRTC figure includes that pacing.

``media_path_ms``: the media path alone, one way each (``--media-only`` runs just this, in seconds,
without a server or engines): a click from the stand-in's output track to the client peer, and
from the client's microphone to the stand-in's peer.

Target (issue 21, on 2 cores): WebRTC within 50 ms of the WebSocket.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from openai import AsyncOpenAI, OpenAI
from standin import AUDIO_DIR, Progress, _free_port, load_recordings, spawn_server, wait_ready

from voicekit.audio import Clip
from voicekit.samples import load_sample, sample_names
from voicekit.webrtc.peer import ClientPeer

RATE = 24_000
CHUNK = RATE * 40 // 1000
LEAD_IN_S = 0.5
TIMEOUT_S = 90.0
AUDIBLE = 300
"""Peak (int16) that counts as audible, on every path."""
REALTIME_SESSION = {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "Answer in one short sentence."}
LIVE_SESSION = {"model": "gpt-live-1", "instructions": "Answer in one short sentence."}


def recordings() -> list[tuple[str, np.ndarray]]:
    """``(name, int16 24 kHz)``: ``../shared/audio`` when present, else the shipped samples."""
    if (AUDIO_DIR / "transcripts.tsv").is_file():
        clips = [(name, clip) for name, clip, _ref in load_recordings()]
    else:
        clips = [(name, load_sample(name)) for name in sample_names()]
    return [(name, c.to_mono().resample(RATE).to_int16().samples.reshape(-1)) for name, c in clips
            if isinstance(c, Clip)]


async def _paced_appends(send: Any, pcm: np.ndarray, stop: asyncio.Event) -> float:
    """Append ``pcm`` at real time, then silence until ``stop``; returns when the speech ended (monotonic)."""
    pcm = np.concatenate([np.zeros(int(LEAD_IN_S * RATE), np.int16), pcm])
    start = time.monotonic()
    sent = 0
    ended = 0.0
    silence = np.zeros(CHUNK, np.int16)
    while not stop.is_set():
        chunk = pcm[sent:sent + CHUNK] if sent < pcm.size else silence
        await send(base64.b64encode(chunk.tobytes()).decode("ascii"))
        sent += chunk.size
        if sent >= pcm.size and not ended:
            ended = start + pcm.size / RATE
        await asyncio.sleep(max(0.0, start + sent / RATE - time.monotonic()))
    return ended


class _Audible:
    """When a client that plays the deltas from the first one's arrival, without a gap, first
    plays a sample louder than the WebRTC path's threshold (as the peer's track is judged)."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.samples = 0

    def feed(self, b64: str) -> float:
        now = time.monotonic()
        if self.t0 is None:
            self.t0 = now
        pcm = np.frombuffer(base64.b64decode(b64), dtype="<i2")
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) > AUDIBLE)
        if loud.size:
            return max(now, self.t0 + (self.samples + int(loud[0])) / RATE)
        self.samples += pcm.size
        return 0.0


async def realtime_websocket(client: AsyncOpenAI, pcm: np.ndarray) -> float:
    async with client.realtime.connect(model=REALTIME_SESSION["model"]) as conn:
        await conn.recv()
        await conn.session.update(session={"type": "realtime", "instructions": REALTIME_SESSION["instructions"]})
        stop = asyncio.Event()
        sender = asyncio.ensure_future(_paced_appends(
            lambda b64: conn.input_audio_buffer.append(audio=b64), pcm, stop))
        try:
            async with asyncio.timeout(TIMEOUT_S):
                audible = _Audible()
                async for event in conn:
                    if event.type == "response.output_audio.delta" and (got := audible.feed(event.delta)):
                        break
        finally:
            stop.set()
        return 1000 * (got - await sender)


async def live_websocket(client: AsyncOpenAI, pcm: np.ndarray) -> float:
    async with client.live.connect() as conn:
        await conn.send({"type": "session.start", "session": LIVE_SESSION})
        stop = asyncio.Event()
        sender: asyncio.Future[float] | None = None
        audible = _Audible()
        try:
            async with asyncio.timeout(TIMEOUT_S):
                async for event in conn:
                    if event.type == "session.started":
                        sender = asyncio.ensure_future(_paced_appends(
                            lambda b64: conn.send({"type": "session.input_audio.append", "audio": b64}), pcm, stop))
                    if event.type == "session.output_audio.delta" and (got := audible.feed(event.delta)):
                        break
        finally:
            stop.set()
        assert sender is not None
        return 1000 * (got - await sender)


async def _webrtc_turn(peer: ClientPeer, pcm: np.ndarray) -> float:
    await asyncio.wait_for(peer.opened.wait(), 30)
    await asyncio.sleep(LEAD_IN_S)
    duration = peer.mic.say(pcm)
    t_queued = time.monotonic()
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        ended = peer.mic.sent_until
        if ended is not None:
            first = peer.first_sound_after(ended)
            if first is not None:
                return 1000 * (first - ended)
        if time.monotonic() > deadline:
            raise TimeoutError(f"no reply audio within {TIMEOUT_S} s (speech {duration:.1f} s from {t_queued})")
        await asyncio.sleep(0.01)


async def realtime_webrtc(client: AsyncOpenAI, pcm: np.ndarray) -> float:
    peer = ClientPeer()
    try:
        raw = await client.realtime.calls.with_raw_response.create(sdp=await peer.offer(),
                                                                   session=REALTIME_SESSION)  # type: ignore[arg-type]
        await peer.accept(raw.http_response.text)
        ms = await _webrtc_turn(peer, pcm)
        await client.realtime.calls.hangup(raw.headers["location"].rsplit("/", 1)[1])
        return ms
    finally:
        await peer.close()


async def live_webrtc(client: AsyncOpenAI, pcm: np.ndarray) -> float:
    peer = ClientPeer()
    try:
        created = await client.live.create(session=LIVE_SESSION,  # type: ignore[arg-type]
                                           transport={"type": "webrtc", "sdp": await peer.offer()})
        await peer.accept(created.transport.sdp)
        ms = await _webrtc_turn(peer, pcm)
        await client.live.sessions.hangup(created.session.id)
        return ms
    finally:
        await peer.close()


PATHS = {"realtime_websocket": realtime_websocket, "realtime_webrtc": realtime_webrtc,
         "live_websocket": live_websocket, "live_webrtc": live_webrtc}


async def media_path(clicks: int = 20) -> dict[str, Any]:
    """The media path alone, no engines: a loud 20 ms click pushed on the stand-in's output track until
    the client peer receives it, and one said on the client's microphone until the stand-in's peer
    decodes it (Opus, RTP on loopback, both jitter buffers: ``VOICEKIT_WEBRTC_JITTER_FRAMES``)."""
    from voicekit.standin.transport.links import DataChannelLink
    from voicekit.standin.transport.webrtc import Chunk, Peer

    heard_in: list[float] = []

    async def on_audio(pcm: np.ndarray) -> None:
        if int(np.abs(pcm.astype(np.int32)).max()) > 3000:
            heard_in.append(time.monotonic())

    async def on_end(reason: str) -> None:
        return None

    server = Peer(DataChannelLink(), on_audio=on_audio, on_play=lambda c, n: None, on_connected=lambda: None,
                  on_end=on_end)
    client = ClientPeer()
    await client.accept(await server.answer(await client.offer()))
    await asyncio.wait_for(server.connected.wait(), 30)
    await asyncio.sleep(1.0)
    out_ms: list[float] = []
    in_ms: list[float] = []
    for _ in range(clicks):
        t = time.monotonic()
        server.output.push(Chunk(np.full(960, 10_000, np.int16), None, None, 0))
        while (first := client.first_sound_after(t, 3000)) is None and time.monotonic() - t < 2:
            await asyncio.sleep(0.002)
        if first is not None:
            out_ms.append(1000 * (first - t))
        n, t = len(heard_in), time.monotonic()
        client.mic.say(np.full(480, 10_000, np.int16))
        while len(heard_in) == n and time.monotonic() - t < 2:
            await asyncio.sleep(0.002)
        if len(heard_in) > n:
            in_ms.append(1000 * (heard_in[n] - t))
        await asyncio.sleep(0.2)
    await client.close()
    await server.close()
    return {"stand_in_to_peer": _stats(out_ms), "peer_to_stand_in": _stats(in_ms)}


def _stats(values: list[float]) -> dict[str, Any]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(p90, 1), "n": len(ordered),
            "turns_ms": [round(v, 1) for v in values]}


async def run(base_url: str, rounds: int, progress: Progress) -> dict[str, Any]:
    turns = recordings()
    out: dict[str, Any] = {}
    async with AsyncOpenAI(base_url=base_url, api_key="benchmark-no-key", max_retries=0) as client:
        for name, path in PATHS.items():
            await path(client, turns[0][1])  # warm
            values = []
            for r in range(rounds):
                for rec_name, pcm in turns:
                    ms = await path(client, pcm)
                    progress(f"{name} round {r + 1} {rec_name}: {ms:.0f} ms")
                    values.append(ms)
            out[name] = _stats(values)
    for api in ("realtime", "live"):
        ws, rtc = out[f"{api}_websocket"], out[f"{api}_webrtc"]
        out[f"{api}_webrtc_minus_websocket_median_ms"] = round(rtc["median_ms"] - ws["median_ms"], 1)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="passes over the recordings per path (default 2)")
    parser.add_argument("--json-only", action="store_true")
    parser.add_argument("--media-only", action="store_true",
                        help="only the media path's one-way latency (no server, no engines; seconds)")
    args = parser.parse_args(argv)
    progress = Progress(args.json_only)
    os.environ.setdefault("VOICEKIT_WEBRTC_HOST", "127.0.0.1")
    if args.media_only:
        load_before = os.getloadavg()
        media = asyncio.run(media_path())
        print(json.dumps({"media_path_ms": media, "load_before": [round(x, 2) for x in load_before],
                          "load_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count()}))
        return 0
    port = _free_port()
    os.environ.setdefault("VOICEKIT_WEBRTC_HOST", "127.0.0.1")
    with tempfile.TemporaryFile() as log:
        proc = spawn_server(port, log)
        try:
            base_url = f"http://127.0.0.1:{port}/v1"
            wait_ready(OpenAI(base_url=base_url, api_key="x"), proc, port, time.perf_counter())
            load_before = os.getloadavg()
            result = asyncio.run(run(base_url, args.rounds, progress))
            result["media_path_ms"] = asyncio.run(media_path())
            result["load_before"] = [round(x, 2) for x in load_before]
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
            result["cpus"] = os.cpu_count()
            result["target"] = "WebRTC within 50 ms of the WebSocket (median)"
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
