"""Decoding audio bytes for :meth:`voicekit.audio.Clip.from_bytes`: libsndfile first, then PyAV.

Both decoders return ``(samples, sample_rate)``: samples frames first (``(n,)`` mono or
``(n, 2)``), int16 for PCM16 files and float32 in [-1, 1] otherwise; the rate in Hz. The
helpers after them word the error for bytes no decoder reads.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile as sf

from .errors import AudioFormatError
from .formats import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

__all__ = ["check_rate", "decode_av", "decode_soundfile", "describe_bytes", "short_error"]


def check_rate(sample_rate: Any) -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise AudioFormatError(
            f"expected sample_rate as an int in Hz, got {type(sample_rate).__name__} {sample_rate!r}"
        )
    rate = int(sample_rate)
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioFormatError(
            f"expected a sample rate between {MIN_SAMPLE_RATE} and {MAX_SAMPLE_RATE} Hz, "
            f"got {rate} Hz"
        )
    return rate


def decode_soundfile(raw: bytes) -> tuple[npt.NDArray[Any], int]:
    with sf.SoundFile(io.BytesIO(raw)) as f:
        rate = check_rate(f.samplerate)
        dtype = "int16" if f.subtype == "PCM_16" else "float32"
        samples = f.read(dtype=dtype, always_2d=True)
    if samples.shape[1] == 1:
        samples = samples[:, 0]
    return np.ascontiguousarray(samples), rate


def decode_av(raw: bytes) -> tuple[npt.NDArray[np.float32], int]:
    import av

    chunks: list[npt.NDArray[np.float32]] = []
    with av.open(io.BytesIO(raw), mode="r") as container:
        if not container.streams.audio:
            raise AudioFormatError(
                f"expected an audio stream, got a {container.format.name} container with none"
            )
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels or 1
        layout = "mono" if channels == 1 else "stereo"
        channels = min(channels, 2)
        rate = check_rate(stream.codec_context.sample_rate or stream.rate)
        resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1, channels))
        for out in resampler.resample(None):
            chunks.append(np.asarray(out.to_ndarray(), np.float32).reshape(-1, channels))
    samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), np.float32)
    if channels == 1:
        samples = samples[:, 0]
    return np.ascontiguousarray(samples, dtype=np.float32), rate


def describe_bytes(raw: bytes) -> str:
    head = raw[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "a WAV file whose header is broken"
    if head[:4] in (b"fLaC", b"OggS") or head[:3] == b"ID3":
        return "a damaged audio file"
    if head.lstrip()[:1] in (b"{", b"<") or all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return f"text, not audio (starts {raw[:16]!r})"
    return f"unrecognised bytes (starts {raw[:8].hex(' ')})"


def short_error(exc: BaseException) -> str:
    text = str(exc)
    return text.split("] ", 1)[-1].split(": '", 1)[0] if text else type(exc).__name__
