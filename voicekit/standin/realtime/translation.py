"""The Realtime translation API: ``GET /v1/realtime/translations?model=gpt-realtime-translate``.

What OpenAI defines (the SDK's ``client.realtime.translations.connect`` and its
``openai.types.realtime.realtime_translation_*`` models): the server opens with
``session.created`` (a ``RealtimeTranslationSession``); the client streams
``session.input_audio_buffer.append`` (base64 PCM16, 24 kHz mono), may send
``session.update`` (``audio.output.language``, ``audio.input.transcription``,
``audio.input.noise_reduction``) and ends with ``session.close``, after which
the server flushes what it still has and answers ``session.closed``. Meanwhile it
sends ``session.input_transcript.delta`` (source-language text, only when
``audio.input.transcription`` is set), ``session.output_transcript.delta`` and
``session.output_audio.delta`` (translated text and PCM16 audio), each with
``elapsed_ms``, the input time it belongs to, in 200 ms steps.

How the stand-in does it: phrase by phrase. Silero VAD (:class:`voicekit.vad.TurnDetector`)
cuts the input at pauses of :data:`PHRASE_PAUSE_MS`, into phrases of at least
:data:`MIN_PHRASE_MS` (and at a short pause once one reaches :data:`MAX_PHRASE_MS`); each phrase goes, in order, to
Whisper (the language is identified per phrase by Whisper ``base``;
``tiny.en`` for English, whose "translation" is its transcription, else the
multilingual Whisper's translate task) and then to Piper, whose audio goes out
sentence by sentence while the speaker goes on talking. ``elapsed_ms`` is the
phrase's end on the input timeline. Differences from OpenAI:

- The target language can only be English (``audio.output.language`` ``"en"``,
  the default): Whisper translates into English only and Piper's one voice
  speaks English. Another target is an ``invalid_value`` error that says so.
- The model name must be ``gpt-realtime-translate`` (:data:`TRANSLATION_MODELS`);
  any other gets an ``error`` event naming it and close code 1008.
- ``noise_reduction`` is accepted and reported, but not applied.
- Translation starts after a pause, not word by word: the first translated
  audio comes roughly a phrase behind the speaker.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import logging
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from openai.types.realtime import (
    RealtimeTranslationInputAudioBufferAppendEvent,
    RealtimeTranslationSession,
    RealtimeTranslationSessionCloseEvent,
    RealtimeTranslationSessionUpdateEvent,
)
from starlette.websockets import WebSocket

from ...audio import Clip
from ...formats import REALTIME_SAMPLE_RATE
from ...vad import TurnDetector, VadSettings
from ..engines import Engines, SttResult, languages
from ..engines.synthesis import synthesize_pcm
from ..models import REALTIME_TRANSLATION_MODELS
from ..transport.hub import EventHub
from ..transport.links import Link, WebSocketLink
from ..transport.wire import Registry, client_event_object, event_id_of
from .events import RealtimeProtocolError, error_event, new_id
from .items import decode_pcm16
from .registry import validate

__all__ = ["TARGET_LANGUAGES", "TRANSLATION_MODELS", "TranslationConnection", "translations"]

log = logging.getLogger("voicekit.standin.realtime.translation")

TRANSLATION_MODELS = REALTIME_TRANSLATION_MODELS
"""Model names the translation endpoint answers to (the SDK types ``model`` as a plain ``str``)."""

TARGET_LANGUAGES: tuple[str, ...] = ("en",)
"""Target languages offline: Whisper's translate task writes English, Piper speaks English."""

ELAPSED_STEP_MS = 200
"""``elapsed_ms`` advances in 200 ms steps (OpenAI: "translation consumes 200 ms engine frames")."""

SESSION_LIFETIME_S = 30 * 60
PHRASE_PAUSE_MS = 700
"""Silence that ends a phrase (Silero VAD at threshold 0.5)."""

MIN_PHRASE_MS = 1500
"""A phrase shorter than this waits for the next one: Whisper's language detection and its
translation both go wrong on a second of speech (measured on ``test_es.wav``: with 500 ms
pauses and no minimum, "Las arenas son blanquecinas" alone came out as "The black sand, the
black sand." and the next fragment as "see you in the next video!")."""

MAX_PHRASE_MS = 10_000
"""A phrase this long ends at the next short pause between words (Silero's ``speech_paused``,
32 ms of silence), so a speaker who never pauses for :data:`PHRASE_PAUSE_MS` is still
translated as they go, not at the end."""

_PHRASE_VAD = VadSettings(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=PHRASE_PAUSE_MS)
_MIN_PHRASE_SAMPLES = REALTIME_SAMPLE_RATE // 5  # 200 ms: shorter is noise, even at session.close


def default_translation_session(model: str) -> dict[str, Any]:
    """A new session: English output, no source transcription, no noise reduction."""
    return {
        "id": new_id("sess"), "type": "translation", "model": model,
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "audio": {"input": {"noise_reduction": None, "transcription": None}, "output": {"language": "en"}},
    }


def merge_translation_session(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Apply a ``session.update``'s ``session`` (a ``RealtimeTranslationSessionUpdateRequest``).

    A field present replaces the current one (``null`` switches noise reduction or
    transcription off); ``noise_reduction.strength`` omitted keeps the current
    strength, or 1 when it is first switched on (OpenAI's documented default).

    Raises
    ------
    RealtimeProtocolError
        ``invalid_value`` for a target language other than English, naming the limit.
    """
    merged = copy.deepcopy(current)
    audio = patch.get("audio") or {}
    inp, out = audio.get("input") or {}, audio.get("output") or {}
    if "language" in out and out["language"] is not None:
        lang = str(out["language"]).lower()
        if lang not in TARGET_LANGUAGES:
            raise RealtimeProtocolError(
                f"The stand-in translates into English only: Whisper's translate task writes English and Piper's "
                f"one voice speaks English; got audio.output.language {out['language']!r}. Use 'en', or a real "
                "OpenAI key for other target languages.", code="invalid_value", param="session.audio.output.language")
        merged["audio"]["output"]["language"] = lang
    if "noise_reduction" in inp:
        nr = inp["noise_reduction"]
        if nr is not None:
            old = merged["audio"]["input"]["noise_reduction"] or {}
            nr = {"type": nr["type"], "strength": nr.get("strength", old.get("strength", 1.0))}
        merged["audio"]["input"]["noise_reduction"] = nr
    if "transcription" in inp:
        merged["audio"]["input"]["transcription"] = inp["transcription"]
    RealtimeTranslationSession.model_validate(merged)
    return merged


def _source_and_translation(engines: Engines, clip: Clip, want_source: bool) -> tuple[SttResult | None, str]:
    """Whisper one phrase (worker thread): its source transcript (if wanted) and its English text.

    The language is identified by Whisper ``base`` first (:func:`..engines.languages.detect`),
    not by ``tiny.en``'s gate: input here is expected to be in another language, on which
    ``tiny.en`` can loop for seconds before the gate rejects it.
    """
    ml, code = languages.detect(engines, clip)
    if code == "en":
        heard = engines.stt.transcribe(clip)
        return (heard if want_source else None), heard.text
    source = ml.transcribe(clip, language=code) if want_source else None
    return source, ml.transcribe(clip, language=code, task="translate").text


class TranslationConnection(EventHub):
    """One translation WebSocket: its session, the input timeline and the phrases in flight.

    Its events travel through :class:`~..transport.hub.EventHub`, as the Realtime and
    Live sessions' do; its client events are registered in :data:`HANDLERS`.
    """

    def __init__(self, engines: Engines, session: dict[str, Any]) -> None:
        EventHub.__init__(self)
        self.engines = engines
        self.session = session
        self.timeline = 0
        """PCM16 samples (24 kHz) appended so far."""
        self._audio: list[npt.NDArray[np.int16]] = []
        self._audio_start = 0  # timeline position of the first kept sample
        self._phrase_start: int | None = None
        self._detector = TurnDetector(_PHRASE_VAD)
        self._previous: asyncio.Future[Any] | None = None
        self._closed = False
        self._spoke = False

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event from any thread; it gets its ``event_id`` here."""
        self.post({"event_id": new_id("event"), **event})

    def reading(self) -> bool:
        return not self._closed

    async def serve(self, link: Link) -> None:
        """Send ``session.created``, then read client events until ``session.close`` or a disconnect."""
        self.add_link(link)
        self.start_sending()
        self.emit({"type": "session.created", "session": self.session})
        try:
            await self.read(link, self._dispatch, self._reject, "Send the audio in smaller appends.")
        finally:
            for task in list(self._tasks):
                if not self._closed:
                    task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await asyncio.sleep(0)  # events queued from worker threads arrive first
            await self.stop_sending()
            if self._closed:
                await link.close()

    def _reject(self, message: str, code: str) -> None:
        self.emit(error_event(RealtimeProtocolError(message, code=code), None))

    async def _dispatch(self, text: str, link: Link) -> None:
        client_id = None
        try:
            raw = client_event_object(text, RealtimeProtocolError)
            client_id = event_id_of(raw)
            model, handler = HANDLERS.entry(raw.get("type"), RealtimeProtocolError)
            if model is not None:
                validate(model, raw)
            await handler(self, raw)
        except RealtimeProtocolError as err:
            self.emit(error_event(err, client_id))

    def _append(self, audio_b64: str) -> None:
        pcm = decode_pcm16(audio_b64, "audio")
        self._audio.append(pcm)
        self.timeline += pcm.size
        for event in self._detector.feed(pcm):
            at = round(event.ms * REALTIME_SAMPLE_RATE / 1000)
            if event.kind == "speech_started" and self._phrase_start is None:
                self._phrase_start = max(self._audio_start, at - round(0.3 * REALTIME_SAMPLE_RATE))
            elif event.kind == "speech_paused" and self._phrase_start is not None:
                if at - self._phrase_start >= MAX_PHRASE_MS * REALTIME_SAMPLE_RATE // 1000:
                    self._phrase(self._phrase_start, min(self.timeline, at))
                    self._phrase_start = min(self.timeline, at)
            elif event.kind == "speech_stopped" and self._phrase_start is not None:
                end = min(self.timeline, at)
                if end - self._phrase_start >= MIN_PHRASE_MS * REALTIME_SAMPLE_RATE // 1000:
                    self._phrase(self._phrase_start, end)
                    self._phrase_start = None
        if self._phrase_start is None:  # keep only the last 300 ms before speech (prefix padding)
            self._trim(self.timeline - round(0.3 * REALTIME_SAMPLE_RATE))

    def _samples(self, start: int, end: int) -> npt.NDArray[np.int16]:
        audio = np.concatenate(self._audio) if self._audio else np.zeros(0, np.int16)
        self._audio = [audio]
        return audio[start - self._audio_start:end - self._audio_start].copy()

    def _trim(self, keep_from: int) -> None:
        if keep_from > self._audio_start and self._audio:
            audio = np.concatenate(self._audio)
            cut = min(keep_from - self._audio_start, audio.size)
            self._audio, self._audio_start = [audio[cut:]], self._audio_start + cut

    def _phrase(self, start: int, end: int) -> None:
        if end - start < _MIN_PHRASE_SAMPLES:
            return
        clip = Clip(self._samples(start, end), REALTIME_SAMPLE_RATE)
        self._trim(end)
        elapsed = int(end * 1000 / REALTIME_SAMPLE_RATE) // ELAPSED_STEP_MS * ELAPSED_STEP_MS
        task = asyncio.ensure_future(self._translate(clip, elapsed, self._previous))
        self._previous = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _translate(self, clip: Clip, elapsed_ms: int, previous: asyncio.Future[Any] | None) -> None:
        """Whisper then Piper for one phrase; its events go out after the previous phrase's."""
        want_source = self.session["audio"]["input"]["transcription"] is not None
        work = asyncio.to_thread(_source_and_translation, self.engines, clip, want_source)
        try:
            source, text = await work
        except Exception as exc:  # reported as an error event, the session goes on
            log.exception("translating a phrase failed")
            source, text = None, ""
            self.emit(error_event(RealtimeProtocolError(f"translation failed: {type(exc).__name__}: {exc}",
                                                        type="server_error", code="translation_failed"), None))
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        first = self._first_phrase()
        if source is not None and source.text:
            self.emit({"type": "session.input_transcript.delta", "delta": source.text if first else f" {source.text}",
                       "elapsed_ms": elapsed_ms})
        text = text.strip()
        if not text:
            return
        self.emit({"type": "session.output_transcript.delta", "delta": text if first else f" {text}",
                   "elapsed_ms": elapsed_ms})
        chunks = synthesize_pcm(self.engines.tts, text, sample_rate=REALTIME_SAMPLE_RATE)
        while (pcm := await asyncio.to_thread(next, chunks, None)) is not None:
            self.emit({"type": "session.output_audio.delta", "delta": base64.b64encode(pcm.tobytes()).decode(),
                       "elapsed_ms": elapsed_ms, "format": "pcm16", "sample_rate": REALTIME_SAMPLE_RATE,
                       "channels": 1})

    def _first_phrase(self) -> bool:
        first, self._spoke = not self._spoke, True
        return first

    async def _close(self) -> None:
        """``session.close``: translate the phrase still open, wait for every phrase, then ``session.closed``."""
        if self._phrase_start is not None:
            self._phrase(self._phrase_start, self.timeline)
            self._phrase_start = None
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.emit({"type": "session.closed"})
        self._closed = True


HANDLERS = Registry()
"""Client event type -> (``openai.types.realtime`` translation model, handler)."""


@HANDLERS.handles("session.input_audio_buffer.append", RealtimeTranslationInputAudioBufferAppendEvent)
async def _input_audio_buffer_append(conn: TranslationConnection, event: dict[str, Any]) -> None:
    conn._append(event["audio"])


@HANDLERS.handles("session.update", RealtimeTranslationSessionUpdateEvent)
async def _session_update(conn: TranslationConnection, event: dict[str, Any]) -> None:
    conn.session = merge_translation_session(conn.session, event["session"])
    conn.emit({"type": "session.updated", "session": conn.session})


@HANDLERS.handles("session.close", RealtimeTranslationSessionCloseEvent)
async def _session_close(conn: TranslationConnection, event: dict[str, Any]) -> None:
    await conn._close()


async def translations(websocket: WebSocket) -> None:
    """Serve one translation connection; an unknown model gets an ``error`` event and close code 1008.
    Opened with an ephemeral key, the session starts with the key's ``audio`` configuration."""
    model = websocket.query_params.get("model") or ""
    await websocket.accept()
    if model not in TRANSLATION_MODELS:
        err = RealtimeProtocolError(
            f"The model `{model}` does not exist or you do not have access to it. The stand-in's Realtime "
            f"translation answers to {', '.join(TRANSLATION_MODELS)} only (Whisper, then Piper, into English).",
            code="model_not_found", param="model")
        await websocket.send_json({"event_id": new_id("event"), **error_event(err, None)})
        await websocket.close(code=1008)
        return
    engines: Engines = websocket.app.state.engines
    session = default_translation_session(model)
    grant = websocket.scope.get("voicekit.ephemeral")  # an ek_ key from translations/client_secrets
    if grant is not None:
        session["audio"] = copy.deepcopy(grant.session["audio"])
    await TranslationConnection(engines, session).serve(WebSocketLink(websocket))
