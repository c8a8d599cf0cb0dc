"""Live captions: a Realtime *transcription* session running in the background of a notebook.

:class:`Captions` opens ``client.realtime.connect(extra_query={"intent": "transcription"})``
(no model in the URL; OpenAI guide "Realtime transcription") on the same background
socket as :class:`~voicekit.realtime.RealtimeSession`, then configures it with one
``session.update`` of ``session.type: "transcription"``
(``openai.types.realtime.RealtimeTranscriptionSessionCreateRequestParam``). Audio goes
in as ``input_audio_buffer.append`` (PCM16 mono, 24,000 Hz, base64) from a
:class:`~voicekit.widgets.Recorder` or a recording; the server's VAD (or a
:meth:`Captions.commit`) cuts it into items, and each item's text streams back as
``conversation.item.input_audio_transcription.delta`` events, then one ``.completed``
event with the whole transcript (and its logprobs when ``include`` asks for
``item.input_audio_transcription.logprobs``). Such a session never answers: it has no
responses.

Each item becomes a :class:`~voicekit.realtime.segments.Segment`, shown live in a
:class:`~voicekit.widgets.Transcript` as its deltas arrive (``segments.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .._callbacks import CallbackHandle, Callbacks
from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session import ConnectedSession, Transport, WebSocketTransport, client_events
from .segments import COMPLETED, FAILED, Segment, SegmentBook
from .session import VAD_PAD_MS, vad_silence_ms

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import Transcript

__all__ = ["DEFAULT_CAPTIONS_MODEL", "LOGPROBS_INCLUDE", "SERVER_VAD", "Captions"]

DEFAULT_CAPTIONS_MODEL = "gpt-4o-mini-transcribe"
"""Transcription model of the session (``audio.input.transcription.model``)."""

LOGPROBS_INCLUDE = "item.input_audio_transcription.logprobs"
"""The ``session.include`` value that adds logprobs to the transcription events."""

SERVER_VAD: Mapping[str, Any] = MappingProxyType({"type": "server_vad"})
"""The default turn detection: the server's VAD, with its default settings."""

class Captions(ConnectedSession):
    """Streaming transcription of a microphone or a recording, shown as it is spoken.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI
        A sync client is copied into an ``AsyncOpenAI`` (same key and base URL), closed
        with the captions.
    model : str
        ``audio.input.transcription.model``: ``"gpt-4o-mini-transcribe"`` (default),
        ``"gpt-4o-transcribe"``, ``"whisper-1"`` or ``"gpt-realtime-whisper"``.
    transcript : Transcript, optional
        Shows each segment as a "You:" line, updated with every delta.
    language : str, optional
        ISO-639-1 code of the speech (for example ``"en"``).
    prompt : str, optional
        Text that guides the transcription (``audio.input.transcription.prompt``).
    turn_detection : dict or None
        ``audio.input.turn_detection``: default ``{"type": "server_vad"}`` (the server
        cuts a segment at each pause); None for manual segments (:meth:`commit`).
    logprobs : bool
        Ask for logprobs (``include: ["item.input_audio_transcription.logprobs"]``).
    transport : Transport, optional
        Default: a WebSocket to ``client.realtime.connect(extra_query={"intent": "transcription"})``.

    Attributes
    ----------
    segments : list of Segment
        One per committed item, in commit order.
    session : dict
        The transcription session as the server last reported it.
    errors : list of dict
        The ``error`` objects of every ``error`` event received.

    Notes
    -----
    Audio is PCM16 mono at 24,000 Hz on the wire (``audio/pcm``, rate 24000); clips of
    any rate are resampled with soxr. Nothing here waits for a widget: a Recorder's
    chunks arrive through :meth:`attach`, and :meth:`wait_segment` blocks with a timeout.
    """

    CLIENT_EVENTS = client_events.REALTIME  # every event sent is checked with the SDK's model

    def __init__(
        self,
        client: AsyncOpenAI | OpenAI,
        model: str = DEFAULT_CAPTIONS_MODEL,
        *,
        transcript: Transcript | None = None,
        language: str | None = None,
        prompt: str | None = None,
        turn_detection: Mapping[str, Any] | None = SERVER_VAD,
        logprobs: bool = False,
        transport: Transport | None = None,
    ) -> None:
        self.model = model
        self.language = language
        self.prompt = prompt
        self.turn_detection_config: dict[str, Any] | None = (
            dict(turn_detection) if turn_detection is not None else None)
        self.logprobs = logprobs
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self._book = SegmentBook(transcript)
        self._on_segment: Callbacks[Segment] = Callbacks("Captions on_segment")
        if transport is None:
            transport = WebSocketTransport(client, _transcription_connect, name="Captions")
        super().__init__(transport, transcript=transcript)

    # ------------------------------------------------------------ lifecycle
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Connect, wait for ``session.created``, send the transcription ``session.update``
        (this configuration, then ``session`` given to ``start``), return ``session.updated``'s
        session (``type: "transcription"``). A second ``start()`` returns the session."""
        self._transport.open(timeout)
        self.wait_for("session.created", since=0, timeout=timeout)
        return self.update({**self._config(), **config}, timeout=timeout)

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.update(config, timeout=timeout) if config else dict(self.session)

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` (``"type": "transcription"`` added) and return the
        session of ``session.updated``."""
        mark = self.mark()
        self.send({"type": "session.update", "session": {"type": "transcription", **session}})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def _default_pad_ms(self) -> float:
        """With VAD, the VAD's silence window plus 500 ms, so the server ends the segment;
        manual, none (call :meth:`commit`)."""
        return vad_silence_ms(self.turn_detection) + VAD_PAD_MS if self.turn_detection else 0.0

    def commit(self) -> None:
        """Send ``input_audio_buffer.commit``: the audio so far becomes one segment."""
        self.send({"type": "input_audio_buffer.commit"})

    def clear_input(self) -> None:
        """Send ``input_audio_buffer.clear`` (drop audio not yet committed)."""
        self.send({"type": "input_audio_buffer.clear"})

    def transcribe(self, clip: Clip, *, realtime: bool = False, timeout: float = 120.0) -> Segment:
        """Stream ``clip`` (committed when turns are manual) and wait for its first
        completed segment; returns that :class:`Segment`.

        Raises
        ------
        TimeoutError
            If no segment completes within ``timeout`` seconds.
        RealtimeError
            On an ``error`` event or a closed socket.
        """
        mark = self.mark()
        self.send_clip(clip, realtime=realtime, timeout=timeout)
        if not self.turn_detection:
            self.commit()
        return self.wait_segment(since=mark, timeout=timeout)

    def wait_segment(self, *, since: int | None = None, timeout: float = 120.0) -> Segment:
        """Block until a segment completes (or fails) after index ``since`` of :attr:`events`
        (default: the last :meth:`mark`, so call ``mark()`` before sending); return it.

        Raises
        ------
        TimeoutError, RealtimeError, ClosedError
            As :meth:`wait_for`.
        """
        event = self.wait_for((COMPLETED, FAILED), since=since, timeout=timeout)
        return self._book.get(event.data["item_id"])

    # ------------------------------------------------------------- reading
    @property
    def transcript(self) -> Transcript | None:
        """The Transcript the segments are shown in (None: not shown)."""
        return self._book.transcript

    @transcript.setter
    def transcript(self, transcript: Transcript | None) -> None:
        self._book.transcript = transcript

    def _turn_list(self) -> list[Segment]:
        return self._book.segments

    def _settle(self, before: int, mark: int, timeout: float) -> list[Segment]:
        """After a clip was sent with VAD: wait until the segments it started are done."""
        if not self.turn_detection:
            return list(self.segments[before:])
        deadline = time.monotonic() + timeout
        try:  # the last segment is committed after the VAD's silence window
            self.wait_for("input_audio_buffer.committed", since=mark, timeout=2.0)
        except TimeoutError:
            return list(self.segments[before:])
        while True:
            since = len(self.events)
            new = self.segments[before:]
            if all(s.done for s in new):
                return list(new)
            self.wait_for((COMPLETED, FAILED), since=since, timeout=max(0.0, deadline - time.monotonic()))

    @property
    def segments(self) -> list[Segment]:
        """One :class:`Segment` per committed item, in commit order."""
        return self._book.segments

    @property
    def text(self) -> str:
        """The completed segments' transcripts, joined by spaces."""
        return " ".join(s.text.strip() for s in self.segments if s.done and s.text.strip())

    @property
    def turn_detection(self) -> dict[str, Any] | None:
        """The session's ``audio.input.turn_detection`` (None: manual segments)."""
        if not self.session:
            return self.turn_detection_config
        return ((self.session.get("audio") or {}).get("input") or {}).get("turn_detection")

    @property
    def conversation_id(self) -> str:
        """The server's session id (the Transcript's conversation key)."""
        return str(self.session.get("id", ""))

    def on_segment(self, callback: Callable[[Segment], Any], remove: bool = False) -> CallbackHandle:
        """Call ``callback(segment)`` when a segment completes, on the socket's thread
        (keep it short). A re-run cell's callback replaces the old one; returns a handle."""
        return self._on_segment.register(callback, remove)

    # ------------------------------------------------------------ internals
    def _config(self) -> dict[str, Any]:
        transcription: dict[str, Any] = {"model": self.model}
        if self.language is not None:
            transcription["language"] = self.language
        if self.prompt is not None:
            transcription["prompt"] = self.prompt
        config: dict[str, Any] = {"audio": {"input": {
            "format": {"type": "audio/pcm", "rate": REALTIME_SAMPLE_RATE},
            "transcription": transcription, "turn_detection": self.turn_detection_config}}}
        if self.logprobs:
            config["include"] = [LOGPROBS_INCLUDE]
        return config

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            self._book.conversation = str(self.session.get("id", ""))
        elif kind == "error":
            self.errors.append(data.get("error") or {})
        else:
            done = self._book.handle(data, self._now())
            if done is not None:
                self._on_segment(done)


def _transcription_connect(client: AsyncOpenAI) -> Any:
    """A Realtime transcription session: ``intent=transcription`` and no model in the URL."""
    return client.realtime.connect(extra_query={"intent": "transcription"}).enter()
