"""``session.input_audio.append``, ``.mute`` and ``.unmute`` (``openai.types.live``).

Audio is PCM16 little-endian at the session's rate (24 or 16 kHz). Appends
have no acknowledgement (``InputAudioAppendEvent`` docstring); mute
and unmute are answered with ``session.input_audio.muted`` and ``.unmuted``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from openai.types.live import InputAudioAppendEvent, InputAudioMuteEvent, InputAudioUnmuteEvent

from ....formats import REALTIME_SAMPLE_RATE
from ...transport import wire
from ..errors import LiveError
from ..state import LiveState
from .registry import handles

__all__ = ["GAP_FILL_MS", "decode_pcm16", "input_audio_append", "input_audio_mute", "input_audio_unmute"]

GAP_FILL_MS = 1000.0
"""When a client stops sending audio for longer than this (ms), as a notebook does
between two recordings, the gap is heard as silence before the next chunk: the session
timeline is the wall clock, and the input transcript's ``start_ms``/``end_ms`` must stay
on it (otherwise they count only the audio received and fall behind the output's)."""


def decode_pcm16(data: str, param: str) -> np.ndarray:
    """Base64 PCM16 little-endian as int16 ``(n,)`` (:func:`...transport.wire.decode_pcm16`).

    Raises
    ------
    LiveError
        If ``data`` is not valid base64 or holds an odd number of bytes.
    """
    try:
        return wire.decode_pcm16(data, param)
    except wire.PcmError as exc:
        raise LiveError(str(exc), param=param) from None


@handles("session.input_audio.append", InputAudioAppendEvent)
async def input_audio_append(conn: LiveState, event: dict[str, Any]) -> None:
    """Feed the listener; audio at 16 kHz (``audio.format.rate``) is resampled to 24 kHz first (soxr, streaming)."""
    assert conn.listener is not None and conn.session is not None
    pcm = decode_pcm16(event["audio"], "audio")
    rate = int(conn.session["audio"]["format"]["rate"])
    if rate != REALTIME_SAMPLE_RATE:
        if conn.resampler is None:
            import soxr

            conn.resampler = soxr.ResampleStream(rate, REALTIME_SAMPLE_RATE, 1, dtype="int16")
        pcm = np.asarray(conn.resampler.resample_chunk(pcm), np.int16).reshape(-1)
    gap_ms = conn.wall_ms() - 1000.0 * conn.input_samples / REALTIME_SAMPLE_RATE
    if gap_ms > GAP_FILL_MS and not conn.listener.in_speech:
        await conn.listener.feed(np.zeros(round(gap_ms * REALTIME_SAMPLE_RATE / 1000), np.int16))
    await conn.listener.feed(pcm)


@handles("session.input_audio.mute", InputAudioMuteEvent)
async def input_audio_mute(conn: LiveState, event: dict[str, Any]) -> None:
    conn.muted = True
    conn.emit({"type": "session.input_audio.muted"}, conn.client_event_id)


@handles("session.input_audio.unmute", InputAudioUnmuteEvent)
async def input_audio_unmute(conn: LiveState, event: dict[str, Any]) -> None:
    conn.muted = False
    conn.emit({"type": "session.input_audio.unmuted"}, conn.client_event_id)
