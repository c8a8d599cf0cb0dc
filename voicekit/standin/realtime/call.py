"""A Realtime session on a WebRTC call: the peer plays the audio, the server keeps track of what was heard.

OpenAI guides "WebRTC" (``voice-webrtc``) and "Server controls"
(``voice-server-controls``), and the ``output_audio_buffer`` events of the
Realtime API reference:

- The ``oai-events`` data channel carries the WebSocket protocol's events,
  but no ``response.output_audio.delta``: the reply's audio goes out on the
  peer's track, in real time (:class:`~..transport.webrtc.Peer`), and the
  microphone comes in on the remote track, never as ``input_audio_buffer.append``.
- ``output_audio_buffer.started`` when a response's first audio is sent,
  ``output_audio_buffer.stopped`` once it has all been sent and the response
  is done, ``output_audio_buffer.cleared`` when the client sends
  ``output_audio_buffer.clear`` or the user barges in.
- On barge-in (``input_audio_buffer.speech_started`` while audio is still
  playing, with ``interrupt_response``), the server, which played the audio,
  truncates the assistant item at the last sample actually sent
  (``conversation.item.truncated``): the client cannot know it.
- A sideband (``GET /v1/realtime?call_id=...`` with the project key) joins the
  same session and gets its events from then on, output audio excepted.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import Any

import numpy as np

from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines
from ..models import REALTIME_MODELS
from ..transport.links import DataChannelLink, Link
from ..transport.webrtc import OPUS_SAMPLE_RATE, Chunk, Peer
from .connection import RealtimeConnection
from .events import RealtimeProtocolError, new_id
from .handlers import HANDLERS
from .session import default_session, merge_session
from .transcription import default_transcription_session, merge_transcription_session

__all__ = ["DEFAULT_CALL_MODEL", "RealtimeCall", "configured_session"]

log = logging.getLogger("voicekit.standin.realtime")

DEFAULT_CALL_MODEL = "gpt-realtime"
"""The model of a call whose session names none."""

_AUDIO_DELTA = "response.output_audio.delta"


def configured_session(config: dict[str, Any] | None) -> dict[str, Any]:
    """The full session object for a call's or a client secret's ``session`` configuration.

    ``config`` is a ``RealtimeSessionCreateRequest`` or a
    ``RealtimeTranscriptionSessionCreateRequest`` (``type`` tells which; default
    ``realtime`` with :data:`DEFAULT_CALL_MODEL`). The result has a fresh ``id``.

    Raises
    ------
    RealtimeProtocolError
        If the configuration is invalid, names an unknown model, or asks for
        what the stand-in cannot do (as a ``session.update`` would).
    """
    config = dict(config or {})
    if config.get("type") == "transcription":
        return merge_transcription_session(default_transcription_session(), config)
    model = config.pop("model", None) or DEFAULT_CALL_MODEL
    if model not in REALTIME_MODELS:
        raise RealtimeProtocolError(f"The model `{model}` does not exist or you do not have access to it. Expected "
                                    "a Realtime model such as gpt-realtime-mini.", code="model_not_found",
                                    param="session.model")
    return merge_session(default_session(model), config, voice_locked=False)


def _no_output_audio(event: dict[str, Any]) -> bool:
    return event.get("type") != _AUDIO_DELTA


class RealtimeCall:
    """One WebRTC call: its session, its peer, and the sidebands attached to it (each gets every event).

    Attributes
    ----------
    id : str
        The call id (``rtc_...``), as in ``Location: /v1/realtime/calls/{id}``.
    ended : asyncio.Event
        Set once the call has ended (hangup, the peer left, a timeout).
    """

    kind = "realtime"

    def __init__(self, engines: Engines, session: dict[str, Any], on_end: Any = None) -> None:
        self.id = f"rtc_{uuid.uuid4().hex}"
        self.conn = RealtimeConnection(engines, session)
        self.link = DataChannelLink()
        self.peer = Peer(self.link, on_audio=self.conn.append_audio, on_play=self._played,
                         on_connected=self._connected, on_end=self.end)
        self.conn.webrtc = self
        self.ended = asyncio.Event()
        self.sidebands: list[Link] = []
        self._on_end = on_end
        self._resampler: Any = None
        self._queued_in_item: dict[str, int] = {}  # item id -> 24 kHz samples queued so far
        self._played_in_item: dict[str, int] = {}  # item id -> 24 kHz samples sent so far
        self._started: set[str] = set()
        self._done: set[str] = set()
        self._stopped: set[str] = set()
        self._cleared: set[str] = set()
        self._truncate_after: dict[str, tuple[str, int]] = {}  # response id -> (item id, audio_end_ms)
        self._reader: asyncio.Task[None] | None = None

    async def start(self, offer_sdp: str) -> str:
        """Answer the offer and start the session; returns the SDP answer.

        Raises
        ------
        OfferError
            If the offer cannot be answered (see :meth:`.Peer.answer`).
        """
        self.conn.add_tap(self._tap)
        self.conn.open(self.link, HANDLERS, accepts=_no_output_audio)
        answer = await self.peer.answer(offer_sdp)
        self._reader = asyncio.ensure_future(self._read_data_channel())
        return answer

    async def _read_data_channel(self) -> None:
        await self.conn.read(self.link)
        if self.link.channel is not None:  # the client closed its data channel: the call is over
            await self.end("the data channel closed")

    def _connected(self) -> None:
        log.info("call %s connected", self.id)

    # -- sideband --------------------------------------------------------------------------

    async def attach(self, link: Link) -> None:
        """Serve a sideband: it gets the session's events (output audio excepted) and may send any
        client event, until it closes or the call ends."""
        self.sidebands.append(link)
        self.conn.add_link(link, _no_output_audio)
        await link.send(json.dumps({"event_id": new_id("event"), "type": "session.created",
                                    "session": self.conn.session}))
        try:
            await self.conn.read(link)
        finally:
            self.conn.remove_link(link)
            if link in self.sidebands:
                self.sidebands.remove(link)

    # -- output audio ----------------------------------------------------------------------

    def _tap(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == _AUDIO_DELTA:
            if event["response_id"] not in self._cleared:
                self._queue_audio(event)
        elif kind == "response.done":
            rid = event["response"]["id"]
            self._done.add(rid)
            pending = self._truncate_after.pop(rid, None)
            if pending is not None:
                self._truncate(*pending)
            if rid in self._started and not self._queued_for(rid):
                self._stop(rid)
        elif kind == "input_audio_buffer.speech_started":
            td = self.conn.session["audio"]["input"].get("turn_detection") or {}
            if self.peer.output.queued and td.get("interrupt_response", True):
                self.clear()

    def _queue_audio(self, event: dict[str, Any]) -> None:
        import soxr

        pcm24 = np.frombuffer(base64.b64decode(event["delta"]), dtype="<i2").astype(np.int16)
        if self._resampler is None:
            self._resampler = soxr.ResampleStream(REALTIME_SAMPLE_RATE, OPUS_SAMPLE_RATE, 1, dtype="int16")
        pcm48 = np.asarray(self._resampler.resample_chunk(pcm24), np.int16).reshape(-1)
        item_id = event["item_id"]
        start = self._queued_in_item.get(item_id, 0)
        self._queued_in_item[item_id] = start + pcm24.size
        self.peer.output.push(Chunk(pcm48, event["response_id"], item_id, start))

    def _queued_for(self, response_id: str) -> bool:
        return any(c.response_id == response_id for c in self.peer.output.queue)

    def _played(self, chunk: Chunk, n: int) -> None:
        rid = chunk.response_id
        if rid is None or chunk.item_id is None:
            return
        if rid not in self._started:
            self._started.add(rid)
            self.conn.emit({"type": "output_audio_buffer.started", "response_id": rid})
        played = self._played_in_item.get(chunk.item_id, 0) + n * REALTIME_SAMPLE_RATE // OPUS_SAMPLE_RATE
        self._played_in_item[chunk.item_id] = played
        if rid in self._done and not self._queued_for(rid):
            self._stop(rid)

    def _stop(self, response_id: str) -> None:
        if response_id not in self._stopped and response_id not in self._cleared:
            self._stopped.add(response_id)
            self.conn.emit({"type": "output_audio_buffer.stopped", "response_id": response_id})

    def clear(self) -> None:
        """``output_audio_buffer.clear``, or a barge-in: drop the queued audio, say so, truncate the item."""
        queue = self.peer.output.queue
        if not queue:
            return
        head = queue[0]
        rid, item_id = head.response_id, head.item_id
        self.peer.output.clear()
        self._resampler = None
        if rid is None or item_id is None:
            return
        self._cleared.add(rid)
        self.conn.emit({"type": "output_audio_buffer.cleared", "response_id": rid})
        end_ms = self._played_in_item.get(item_id, 0) * 1000 // REALTIME_SAMPLE_RATE
        if rid in self._done:
            self._truncate(item_id, end_ms)
        else:  # the response is still being written: truncate once it is done (its item still grows)
            self._truncate_after[rid] = (item_id, end_ms)

    def _truncate(self, item_id: str, audio_end_ms: int) -> None:
        try:
            self.conn.conversation.truncate(item_id, 0, audio_end_ms)
        except RealtimeProtocolError as err:
            log.info("call %s: could not truncate %s at %d ms: %s", self.id, item_id, audio_end_ms, err)
            return
        self.conn.emit({"type": "conversation.item.truncated", "item_id": item_id, "content_index": 0,
                        "audio_end_ms": audio_end_ms})

    # -- the end ---------------------------------------------------------------------------

    async def close(self) -> None:
        """For the session's own shutdown: close the peer (its media and data channel)."""
        await self.peer.close()

    async def end(self, reason: str = "hangup") -> None:
        """End the call (idempotent): close the peer, the sidebands and the session."""
        if self.ended.is_set():
            return
        self.ended.set()
        log.info("call %s ended: %s", self.id, reason)
        await self.peer.close()
        for link in list(self.sidebands):
            await link.close()
        await self.conn.shutdown()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if self._on_end is not None:
            self._on_end(self)
