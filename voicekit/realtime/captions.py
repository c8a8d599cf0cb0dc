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

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from .._callbacks import CallbackHandle, Callbacks
from .._lifecycle import Lifecycle, track
from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ._client_events import VAD_PAD_MS, pcm16_24k
from ._socket import RealtimeSocket, event_types
from .segments import COMPLETED, FAILED, Segment, SegmentBook
from .turns import RealtimeEvent

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import Recorder, Transcript

__all__ = ["DEFAULT_CAPTIONS_MODEL", "LOGPROBS_INCLUDE", "SERVER_VAD", "Captions"]

DEFAULT_CAPTIONS_MODEL = "gpt-4o-mini-transcribe"
"""Transcription model of the session (``audio.input.transcription.model``)."""

LOGPROBS_INCLUDE = "item.input_audio_transcription.logprobs"
"""The ``session.include`` value that adds logprobs to the transcription events."""

SERVER_VAD: Mapping[str, Any] = MappingProxyType({"type": "server_vad"})
"""The default turn detection: the server's VAD, with its default settings."""

class Captions:
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
    ) -> None:
        from openai import AsyncOpenAI

        if isinstance(client, AsyncOpenAI):
            self._client, own = client, False
        else:
            self._client = AsyncOpenAI(
                api_key=client.api_key, base_url=client.base_url, organization=client.organization,
                project=client.project, max_retries=client.max_retries)
            own = True
        self.model = model
        self.language = language
        self.prompt = prompt
        self.turn_detection_config: dict[str, Any] | None = (
            dict(turn_detection) if turn_detection is not None else None)
        self.logprobs = logprobs
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self._book = SegmentBook(transcript)
        self._recorder: Recorder | None = None
        self._on_segment: Callbacks[Segment] = Callbacks("Captions on_segment")
        self._socket = RealtimeSocket(self._client, "", handle=self._handle, on_record=self._recorded,
                                      connect=_transcription_connect, close_client=own)
        self.lifecycle = Lifecycle("Captions")
        track(self)

    # ------------------------------------------------------------ lifecycle
    def start(self, *, timeout: float = 60.0) -> dict[str, Any]:
        """Connect, wait for ``session.created``, send the transcription ``session.update``.

        Returns
        -------
        dict
            The session of ``session.updated`` (``type: "transcription"``).

        Raises
        ------
        TimeoutError
            If the server does not answer within ``timeout`` seconds.
        RealtimeError
            If it refuses the update (an ``error`` event: an unknown model, a language
            the stand-in does not speak...).
        ClosedError
            If the captions were closed.

        Notes
        -----
        Safe to re-run: once started it opens no second connection and returns the session.
        """
        self.lifecycle.check()
        if self._socket.opened:
            return dict(self.session)
        self._socket.open(timeout)
        self.wait_for("session.created", since=0, timeout=timeout)
        return self.update(self._config(), timeout=timeout)

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` (``"type": "transcription"`` added) and return the
        session of ``session.updated``."""
        mark = self.mark()
        self.send({"type": "session.update", "session": {"type": "transcription", **session}})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def close(self, timeout: float = 10.0) -> None:
        """Hang up (idempotent). Later calls raise :class:`~voicekit.errors.ClosedError`.

        Needed only to stop early: the kernel's exit closes it, and so does re-running the
        cell that made it (once no variable refers to it)."""
        if self.lifecycle.close():
            self._shutdown(timeout)

    def _shutdown(self, timeout: float = 10.0) -> None:
        self.detach()
        self._socket.close(timeout)

    @property
    def closed(self) -> bool:
        return self.lifecycle.closed

    @property
    def connected(self) -> bool:
        return self._socket.connected

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------- audio in
    def attach(self, recorder: Recorder) -> None:
        """Stream ``recorder``'s chunks (about 100 ms each) as they are recorded.

        Attaching again (a re-run cell) replaces the earlier attachment, so each chunk
        goes out once (:class:`voicekit._callbacks.Callbacks`)."""
        self.lifecycle.check()
        self.detach()
        recorder.on_chunk(self._on_chunk)
        self._recorder = recorder

    def detach(self) -> None:
        """Stop streaming the attached Recorder."""
        if self._recorder is not None:
            self._recorder.on_chunk(self._on_chunk, remove=True)
            self._recorder = None

    def send_audio(self, audio: Clip) -> Future[None]:
        """Queue one ``input_audio_buffer.append`` (any rate; sent as 24 kHz PCM16)."""
        self.lifecycle.check()
        return self._socket.put("audio", pcm16_24k(audio))

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = False,
                  pad_ms: float | None = None) -> Future[None]:
        """Stream a recording in ``chunk_ms`` appends; returns at once.

        Parameters
        ----------
        clip : Clip
            Any rate and channels (mixed to mono, resampled to 24,000 Hz PCM16).
        chunk_ms : float
            Audio per append, in ms.
        realtime : bool
            Pace the appends at the speed of speech, as a microphone does, so the
            captions appear while the clip "is spoken".
        pad_ms : float, optional
            Silence appended, in ms. Default: with VAD, the VAD's silence window plus
            500 ms, so the server ends the segment; manual, none (call :meth:`commit`).

        Returns
        -------
        concurrent.futures.Future
            Done when the last append was sent.
        """
        self.lifecycle.check()
        pcm = pcm16_24k(clip)
        if pad_ms is None:
            pad_ms = self._vad_silence_ms() + VAD_PAD_MS if self.turn_detection else 0.0
        pad = np.zeros(round(pad_ms * REALTIME_SAMPLE_RATE / 1000), np.int16)
        step = max(1, round(chunk_ms * REALTIME_SAMPLE_RATE / 1000))
        return self._socket.put("clip", (np.concatenate([pcm, pad]), step, realtime))

    def commit(self) -> None:
        """Send ``input_audio_buffer.commit``: the audio so far becomes one segment."""
        self.send({"type": "input_audio_buffer.commit"})

    def clear_input(self) -> None:
        """Send ``input_audio_buffer.clear`` (drop audio not yet committed)."""
        self.send({"type": "input_audio_buffer.clear"})

    def send(self, event: Mapping[str, Any]) -> Future[None]:
        """Queue one client event (``openai.types.realtime`` ``RealtimeClientEventParam``).

        Raises
        ------
        ClosedError
            If the captions were closed.
        """
        self.lifecycle.check()
        return self._socket.put("event", dict(event))

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
        self.send_clip(clip, realtime=realtime)
        if not self.turn_detection:
            self.commit()
        return self.wait_segment(since=mark, timeout=timeout)

    # ------------------------------------------------------------- waiting
    def mark(self) -> int:
        """Remember the current end of :attr:`events`; waits look after it."""
        return self._socket.mark()

    def wait_for(self, event_type: str | Iterable[str], *, since: int | None = None, timeout: float = 60.0,
                 where: Callable[[RealtimeEvent], bool] | None = None,
                 raise_on_error: bool = True) -> RealtimeEvent:
        """Block until a server event of ``event_type`` arrives after ``since`` (default
        the last :meth:`mark`); as :meth:`voicekit.realtime.RealtimeSession.wait_for`.

        Raises
        ------
        TimeoutError, RealtimeError, ClosedError
        """
        self.lifecycle.check()
        return self._socket.wait_for(event_types(event_type), since, timeout, where, raise_on_error)

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
    def events(self) -> list[RealtimeEvent]:
        """Every event sent and received, base64 audio elided."""
        return self._socket.events

    @property
    def transcript(self) -> Transcript | None:
        """The Transcript the segments are shown in (None: not shown)."""
        return self._book.transcript

    @transcript.setter
    def transcript(self, transcript: Transcript | None) -> None:
        self._book.transcript = transcript

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

    def _vad_silence_ms(self) -> float:
        td = self.turn_detection or {}
        if td.get("type") == "semantic_vad":
            return 1000.0
        return float(td.get("silence_duration_ms") or 500)

    def _on_chunk(self, chunk: Any) -> None:
        self.lifecycle.check()
        self.send_audio(chunk.clip)

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            self._book.conversation = str(self.session.get("id", ""))
        elif kind == "error":
            self.errors.append(data.get("error") or {})
        else:
            done = self._book.handle(data, self._socket.now())
            if done is not None:
                self._on_segment(done)

    def _recorded(self, event: RealtimeEvent) -> None:
        """Nothing to add per event; :meth:`on_segment` is the hook."""


def _transcription_connect(client: AsyncOpenAI) -> Any:
    """A Realtime transcription session: ``intent=transcription`` and no model in the URL."""
    return client.realtime.connect(extra_query={"intent": "transcription"}).enter()
