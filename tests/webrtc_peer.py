"""A WebRTC client peer for tests, on aiortc: a recording as the microphone, the reply recorded.

It plays the part of a browser: one audio track (a real recording resampled
to 48 kHz, paced at real time, then silence) and an ``oai-events`` data
channel. It offers loopback host candidates, as Chromium does with
``--allow-loopback-in-peer-connection`` (through the stand-in's
:mod:`voicekit.standin.transport.ice`, which aioice needs to offer them).
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from voicekit.standin.transport import ice

RATE = 48_000
FRAME = 960


class Microphone(MediaStreamTrack):
    """Plays queued int16 mono 24 kHz audio at real time (20 ms frames, 48 kHz), silence in between."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.pending = np.zeros(0, np.int16)
        self._t0: float | None = None
        self._pts = 0
        self.sent_until: float | None = None
        """time.monotonic() when the last queued sample went out."""

    def say(self, pcm24: np.ndarray) -> float:
        """Queue ``pcm24`` (int16, 24 kHz); returns its duration in s."""
        pcm48 = soxr.resample(pcm24.astype(np.float32), 24_000, RATE)
        self.pending = np.concatenate([self.pending, np.clip(pcm48, -32768, 32767).astype(np.int16)])
        return pcm24.size / 24_000

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._t0 is None:
            self._t0 = time.monotonic()
        wait = self._t0 + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        out = np.zeros(FRAME, np.int16)
        n = min(FRAME, self.pending.size)
        if n:
            out[:n] = self.pending[:n]
            self.pending = self.pending[n:]
            if not self.pending.size:
                self.sent_until = time.monotonic()
        frame = AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


class ClientPeer:
    """The test's browser: a microphone, a speaker that records, and the data channel's events."""

    def __init__(self, *, data_channel: bool = True) -> None:
        self.pc = RTCPeerConnection()
        self.mic = Microphone()
        self.pc.addTrack(self.mic)
        self.events: list[dict[str, Any]] = []
        self.heard: list[tuple[float, np.ndarray]] = []
        """(time.monotonic() on arrival, int16 mono 48 kHz) per received frame."""
        self.channel = self.pc.createDataChannel("oai-events") if data_channel else None
        self.opened = asyncio.Event()
        self.closed = asyncio.Event()
        self._waiters: list[tuple[Callable[[dict[str, Any]], bool], asyncio.Future[dict[str, Any]]]] = []
        if self.channel is not None:
            self.channel.on("open", self.opened.set)
            self.channel.on("message", self._on_message)
            self.channel.on("close", self.closed.set)
        self.pc.on("track", self._on_track)
        self._tasks: list[asyncio.Task[Any]] = []

    async def offer(self) -> str:
        ice.install()
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))

    def send(self, event: dict[str, Any]) -> None:
        assert self.channel is not None
        self.channel.send(json.dumps(event))

    def _on_message(self, message: str) -> None:
        event = json.loads(message)
        self.events.append(event)
        for pred, fut in list(self._waiters):
            if not fut.done() and pred(event):
                fut.set_result(event)

    def _on_track(self, track: Any) -> None:
        async def record() -> None:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                x = frame.to_ndarray().reshape(-1, len(frame.layout.channels)).mean(axis=1)
                self.heard.append((time.monotonic(), x.astype(np.int16)))

        self._tasks.append(asyncio.ensure_future(record()))

    async def wait(self, kind: str, timeout: float = 60.0, where: Callable[[dict[str, Any]], bool] | None = None,
                   after: int = 0) -> dict[str, Any]:
        """The first data-channel event of ``kind`` (from index ``after``) matching ``where``."""
        def pred(e: dict[str, Any]) -> bool:
            return bool(e.get("type") == kind and (where is None or where(e)))

        for event in self.events[after:]:
            if pred(event):
                return event
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((pred, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            raise AssertionError(f"no {kind} within {timeout} s; got {[e['type'] for e in self.events]}") from None

    def audio_since(self, t: float) -> np.ndarray:
        """What the speaker received after ``time.monotonic()`` ``t``: int16 48 kHz."""
        parts = [x for at, x in self.heard if at >= t]
        return np.concatenate(parts) if parts else np.zeros(0, np.int16)

    def first_sound_after(self, t: float, threshold: int = 300) -> float | None:
        """``time.monotonic()`` of the first received frame after ``t`` louder than ``threshold`` (peak)."""
        for at, x in self.heard:
            if at >= t and x.size and int(np.abs(x.astype(np.int32)).max()) > threshold:
                return at
        return None

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self.mic.stop()
        await self.pc.close()


def voiced_seconds(pcm48: np.ndarray, threshold: int = 300) -> float:
    """Seconds of 20 ms frames whose peak passes ``threshold``: how much speech was heard."""
    n = pcm48.size // FRAME
    if not n:
        return 0.0
    frames = np.abs(pcm48[: n * FRAME].astype(np.int32)).reshape(n, FRAME).max(axis=1)
    return float((frames > threshold).sum() * FRAME / RATE)
