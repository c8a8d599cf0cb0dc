"""A WebRTC client peer on aiortc: a recording as the microphone, the reply recorded.

It plays the part of a browser where there is none (the tests, the benchmarks, and a
notebook run by nbval or with no one to press Call): :class:`ClientPeer` on an
asyncio loop, :class:`KernelPeer` the same from a notebook cell (its own thread). It
needs aiortc (the ``standin`` extra). Like a browser, one audio track (a real recording resampled
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
from typing import Any, Self

import numpy as np
import soxr
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

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

    def __init__(self, *, data_channel: bool = True, loopback: bool = True) -> None:
        self.loopback = loopback
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
        if self.loopback:  # the stand-in on this machine: offer loopback candidates, as Chromium's flag does
            from ..standin.transport import ice

            ice.install()
        from ..standin.transport.webrtc import shorten_jitter_buffer

        shorten_jitter_buffer(self.pc)  # a browser's adaptive buffer is short on loopback; aiortc's holds 80 ms
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


class KernelPeer:
    """A :class:`ClientPeer` driven from a notebook cell: it calls a
    :class:`voicekit.webrtc.Call` as the page's widget would, on its own thread.

    Use it where no browser presses Call (nbval, Run All in a script): it makes a real
    WebRTC call, so what a cell asserts about the reply was heard on a real track.
    Close it (or use ``with``) to stop its thread; closing hangs up nothing by itself.
    """

    def __init__(self) -> None:
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="voicekit-kernel-peer", daemon=True)
        self._thread.start()
        self.peer: ClientPeer = self._run(self._make())
        self.said_until: float | None = None
        self.dialed: float | None = None
        """time.monotonic() when :meth:`dial` was called."""
        """time.monotonic() when the last :meth:`wait_for_reply` returned."""

    async def _make(self) -> ClientPeer:
        return ClientPeer()

    def _run(self, coro: Any, timeout: float = 60.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def dial(self, call: Any, *, timeout: float = 30.0) -> str:
        """Call ``call`` (a :class:`voicekit.webrtc.Call`): offer, answer, sideband joined.
        With an ephemeral-key Call, post the offer with the minted key, as the page does.
        Returns the call id."""
        from urllib.parse import urlparse

        self.dialed = time.monotonic()
        # a server on this machine (the stand-in) is reached on loopback; OpenAI on the machine's own addresses
        self.peer.loopback = urlparse(str(call.client.base_url)).hostname in ("127.0.0.1", "localhost", "::1")
        offer = self._run(self.peer.offer())
        if not call.ephemeral:
            return str(call.answer(offer, lambda sdp: self._run(self.peer.accept(sdp)), timeout=timeout))
        import httpx

        key, url = call.mint_key()
        r = httpx.post(url, content=offer, timeout=timeout,
                       headers={"Authorization": f"Bearer {key}", "Content-Type": "application/sdp"})
        r.raise_for_status()
        self._run(self.peer.accept(r.text))
        call_id = r.headers["location"].rstrip("/").rsplit("/", 1)[1]
        call.attach(call_id, timeout=timeout)
        return call_id

    def say(self, pcm24: np.ndarray) -> float:
        """Play ``pcm24`` (int16 mono 24 kHz) into the microphone track; returns its length, s."""
        async def queue() -> float:
            self.peer.mic.sent_until = None
            return self.peer.mic.say(pcm24)

        return float(self._run(queue()))

    def wait_for_reply(self, *, timeout: float = 120.0, quiet_s: float = 1.5) -> np.ndarray:
        """Wait until what :meth:`say` queued was sent, then for a reply that sounds after
        it (and after the call was dialled, and after the previous reply waited for), then
        ``quiet_s`` of silence; returns what the speaker heard from that point (int16 mono
        48 kHz). A reply to a question asked on the sideband is waited for the same way.

        Raises
        ------
        TimeoutError
            If no reply sounded within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.peer.mic.pending.size:
            if time.monotonic() > deadline:
                raise TimeoutError("the recording was not sent")
            time.sleep(0.05)
        since = max(self.peer.mic.sent_until or 0.0, self.said_until or 0.0, self.dialed or 0.0)
        while self.peer.first_sound_after(since) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply was heard within {timeout} s")
            time.sleep(0.1)
        while True:
            loud = [at for at, x in list(self.peer.heard) if at >= since and x.size
                    and int(np.abs(x.astype(np.int32)).max()) > 300]
            if time.monotonic() - loud[-1] > quiet_s or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.said_until = time.monotonic()
        return self.peer.audio_since(since)

    def latency_s(self) -> float | None:
        """Seconds from the end of the last recording to the first sound heard after it."""
        sent = self.peer.mic.sent_until
        first = self.peer.first_sound_after(sent) if sent is not None else None
        return None if first is None or sent is None else first - sent

    def close(self) -> None:
        """Close the peer connection and stop the thread. Idempotent."""
        if not self._thread.is_alive():
            return
        try:
            self._run(self.peer.close(), 10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
