"""Live translation: a Realtime *translation* session running in the background of a notebook.

:class:`TranslationSession` opens ``client.realtime.translations.connect(model=...)`` (a
WebSocket at ``/v1/realtime/translations?model=gpt-realtime-translate``; the SDK's
``openai.resources.realtime.translations``) on the same background socket as the other
sessions (:class:`~voicekit.session.ConnectedSession` over a
:class:`~voicekit.session.WebSocketTransport`). The protocol, from the SDK's
``openai.types.realtime.realtime_translation_*`` models and OpenAI's guide "Realtime
translation":

- the server opens with ``session.created``; one ``session.update`` sets
  ``audio.output.language`` (the target), ``audio.input.transcription`` (source-language
  text, optional) and ``audio.input.noise_reduction``; the model is fixed by the URL;
- audio goes in as ``session.input_audio_buffer.append``: base64 PCM16 mono, 24,000 Hz
  (a Recorder's chunks, or a recording at the pace of speech); there is no commit and no
  ``response.create``: the server translates as the audio streams, silence included;
- out come ``session.input_transcript.delta`` (source text), ``session.output_transcript.delta``
  (translated text) and ``session.output_audio.delta`` (translated PCM16 audio), each with
  ``elapsed_ms`` on the input timeline;
- ``session.close`` makes the server flush what it still has and answer ``session.closed``.

Every client event is validated with the SDK's ``RealtimeTranslationClientEvent`` before it
goes out. The deltas are grouped into :class:`~.translation_phrases.Phrase` objects
(source, translation, audio, lag), shown side by side in a
:class:`~voicekit.widgets.TranslationLines`; the audio plays in a streaming Player.

The SDK has a class of the same name, ``openai.lib.realtime_translation.TranslationSession``:
a bare context manager over the connection, with no thread, widgets or phrases. This one
connects through the generated binding (``client.realtime.translations.connect``) itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session import ConnectedSession, Transport, WebSocketTransport, client_events, pcm16_24k
from ..session.client_events import TRANSLATION, check_client_event
from . import translation_phrases as tp
from .translation_phrases import Phrase, PhraseBook, SentLog

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import EventLog, Player, TranslationLines

__all__ = ["APPEND", "CHUNK_MS", "DEFAULT_SOURCE_TRANSCRIBE_MODEL", "DEFAULT_TRANSLATION_MODEL", "PAD_MS", "QUIET_S",
           "TranslationSession", "validate_client_event"]

logger = logging.getLogger("voicekit.realtime")

DEFAULT_TRANSLATION_MODEL = "gpt-realtime-translate"
"""OpenAI's Realtime translation model (guide "Realtime translation")."""

DEFAULT_SOURCE_TRANSCRIBE_MODEL = "gpt-4o-transcribe"
"""``audio.input.transcription.model`` the session turns on unless told otherwise (OpenAI's
default is none: no ``session.input_transcript.delta``)."""

APPEND = "session.input_audio_buffer.append"
"""The client event that carries the input audio."""

CHUNK_MS = 200
"""Audio per append, ms: "translation consumes 200 ms engine frames; for best realtime
behavior, append audio in 200 ms chunks" (the SDK's ``RealtimeTranslationInputAudioBufferAppendEvent``)."""

PAD_MS = 1500
"""Silence streamed after a recording, ms: the guide asks for silence between phrases, and
the stand-in ends a phrase at a 700 ms pause."""

QUIET_S = 6.0
""":meth:`~voicekit.session.VoiceSession.send_clip`'s Future is done once translation
deltas came after the recording was sent and then none for this long (the protocol marks
no phrase's end; :meth:`TranslationSession.finish` waits for ``session.closed``, exactly)."""

def validate_client_event(event: Mapping[str, Any]) -> None:
    """Check ``event`` against the SDK's ``RealtimeTranslationClientEvent`` union (strict
    types, and no field the SDK's models do not declare); :func:`voicekit.session.client_events.check_client_event`.

    Raises
    ------
    ValueError
        Naming what the SDK's model refuses, or a field it does not define.
    """
    check_client_event(TRANSLATION, event)


class TranslationSession(ConnectedSession):
    """Live translation of a microphone or a recording, shown and played as it arrives.

    Parameters
    ----------
    client : openai.AsyncOpenAI or openai.OpenAI
        A sync client is copied into an ``AsyncOpenAI`` (same key and base URL), closed
        with the session.
    model : str
        ``"gpt-realtime-translate"`` (default), in the WebSocket URL.
    language : str
        ``audio.output.language``: the target language, ISO-639-1 (default ``"en"``; the
        stand-in translates into English only and answers another with an error).
    transcribe : str or None
        ``audio.input.transcription.model`` for the source-language text (default
        ``"gpt-4o-transcribe"``); None: no source text.
    noise_reduction : dict, optional
        ``audio.input.noise_reduction``, for example ``{"type": "near_field"}``.
    player : Player, optional
        Plays the translated audio (PCM16, 24,000 Hz; give it ``autoplay=True``).
    lines : TranslationLines, optional
        Shows each phrase's source beside its translation, and the errors.
    event_log : EventLog, optional
        Lists every event.
    transport : Transport, optional
        Default: a WebSocket to ``client.realtime.translations.connect(model=model)``.

    Attributes
    ----------
    phrases : list of Phrase
        One per phrase, in order (see :mod:`voicekit.realtime.translation_phrases`).
    session : dict
        The session as the server last reported it (a ``RealtimeTranslationSession``).
    errors : list of dict
        The ``error`` objects of every ``error`` event received.
    """

    CLIENT_EVENTS = client_events.TRANSLATION  # every event sent is checked with the SDK's model

    def __init__(self, client: AsyncOpenAI | OpenAI, model: str = DEFAULT_TRANSLATION_MODEL, *,
                 language: str = "en", transcribe: str | None = DEFAULT_SOURCE_TRANSCRIBE_MODEL,
                 noise_reduction: Mapping[str, Any] | None = None, player: Player | None = None,
                 lines: TranslationLines | None = None, event_log: EventLog | None = None,
                 transport: Transport | None = None) -> None:
        self.model = model
        self.language = language
        self.transcribe = transcribe
        self.noise_reduction = dict(noise_reduction) if noise_reduction is not None else None
        self.session: dict[str, Any] = {}
        self.errors: list[dict[str, Any]] = []
        self._sent = SentLog()
        self._book = PhraseBook(lines, self._sent)
        self._last_delta_s = 0.0
        self._configured = False  # the server accepted start()'s session.update
        if transport is None:
            transport = WebSocketTransport(client, lambda c: c.realtime.translations.connect(model=model).enter(),
                                           append_type=APPEND, name="TranslationSession")
        super().__init__(transport, player=player, event_log=event_log)

    # ------------------------------------------------------------ lifecycle
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Connect, wait for ``session.created``, send one ``session.update`` with this
        configuration (then ``session`` given to ``start``, merged by the server) and return
        the session of ``session.updated``. A second ``start()`` only sends the update, or,
        when the server refused the first one's, the whole configuration again."""
        self._transport.open(timeout)
        self.wait_for("session.created", since=0, timeout=timeout)
        return self._configure(config, timeout)

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self._configured:  # refused (e.g. a target other than English on the stand-in): raise again
            return self._configure(config, timeout)
        return self.update(config, timeout=timeout) if config else dict(self.session)

    def _configure(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        session = self.update(_merge(self._config(), config), timeout=timeout)
        self._configured = True
        return session

    def update(self, session: Mapping[str, Any], *, timeout: float = 30.0) -> dict[str, Any]:
        """Send ``session.update`` (``session``: a ``RealtimeTranslationSessionUpdateRequest``,
        only ``audio``) and return the session of ``session.updated``.

        Raises
        ------
        ValueError
            If the SDK's model refuses the event (nothing is sent).
        RealtimeError, TimeoutError
            If the server refuses it (for example a target language the stand-in cannot
            speak) or does not answer.
        """
        mark = self.mark()
        self.send({"type": "session.update", "session": dict(session)})
        return dict(self.wait_for("session.updated", since=mark, timeout=timeout).data["session"])

    def finish(self, *, timeout: float = 120.0) -> list[Phrase]:
        """Send ``session.close``: the server translates what it still has, answers
        ``session.closed`` and hangs up. Returns every phrase. The session is over after
        this (make a new one, or re-run its cell, to translate more).

        Raises
        ------
        TimeoutError, RealtimeError, ClosedError
            As :meth:`wait_for`.
        """
        mark = self.mark()
        self.send({"type": "session.close"})
        self.wait_for("session.closed", since=mark, timeout=timeout)
        return list(self.phrases)

    def send_clip(self, clip: Clip, *, chunk_ms: float = CHUNK_MS, realtime: bool = True,
                  pad_ms: float | None = None, timeout: float = 120.0, barge_in: bool = False) -> Future[list[Any]]:
        """As :meth:`~voicekit.session.VoiceSession.send_clip`, in :data:`CHUNK_MS` (200 ms)
        appends by default; its Future is done as :data:`QUIET_S` says (``barge_in`` is ignored:
        a translation session has no replies to talk over)."""
        return super().send_clip(clip, chunk_ms=chunk_ms, realtime=realtime, pad_ms=pad_ms, timeout=timeout,
                                 barge_in=barge_in)

    def translate(self, clip: Clip, *, realtime: bool = True, timeout: float = 180.0) -> list[Phrase]:
        """Stream ``clip`` in :data:`CHUNK_MS` appends (at the pace of speech by default),
        then :data:`PAD_MS` of silence, then :meth:`finish`; returns the phrases it made.

        Raises
        ------
        TimeoutError, RealtimeError, ClosedError
        """
        before = len(self.phrases)
        self.lifecycle.check()
        self._stream_pad(clip, realtime).result(timeout)
        self.finish(timeout=timeout)
        return list(self.phrases[before:])

    def _stream_pad(self, clip: Clip, realtime: bool) -> Any:
        pcm = np.concatenate([pcm16_24k(clip), np.zeros(PAD_MS * REALTIME_SAMPLE_RATE // 1000, np.int16)])
        return self._stream(pcm, CHUNK_MS * REALTIME_SAMPLE_RATE // 1000, realtime)

    # ------------------------------------------------------------- reading
    @property
    def phrases(self) -> list[Phrase]:
        """One :class:`Phrase` per phrase, in order."""
        return self._book.phrases

    @property
    def lines(self) -> TranslationLines | None:
        """The TranslationLines the phrases are shown in (None: not shown)."""
        return self._book.lines

    @lines.setter
    def lines(self, lines: TranslationLines | None) -> None:
        self._book.lines = lines

    @property
    def source_text(self) -> str:
        """Every phrase's source text, joined by spaces."""
        return " ".join(p.source.strip() for p in self.phrases if p.source.strip())

    @property
    def translation(self) -> str:
        """Every phrase's translation, joined by spaces."""
        return " ".join(p.translation.strip() for p in self.phrases if p.translation.strip())

    @property
    def audio(self) -> Clip | None:
        """All the translated audio (PCM16 mono, 24,000 Hz), or None."""
        chunks = [c for p in self.phrases for c in p.audio_chunks]
        return Clip(np.concatenate(chunks), REALTIME_SAMPLE_RATE) if chunks else None

    @property
    def conversation_id(self) -> str:
        """The server's session id (the TranslationLines' key)."""
        return str(self.session.get("id", ""))

    def _turn_list(self) -> list[Phrase]:
        return self._book.phrases

    def _default_pad_ms(self) -> float:
        return float(PAD_MS)

    def _settle(self, before: int, mark: int, timeout: float) -> list[Phrase]:
        """After a clip was sent: wait for the first translation delta after ``mark`` (none
        within ``timeout``: nothing was translated, ``[]``), then until none came for
        :data:`QUIET_S` (the protocol marks no phrase's end; :meth:`finish` is exact)."""
        deadline = time.monotonic() + timeout
        deltas = (tp.SOURCE_DELTA, tp.OUTPUT_DELTA, tp.AUDIO_DELTA, "session.closed")
        try:
            self.wait_for(deltas, since=mark, timeout=timeout)
        except TimeoutError:
            return list(self.phrases[before:])
        while self._transport.record.closed is None:
            left = self._last_delta_s + QUIET_S - self._now()
            if left <= 0:
                break
            if time.monotonic() + left > deadline:
                raise TimeoutError(f"translation still arriving after {timeout:g} s")
            try:
                self.wait_for(deltas, since=len(self.events), timeout=left)
            except TimeoutError:
                pass
        return list(self.phrases[before:])

    # ------------------------------------------------------------ internals
    def _config(self) -> dict[str, Any]:
        audio_in: dict[str, Any] = {}
        if self.transcribe is not None:
            audio_in["transcription"] = {"model": self.transcribe}
        if self.noise_reduction is not None:
            audio_in["noise_reduction"] = self.noise_reduction
        audio: dict[str, Any] = {"output": {"language": self.language}}
        if audio_in:
            audio["input"] = audio_in
        return {"audio": audio}

    def _before_send(self, event: dict[str, Any]) -> None:
        if event.get("type") == APPEND:
            validate_client_event(event)
            b64 = event["audio"]
            self._sent.add((len(b64) * 3 // 4 - b64[-2:].count("=")) // 2, self._now())

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        now = self._now()
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            self._book.conversation = self.conversation_id
        elif kind == "error":
            err = data.get("error") or {}
            self.errors.append(err)
            logger.warning("Realtime translation error event: %s", err.get("message"))
            self._show_error(f"{err.get('code') or err.get('type')}: {err.get('message')}")
        elif kind in (tp.SOURCE_DELTA, tp.OUTPUT_DELTA, tp.AUDIO_DELTA):
            self._last_delta_s = now
            pcm = Clip.from_base64_pcm16(data["delta"]).samples if kind == tp.AUDIO_DELTA else None
            self._book.handle(data, now, pcm)
            if pcm is not None and self.player is not None:
                self.player.append(pcm)

    def _show_error(self, message: str) -> None:
        lines = self._book.lines
        if lines is not None:
            try:
                lines.show_error(message)
            except Exception:
                logger.exception("TranslationLines.show_error failed")


def _merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``patch`` merged in, dicts key by key."""
    out = dict(base)
    for key, value in patch.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out

