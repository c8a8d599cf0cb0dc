"""A GPT-Live session on a WebRTC call, with an optional sideband.

OpenAI guides "WebRTC" (``voice-webrtc``, Live tab) and "Server controls"
(``voice-server-controls``), API reference ``live.create`` and
``live.sideband``:

- ``POST /v1/live/sessions`` with ``{session, transport: {type: "webrtc", sdp}}``
  (the project key: GPT-Live has no ephemeral keys) starts the session and
  answers ``{session: {id}, transport: {type: "webrtc", sdp}}``. The session
  starts (``session.started``, the timeline's zero) when the peer connects;
  ``session.start`` on the data channel is an error.
- The microphone comes in on the remote track; the reply goes out on the
  peer's track, which plays the ``session.output_audio.delta`` chunks the
  speaker already paces in real time (at most ``LEAD_MS`` ahead). The data
  channel carries every other event; ``session.client.data_channel`` may
  narrow which client and server events it carries.
- ``/v1/live/sessions/{id}/attach`` is the sideband, one at a time. It may
  attach before the browser connects, and then sees the session from
  ``session.started``. It gets every server event, and the audio of both
  sides reflected, as the SDK's ``openai.types.live`` models describe them:
  ``session.output_audio.delta`` with ``start_ms``/``end_ms`` on the session
  timeline (``OutputAudioDeltaEvent``: "required on reflected sideband
  events"), and the microphone as ``session.input_audio.append`` server events
  (PCM16 24 kHz, no ``event_id``, before model-input muting); it may send any
  command but ``session.start`` and input audio, e.g. answer a client
  delegation.
- ``client.live.sessions.hangup`` ends the call: ``session.closed`` (reason
  ``remote_hangup``), then the peer and the sideband close.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

import numpy as np
from openai.types.live import ClientConfig

from ...formats import REALTIME_SAMPLE_RATE
from ..engines import Engines
from ..transport.links import DataChannelLink, Link
from ..transport.webrtc import OPUS_SAMPLE_RATE, Chunk, Peer
from .config import check_strict, resolve_start
from .connection import LiveConnection
from .errors import LiveError, unsupported
from .handlers import HANDLERS

__all__ = ["LiveCall", "resolve_webrtc_session"]

log = logging.getLogger("voicekit.standin.live")

_AUDIO_DELTA = "session.output_audio.delta"
_INPUT_REFLECTED = "session.input_audio.append"
_SIDEBAND_REFUSED = frozenset({"session.start", _INPUT_REFLECTED})


def resolve_webrtc_session(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The resolved session for ``live.create``'s ``session`` (a ``MediaSessionConfig``), and its
    ``client.data_channel`` settings (None: everything allowed).

    Raises
    ------
    LiveError
        As :func:`.config.resolve_start`; ``wake_policy`` is not emulated; ``audio.format`` is not a
        field of the SDK's ``MediaSessionConfigParam`` ("WebRTC and SIP negotiate their audio format
        on the media transport"), and a 16 kHz format would have played the 24 kHz track at the wrong rate.
    """
    config = dict(config)
    client = config.pop("client", None)
    config.pop("idle_timeout_s", None)  # the stand-in's own media timeout applies (transport.webrtc)
    if config.pop("wake_policy", None) is not None:
        raise unsupported("session.wake_policy", "the stand-in listens all the time; leave it out",
                          param="session.wake_policy")
    audio = config.get("audio")
    if isinstance(audio, dict) and "format" in audio:  # MediaSessionConfig's audio has output only
        raise LiveError("Unknown parameter: 'session.audio.format'. A WebRTC session negotiates its audio format "
                        "on the media transport (Opus on the track); leave it out.", code="unknown_parameter",
                        param="session.audio.format")
    channel = None
    if client is not None:
        channel = check_strict(ClientConfig, client, "session.client").model_dump()["data_channel"]
    return resolve_start(config), channel


def _server_filter(channel: dict[str, Any] | None) -> Any:
    allowed = None if channel is None else channel.get("allowed_server_events")

    def accepts(event: dict[str, Any]) -> bool:
        kind = event.get("type")
        if kind in (_AUDIO_DELTA, _INPUT_REFLECTED):  # the audio is on the tracks; reflections are the sideband's
            return False
        if allowed is None or allowed == "all" or kind in ("error", "session.closed"):
            return True
        for selector in allowed:
            if selector["type"] == kind and (kind != "response.event" or selector.get("response_event") in (
                    None, (event.get("event") or {}).get("type"))):
                return True
        return False

    return accepts


class LiveCall:
    """One Live WebRTC session: its state, its peer and its sideband."""

    kind = "live"

    def __init__(self, engines: Engines, app_state: Any, session: dict[str, Any],
                 data_channel: dict[str, Any] | None, delegation_given: bool, on_end: Any = None) -> None:
        self.id = session["id"]
        self.resolved = session
        self.delegation_given = delegation_given
        self.conn = LiveConnection(engines, app_state)
        self.conn.webrtc = self
        self.link = DataChannelLink()
        self.data_channel = data_channel
        self.peer = Peer(self.link, on_audio=self._audio_in, on_play=lambda chunk, n: None,
                         on_connected=self._connected, on_end=self.end)
        self.sideband: Link | None = None
        self.ended = asyncio.Event()
        self._on_end = on_end
        self._resampler: Any = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, offer_sdp: str) -> str:
        """Answer the offer; the session starts when the peer connects. Returns the SDP answer."""
        self.conn.add_tap(self._tap)
        self.conn.open(self.link, HANDLERS, accepts=_server_filter(self.data_channel))
        answer = await self.peer.answer(offer_sdp)
        self._reader = asyncio.ensure_future(self._read_data_channel())
        return answer

    def _connected(self) -> None:
        self.conn.start(self.resolved, delegation_given=self.delegation_given)
        self.conn.emit({"type": "session.started", "session": self.resolved})

    async def _audio_in(self, pcm: np.ndarray) -> None:
        if self.conn.listener is None or self.conn.closed:
            return
        if self.sideband is not None:  # reflected before model-input muting (openai.types.live.ServerEvent)
            self.conn.emit({"type": _INPUT_REFLECTED,
                            "audio": base64.b64encode(pcm.astype("<i2").tobytes()).decode("ascii")})
        await self.conn.listener.feed(pcm)

    async def _read_data_channel(self) -> None:
        await self.conn.read(self.link)
        await self.end("close_requested" if self.conn.closed else "connection_lost")

    def allows(self, kind: str, link: Link) -> None:
        """Refuse what a link may not send (called by the connection before each handler).

        Raises
        ------
        LiveError
            ``session.start`` anywhere (``POST /v1/live/sessions`` started the session), input audio on
            the sideband, an event the data channel's ``allowed_client_events`` leaves out.
        """
        if kind == "session.start":
            raise LiveError("This session was started by POST /v1/live/sessions; session.start is not valid on "
                            "a WebRTC session's data channel or sideband. Use session.update.",
                            code="session_already_started", param="type")
        if link is self.sideband and kind in _SIDEBAND_REFUSED:
            raise LiveError(f"{kind} is not accepted on a sideband: the audio travels on the WebRTC track",
                            code="invalid_value", param="type")
        allowed = (self.data_channel or {}).get("allowed_client_events")
        if link is self.link and allowed not in (None, "all") and kind not in allowed:
            raise LiveError(f"{kind} is not allowed on the data channel (session.client.data_channel."
                            "allowed_client_events)", code="invalid_value", param="type")

    # -- sideband ----------------------------------------------------------------------------

    async def attach(self, link: Link) -> None:
        """Serve the sideband until it closes or the call ends.

        Raises
        ------
        LiveError
            ``sideband_already_attached`` while another sideband is attached.
        """
        if self.sideband is not None:
            raise LiveError("A sideband is already attached to this session; a session takes one at a time. "
                            "Close it first.", code="sideband_already_attached")
        self.sideband = link
        self.conn.add_link(link)
        try:
            await self.conn.read(link)
        finally:
            self.conn.remove_link(link)
            self.sideband = None

    # -- output audio --------------------------------------------------------------------------

    def _tap(self, event: dict[str, Any]) -> None:
        if event.get("type") != _AUDIO_DELTA:
            return
        import soxr

        pcm = np.frombuffer(base64.b64decode(event["delta"]), dtype="<i2").astype(np.int16)
        if self._resampler is None:
            self._resampler = soxr.ResampleStream(REALTIME_SAMPLE_RATE, OPUS_SAMPLE_RATE, 1, dtype="int16")
        pcm48 = np.asarray(self._resampler.resample_chunk(pcm), np.int16).reshape(-1)
        self.peer.output.push(Chunk(pcm48, None, None, 0))

    def clear(self) -> None:
        """Drop the output audio not yet played."""
        self.peer.output.clear()
        self._resampler = None

    # -- the end -------------------------------------------------------------------------------

    async def close(self) -> None:
        """For the connection's own shutdown: close the peer."""
        await self.peer.close()

    async def end(self, reason: str = "remote_hangup") -> None:
        """End the call (idempotent): ``session.closed`` if it is still open, then close everything."""
        if self.ended.is_set():
            return
        self.ended.set()
        log.info("live call %s ended: %s", self.id, reason)
        if self.conn.session is not None and not self.conn.closed:
            kind = reason if reason in ("remote_hangup", "connection_lost", "expired") else "connection_lost"
            await self.conn.close(kind)
        await asyncio.sleep(0)  # let session.closed reach the sideband
        await self.conn.shutdown()
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if self._on_end is not None:
            self._on_end(self)
