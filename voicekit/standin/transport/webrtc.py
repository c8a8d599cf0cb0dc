"""A session's WebRTC peer, on aiortc: the microphone in, the reply out, events on ``oai-events``.

OpenAI guide "WebRTC" (``voice-webrtc``): the browser offers one audio track
(its microphone) and a data channel labelled ``oai-events``; the answer
carries one audio track back (the model's speech). Media is Opus at 48 kHz;
the sessions work in PCM16 at 24 kHz, so audio is resampled with soxr each
way. aiortc does ICE, DTLS, SRTP, RTP and Opus (never our own code); which
host addresses ICE offers is :mod:`.ice`'s.

- **In**: every decoded frame of the remote track is mixed to mono, resampled
  to 24 kHz and handed to ``on_audio`` (the session's input: Realtime's input
  buffer and VAD, Live's listener), as ``input_audio_buffer.append`` would.
- **Out**: :class:`OutputTrack` plays what the session queues, in real time,
  20 ms a frame, and silence between replies (a WebRTC track never stops).
  Each queued chunk keeps the item it belongs to, so the session knows how
  much of an item was actually sent when the user barges in.
- **Idle**: a peer whose media stops for :data:`MEDIA_TIMEOUT_S`, that never
  connects within :data:`CONNECT_TIMEOUT_S`, or whose call has been silent both
  ways for :data:`SILENCE_TIMEOUT_S`, is closed and ``on_end`` called.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ...formats import REALTIME_SAMPLE_RATE
from . import ice
from .links import DataChannelLink

__all__ = ["CONNECT_TIMEOUT_S", "JITTER_FRAMES", "MEDIA_TIMEOUT_S", "OPUS_SAMPLE_RATE", "SILENCE_TIMEOUT_S", "Chunk",
           "OfferError", "OutputTrack", "Peer", "shorten_jitter_buffer"]

log = logging.getLogger("voicekit.standin.webrtc")

OPUS_SAMPLE_RATE = 48_000
"""WebRTC's Opus clock rate (Hz): what the tracks carry."""

FRAME_SAMPLES = 960
"""Samples per outgoing frame: 20 ms at 48 kHz."""

CONNECT_TIMEOUT_S = float(os.environ.get("VOICEKIT_WEBRTC_CONNECT_TIMEOUT_S", "30"))
"""A peer that has not connected this long (s) after its answer is closed."""

MEDIA_TIMEOUT_S = float(os.environ.get("VOICEKIT_WEBRTC_MEDIA_TIMEOUT_S", "60"))
"""A connected peer whose microphone track sends nothing this long (s) is closed (a browser sends
frames all the time, silence included, so this is a peer that went away without hanging up)."""

SILENCE_TIMEOUT_S = float(os.environ.get("VOICEKIT_WEBRTC_SILENCE_TIMEOUT_S", "900"))
"""A connected peer that has been silent this long (s) is closed: its microphone sent frames, but none
louder than :data:`SILENT_PEAK`, and nothing played to it (a tab left open on a call, its microphone
muted, holds one of the server's calls; :mod:`.calls`)."""

SILENT_PEAK = 300
"""The int16 peak (24 kHz) a microphone frame must pass to count as sound, not silence."""

JITTER_FRAMES = int(os.environ.get("VOICEKIT_WEBRTC_JITTER_FRAMES", "1"))
"""Frames aiortc's receive jitter buffer holds back before it releases one (see :func:`shorten_jitter_buffer`)."""

DATA_CHANNEL_LABEL = "oai-events"


class OfferError(ValueError):
    """The SDP offer cannot be answered: not SDP, or no audio to answer."""


@dataclass
class Chunk:
    """Queued output audio: int16 ``(n,)`` at 48 kHz, and what it plays.

    ``item_id``/``response_id`` name the assistant item and response it belongs
    to (None for audio that belongs to none); ``item_start`` is where the chunk
    starts in the item, in 24 kHz samples.
    """

    pcm: npt.NDArray[np.int16]
    response_id: str | None
    item_id: str | None
    item_start: int


class OutputTrack:
    """The outgoing audio track: queued chunks in real time, silence otherwise.

    An ``aiortc.MediaStreamTrack`` (built in :func:`_make_output_track`, so
    importing this module does not import aiortc). ``on_play(chunk, n)`` is called
    on the event loop as ``n`` samples (48 kHz) of ``chunk`` go out.
    """


def _make_output_track(on_play: Callable[[Chunk, int], None]) -> Any:
    import av
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class _Track(MediaStreamTrack, OutputTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self.queue: deque[Chunk] = deque()
            self.offset = 0  # samples of queue[0] already sent
            self._t0: float | None = None
            self._pts = 0

        def push(self, chunk: Chunk) -> None:
            if chunk.pcm.size:
                self.queue.append(chunk)

        def clear(self) -> None:
            self.queue.clear()
            self.offset = 0

        @property
        def queued(self) -> int:
            """Samples (48 kHz) still to play."""
            return sum(c.pcm.size for c in self.queue) - self.offset

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            now = time.monotonic()
            if self._t0 is None:
                self._t0 = now
            else:
                wait = self._t0 + self._pts / OPUS_SAMPLE_RATE - now
                if wait > 0:
                    await asyncio.sleep(wait)
                elif wait < -0.2:  # the loop stalled: do not burst to catch up, restart the clock
                    self._t0 = now - self._pts / OPUS_SAMPLE_RATE
            out = np.zeros(FRAME_SAMPLES, np.int16)
            filled = 0
            while filled < FRAME_SAMPLES and self.queue:
                head = self.queue[0]
                n = min(FRAME_SAMPLES - filled, head.pcm.size - self.offset)
                out[filled:filled + n] = head.pcm[self.offset:self.offset + n]
                filled += n
                self.offset += n
                if self.offset >= head.pcm.size:
                    self.queue.popleft()
                    self.offset = 0
                on_play(head, n)
            frame = av.AudioFrame.from_ndarray(out.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = OPUS_SAMPLE_RATE
            frame.pts = self._pts
            frame.time_base = fractions.Fraction(1, OPUS_SAMPLE_RATE)
            self._pts += FRAME_SAMPLES
            return frame

    return _Track()


def shorten_jitter_buffer(pc: Any) -> None:
    """Make the audio receivers of ``pc`` (an ``RTCPeerConnection``) hold :data:`JITTER_FRAMES` frames.

    aiortc's ``RTCRtpReceiver`` makes its audio ``JitterBuffer(capacity=16, prefetch=4)`` and has no
    option for it: a frame comes out only once 4 more have arrived, 80 ms at 20 ms a frame, on each
    receiving side. The stand-in hears the end of the user's speech that much later, and a client
    peer hears the reply that much later (measured on loopback: about 100 ms one way with 4, 35 ms
    with 1). A browser's jitter buffer adapts to the network; on a loopback or LAN call nothing
    arrives out of order, so one frame is enough. Call it after the transceivers exist (after
    ``setRemoteDescription`` of an offer, or ``addTrack``), before media flows.
    """
    from aiortc.jitterbuffer import JitterBuffer

    for transceiver in pc.getTransceivers():
        receiver = transceiver.receiver
        if transceiver.kind != "audio":
            continue
        if not hasattr(receiver, "_RTCRtpReceiver__jitter_buffer"):  # an aiortc that keeps it elsewhere
            log.warning("aiortc's RTCRtpReceiver has no jitter buffer attribute: its own stays (80 ms)")
            continue
        receiver._RTCRtpReceiver__jitter_buffer = JitterBuffer(capacity=16, prefetch=JITTER_FRAMES)


class Peer:
    """One aiortc ``RTCPeerConnection`` answering a browser's (or any client's) offer.

    Parameters
    ----------
    link : DataChannelLink
        Bound to the ``oai-events`` channel when the client opens it.
    on_audio : callable
        Awaited with each piece of microphone audio: int16 ``(n,)``, 24 kHz mono.
    on_play : callable
        ``on_play(chunk, n)``: ``n`` samples (48 kHz) of ``chunk`` were just sent.
    on_connected, on_end : callable
        Called once when media first flows (ICE and DTLS done), and once when the
        peer ends (hangup, the client went away, a timeout); ``on_end`` gets the reason.
    """

    def __init__(self, link: DataChannelLink, *, on_audio: Callable[[npt.NDArray[np.int16]], Awaitable[None]],
                 on_play: Callable[[Chunk, int], None], on_connected: Callable[[], None],
                 on_end: Callable[[str], Awaitable[None]]) -> None:
        self.link = link
        self.on_audio = on_audio
        self.on_connected = on_connected
        self.on_end = on_end
        self.output = _make_output_track(on_play)
        self.pc: Any = None
        self.connected = asyncio.Event()
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._resampler: Any = None

    async def answer(self, offer_sdp: str) -> str:
        """The SDP answer to ``offer_sdp`` (ICE candidates included: no trickle).

        Raises
        ------
        OfferError
            If the offer is not SDP aiortc can parse, or offers no audio.
        """
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        if "m=audio" not in offer_sdp:
            raise OfferError("expected an SDP offer with an audio media section (m=audio): add the microphone "
                             "track, or an audio transceiver, before createOffer()")
        ice.install()
        self.pc = pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.on("datachannel", self._on_datachannel)
        pc.on("track", self._on_track)
        pc.on("connectionstatechange", self._on_state)
        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        except (ValueError, KeyError, IndexError) as exc:
            await pc.close()
            raise OfferError(f"expected an SDP offer that a WebRTC peer can answer: {exc}") from None
        shorten_jitter_buffer(pc)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                transceiver.sender.replaceTrack(self.output)
                transceiver.direction = "sendrecv"
                break
        await pc.setLocalDescription(await pc.createAnswer())
        self._spawn(self._watch_connect())
        return str(pc.localDescription.sdp)

    # -- aiortc callbacks -------------------------------------------------------------------

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label == DATA_CHANNEL_LABEL and self.link.channel is None:
            self.link.bind(channel)

    def _on_track(self, track: Any) -> None:
        if track.kind == "audio":
            self._spawn(self._read(track))

    async def _on_state(self) -> None:
        state = self.pc.connectionState
        if state == "connected" and not self.connected.is_set():
            self.connected.set()
            self.on_connected()
        elif state in ("failed", "closed"):
            await self.end(f"connection {state}")

    async def _watch_connect(self) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            await self.end(f"the peer did not connect within {CONNECT_TIMEOUT_S:g} s")

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        last_sound = time.monotonic()
        while not self.closed:
            try:
                frame = await asyncio.wait_for(track.recv(), MEDIA_TIMEOUT_S)
            except TimeoutError:
                await self.end(f"no microphone audio for {MEDIA_TIMEOUT_S:g} s")
                return
            except MediaStreamError:
                return
            pcm = self._to_session_rate(frame)
            now = time.monotonic()
            if self.output.queued or (pcm.size and max(int(pcm.max()), -int(pcm.min())) > SILENT_PEAK):
                last_sound = now
            elif now - last_sound >= SILENCE_TIMEOUT_S:
                await self.end(f"the call was silent for {SILENCE_TIMEOUT_S:g} s")
                return
            if pcm.size:
                try:
                    await self.on_audio(pcm)
                except Exception:  # the session reports its own faults; the media keeps flowing
                    log.exception("the session failed on WebRTC input audio")

    def _to_session_rate(self, frame: Any) -> npt.NDArray[np.int16]:
        """One decoded frame as int16 mono at 24 kHz (soxr, streaming: no clicks between frames)."""
        import soxr

        samples = frame.to_ndarray()
        channels = len(frame.layout.channels)
        if frame.format.is_planar:
            x = samples.astype(np.float32).mean(axis=0)
        else:
            x = samples.reshape(-1, channels).astype(np.float32).mean(axis=1)
        if self._resampler is None or self._resampler[0] != frame.sample_rate:
            self._resampler = (frame.sample_rate,
                               soxr.ResampleStream(frame.sample_rate, REALTIME_SAMPLE_RATE, 1, dtype="float32"))
        out = self._resampler[1].resample_chunk(x)
        return np.clip(np.round(out), -32768, 32767).astype(np.int16)

    # -- the end --------------------------------------------------------------------------------

    async def end(self, reason: str) -> None:
        """Close the peer (idempotent) and tell the session why."""
        if self.closed:
            return
        self.closed = True
        await self.close()
        await self.on_end(reason)

    async def close(self) -> None:
        """Close the connection and its tracks (idempotent); does not call ``on_end``."""
        self.closed = True
        self.output.stop()
        await self.link.close()
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
