"""Audio format constants and the one int16 <-> float32 conversion pair.

Every other module takes these from here, so there is exactly one definition of
the Realtime sample rate and exactly one way to scale PCM16.

Sources
-------
- Realtime API audio: PCM16, 24 kHz, mono, little-endian
  (``openai.types.realtime.RealtimeAudioFormats``: ``{"type": "audio/pcm", "rate": 24000}``).
- Speech API ``response_format="pcm"``: raw 24 kHz mono signed 16-bit little-endian
  (OpenAI text-to-speech guide, "Supported output formats").
- Transcription uploads: at most 25 MB (OpenAI speech-to-text guide).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = [
    "MAX_SAMPLE_RATE",
    "MAX_UPLOAD_BYTES",
    "MIN_SAMPLE_RATE",
    "PCM16_BYTES_PER_SAMPLE",
    "REALTIME_SAMPLE_RATE",
    "SPEECH_PCM_SAMPLE_RATE",
    "float_to_int16",
    "int16_to_float",
]

REALTIME_SAMPLE_RATE = 24_000
"""Sample rate of Realtime API PCM16 audio, in Hz."""

SPEECH_PCM_SAMPLE_RATE = 24_000
"""Sample rate of the Speech API's ``pcm`` response format, in Hz."""

PCM16_BYTES_PER_SAMPLE = 2
"""Bytes per sample per channel of PCM16."""

MIN_SAMPLE_RATE = 4_000
"""Lowest sample rate voicekit accepts, in Hz (telephone audio is 8 kHz)."""

MAX_SAMPLE_RATE = 384_000
"""Highest sample rate voicekit accepts, in Hz (the highest common studio rate)."""

MAX_UPLOAD_BYTES = 25 * 1024 * 1024
"""OpenAI's upload limit for transcription and translation files, in bytes."""

_INT16_SCALE = 32768.0


def int16_to_float(samples: npt.NDArray[np.int16]) -> npt.NDArray[np.float32]:
    """Convert PCM16 samples to float32 in [-1, 1).

    Parameters
    ----------
    samples : int16 array of any shape

    Returns
    -------
    float32 array of the same shape: ``samples / 32768``.
    """
    return (np.asarray(samples, dtype=np.int16).astype(np.float32)) / np.float32(_INT16_SCALE)


def float_to_int16(samples: npt.NDArray[np.floating]) -> npt.NDArray[np.int16]:
    """Convert float samples in [-1, 1] to PCM16, clipping anything outside.

    Parameters
    ----------
    samples : float array of any shape, nominally in [-1, 1]

    Returns
    -------
    int16 array of the same shape: ``round(samples * 32768)`` clipped to
    [-32768, 32767]. NaN becomes 0.
    """
    x = np.nan_to_num(np.clip(np.asarray(samples), -1.0, 1.0).astype(np.float32), nan=0.0)
    scaled = np.rint(x * np.float32(_INT16_SCALE))
    return np.clip(scaled, -32768, 32767).astype(np.int16)
