"""Senders of the Realtime client events a notebook uses most: audio in, turns, responses.

Private to :mod:`voicekit.realtime`: :class:`ClientEventsMixin` is a base of
``RealtimeSession``. Event shapes: ``openai.types.realtime``'s ``RealtimeClientEventParam``.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE

if TYPE_CHECKING:
    from .._lifecycle import Lifecycle
    from ._socket import RealtimeSocket

VAD_PAD_MS = 500
"""Silence sent after a recording, on top of the VAD's ``silence_duration_ms``, so the
server hears the end of the turn (semantic_vad waits up to 1,000 ms at low eagerness)."""

__all__ = ["VAD_PAD_MS", "ClientEventsMixin", "pcm16_24k"]


class ClientEventsMixin:
    """``send_audio``, ``send_clip``, ``send_text``, ``commit``, ``clear_input``, ``create_response``,
    ``cancel_response``, ``truncate``."""

    _socket: RealtimeSocket

    if TYPE_CHECKING:
        lifecycle: Lifecycle

        @property
        def turn_detection(self) -> dict[str, Any] | None: ...
        def send(self, event: Mapping[str, Any]) -> Future[None]: ...
        def _vad_silence_ms(self) -> float: ...

    def send_audio(self, audio: Clip) -> Future[None]:
        """Queue one ``input_audio_buffer.append`` of ``audio`` (any rate and channels;
        mixed to mono, resampled to 24,000 Hz PCM16 with soxr). The Future is done
        once it was sent."""
        self.lifecycle.check()
        return self._socket.put("audio", pcm16_24k(audio))

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = False,
                  pad_ms: float | None = None) -> Future[None]:
        """Stream a recording as ``input_audio_buffer.append`` events of ``chunk_ms``.

        Parameters
        ----------
        clip : Clip
            Any rate and channels (mixed to mono, resampled to 24,000 Hz PCM16).
        chunk_ms : float
            Audio per event, in ms.
        realtime : bool
            Pace the chunks at the speed of speech, as a microphone would; the call
            still returns at once. By default they go as fast as the socket takes
            them (the server's VAD works on the audio timeline either way).
        pad_ms : float, optional
            Silence appended after the clip, in ms. Default: with server_vad or
            semantic_vad, the VAD's silence window plus 500 ms, so the turn ends; with
            manual turns (``turn_detection`` null), none.

        Returns
        -------
        concurrent.futures.Future
            Done when the last chunk was sent.
        """
        self.lifecycle.check()
        pcm = pcm16_24k(clip)
        if pad_ms is None:
            pad_ms = self._vad_silence_ms() + VAD_PAD_MS if self.turn_detection else 0.0
        pad = np.zeros(round(pad_ms * REALTIME_SAMPLE_RATE / 1000), np.int16)
        step = max(1, round(chunk_ms * REALTIME_SAMPLE_RATE / 1000))
        return self._socket.put("clip", (np.concatenate([pcm, pad]), step, realtime))

    def send_text(self, text: str, *, respond: bool = True) -> None:
        """Add a user message with ``input_text`` and, by default, ask for a response."""
        self.send({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})
        if respond:
            self.create_response()

    def commit(self) -> None:
        """Send ``input_audio_buffer.commit`` (manual turns: the user finished speaking)."""
        self.send({"type": "input_audio_buffer.commit"})

    def clear_input(self) -> None:
        """Send ``input_audio_buffer.clear`` (drop audio not yet committed)."""
        self.send({"type": "input_audio_buffer.clear"})

    def create_response(self, **response: Any) -> None:
        """Send ``response.create``; keyword arguments are per-response overrides
        (``instructions``, ``output_modalities``, ``tool_choice``, ``conversation``...)."""
        self.send({"type": "response.create", **({"response": response} if response else {})})

    def cancel_response(self) -> None:
        """Send ``response.cancel`` (the server answers with an error if none is active)."""
        self.send({"type": "response.cancel"})

    def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> None:
        """Send ``conversation.item.truncate``: the assistant audio heard ends at
        ``audio_end_ms`` (ms from the start of that item's audio)."""
        self.send({"type": "conversation.item.truncate", "item_id": item_id,
                   "content_index": content_index, "audio_end_ms": int(audio_end_ms)})


def pcm16_24k(audio: Clip) -> np.ndarray:
    """``audio`` as int16 samples, mono, 24,000 Hz (resampled with soxr).

    Raises
    ------
    TypeError
        If ``audio`` is not a :class:`~voicekit.Clip`.
    """
    if not isinstance(audio, Clip):
        raise TypeError(f"expected a voicekit Clip, got {type(audio).__name__}")
    return audio.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples
