"""The one audio value type, :class:`Clip`, and its decoders and encoders.

Audio crosses every voicekit boundary as a ``Clip``; bytes appear only at the
wire, through explicit methods (:meth:`Clip.to_wav_bytes`,
:meth:`Clip.to_file_tuple`, :meth:`Clip.to_realtime_base64`, :meth:`Clip.encode`).

Decoding uses python-soundfile (libsndfile: WAV, FLAC, MP3, OGG/Vorbis,
OGG/Opus) and falls back to PyAV (FFmpeg: WebM/Opus, AAC, M4A and the rest).
Resampling uses soxr. The layout follows ``soundfile.read() -> (data, samplerate)``.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Union

import numpy as np
import numpy.typing as npt
import soundfile as sf

from ._decode import check_rate, decode_av, decode_soundfile, describe_bytes, short_error
from .errors import AudioFormatError, EmptyAudioError
from .formats import REALTIME_SAMPLE_RATE, float_to_int16, int16_to_float

if TYPE_CHECKING:
    from IPython.display import Audio as IPythonAudio

__all__ = ["Clip", "EncodeFormat"]

PathLike = Union[str, "os.PathLike[str]"]

EncodeFormat = Literal["wav", "flac", "mp3", "opus", "ogg", "aac", "webm", "pcm"]
"""Formats :meth:`Clip.encode` writes. ``pcm`` is headerless PCM16 little-endian."""

_MIME = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "ogg": "audio/ogg",
    "aac": "audio/aac",
    "webm": "audio/webm",
    "pcm": "audio/pcm",
}

# Sample rates the Opus codec supports, in Hz (RFC 6716, section 2).
_OPUS_RATES = (8_000, 12_000, 16_000, 24_000, 48_000)
# Sample rates MPEG-1/2/2.5 Layer III supports, in Hz.
_MP3_RATES = (8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000)
# Sample rates AAC supports, in Hz (ISO/IEC 14496-3 sampling frequency index).
_AAC_RATES = (7_350, 8_000, 11_025, 12_000, 16_000, 22_050, 24_000, 32_000, 44_100, 48_000,
              64_000, 88_200, 96_000)


@dataclass(frozen=True, eq=False)
class Clip:
    """A piece of audio: samples and their sample rate.

    Attributes
    ----------
    samples : numpy.ndarray
        Frames first: shape ``(n_frames,)`` for mono or ``(n_frames, n_channels)``.
        dtype ``int16`` (PCM16) or ``float32`` in [-1, 1]. Stored read-only.
    sample_rate : int
        Frames per second, in Hz, between 4,000 and 384,000.

    Raises
    ------
    AudioFormatError
        On construction, for another dtype, more than two dimensions, no channels,
        or a sample rate out of range. Zero frames are allowed here (an empty
        recording is a value), but the decoders raise :class:`EmptyAudioError`.
    """

    samples: npt.NDArray[Any]
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples)
        if samples.dtype not in (np.int16, np.float32):
            raise AudioFormatError(
                f"expected samples of dtype int16 or float32, got {samples.dtype}; "
                "convert with voicekit.formats.float_to_int16 or .astype(np.float32)"
            )
        if samples.ndim not in (1, 2) or (samples.ndim == 2 and samples.shape[1] == 0):
            raise AudioFormatError(
                "expected samples of shape (n_frames,) or (n_frames, n_channels), "
                f"got shape {samples.shape}"
            )
        rate = check_rate(self.sample_rate)
        if samples.flags.writeable or samples.base is not None:
            # Own the data: a read-only view of a writeable array could still change.
            samples = samples.copy()
            samples.flags.writeable = False
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "sample_rate", rate)

    # ------------------------------------------------------------------ facts
    @property
    def n_frames(self) -> int:
        """Number of frames (samples per channel)."""
        return int(self.samples.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels: 1 for shape ``(n,)``."""
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def duration(self) -> float:
        """Length in seconds: ``n_frames / sample_rate``."""
        return self.n_frames / self.sample_rate

    def __len__(self) -> int:
        return self.n_frames

    def __repr__(self) -> str:
        return (
            f"Clip({self.duration:.3f} s, {self.sample_rate} Hz, "
            f"{self.n_channels} ch, {self.samples.dtype})"
        )

    # ------------------------------------------------------------ conversions
    def to_int16(self) -> Clip:
        """The same audio as PCM16 (``int16``), clipping floats outside [-1, 1]."""
        if self.samples.dtype == np.int16:
            return self
        return Clip(float_to_int16(self.samples), self.sample_rate)

    def to_float32(self) -> Clip:
        """The same audio as ``float32`` in [-1, 1)."""
        if self.samples.dtype == np.float32:
            return self
        return Clip(int16_to_float(self.samples), self.sample_rate)

    def to_mono(self) -> Clip:
        """Average the channels into shape ``(n_frames,)``; keeps the dtype."""
        if self.samples.ndim == 1:
            return self
        mean = self.samples.astype(np.float32).mean(axis=1)
        if self.samples.dtype == np.int16:
            return Clip(np.clip(np.rint(mean), -32768, 32767).astype(np.int16), self.sample_rate)
        return Clip(mean.astype(np.float32), self.sample_rate)

    def resample(self, sample_rate: int, *, quality: str = "HQ") -> Clip:
        """Resample to ``sample_rate`` Hz with soxr (band-limited, no aliasing).

        Parameters
        ----------
        sample_rate : int
            Target rate in Hz.
        quality : str
            soxr quality: ``"QQ"``, ``"LQ"``, ``"MQ"``, ``"HQ"`` or ``"VHQ"``.

        Returns
        -------
        Clip with the same dtype and channel count.
        """
        import soxr

        target = check_rate(sample_rate)
        if target == self.sample_rate:
            return self
        if self.n_frames == 0:
            return Clip(self.samples.copy(), target)
        out = soxr.resample(self.samples, self.sample_rate, target, quality=quality)
        return Clip(np.ascontiguousarray(out, dtype=self.samples.dtype), target)

    def slice(self, start: float = 0.0, end: float | None = None) -> Clip:
        """The part between ``start`` and ``end`` seconds (end defaults to the end)."""
        a = max(0, round(start * self.sample_rate))
        b = self.n_frames if end is None else min(self.n_frames, round(end * self.sample_rate))
        return Clip(self.samples[a:max(a, b)], self.sample_rate)

    # ---------------------------------------------------------------- decoders
    @classmethod
    def from_file(
        cls, path: PathLike, *, sample_rate: int | None = None, channels: int = 1
    ) -> Clip:
        """Read an audio file.

        Parameters
        ----------
        path : str or PathLike
            WAV, FLAC, MP3, OGG/Vorbis, OGG/Opus, WebM/Opus (anything libsndfile
            or FFmpeg decodes), or headerless PCM16 little-endian when
            ``sample_rate`` is given (for example ``goforward_16k_s16le.raw``).
        sample_rate : int, optional
            Only for headerless PCM16: its rate in Hz.
        channels : int
            Only for headerless PCM16: interleaved channel count.

        Returns
        -------
        Clip: int16 for PCM16 sources, float32 otherwise, at the file's own rate.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        AudioFormatError
            Empty file, broken header, absurd sample rate, or not audio.
        EmptyAudioError
            A valid file with zero frames.
        """
        p = Path(path)
        data = p.read_bytes()
        return cls.from_bytes(data, sample_rate=sample_rate, channels=channels, name=p.name)

    @classmethod
    def from_bytes(
        cls,
        data: bytes | bytearray | memoryview,
        *,
        sample_rate: int | None = None,
        channels: int = 1,
        name: str = "audio",
    ) -> Clip:
        """Decode audio from bytes; see :meth:`from_file` for formats and errors.

        ``name`` only labels error messages.
        """
        raw = bytes(data)
        if not raw:
            raise AudioFormatError(
                f"expected audio in {name}, got an empty file (0 bytes)"
            )
        if sample_rate is not None:
            return cls.from_pcm16(raw, sample_rate, channels=channels, name=name)
        try:
            clip = cls(*decode_soundfile(raw))
        except AudioFormatError as exc:
            raise AudioFormatError(f"{exc} in {name}") from None
        except sf.LibsndfileError as sf_error:
            try:
                clip = cls(*decode_av(raw))
            except AudioFormatError as exc:
                raise AudioFormatError(f"{exc} in {name}") from None
            except Exception as av_error:
                raise AudioFormatError(
                    f"expected a WAV, FLAC, MP3, OGG or WebM audio file in {name}, "
                    f"got {describe_bytes(raw)} ({len(raw)} bytes) that no decoder reads: "
                    f"libsndfile says {str(sf_error).split(': ', 1)[-1]!r}; "
                    f"FFmpeg says {short_error(av_error)!r}"
                ) from av_error
        if clip.n_frames == 0:
            raise EmptyAudioError(
                f"expected at least one audio frame in {name}, got empty audio "
                f"(a valid header with 0 frames at {clip.sample_rate} Hz)"
            )
        return clip

    @classmethod
    def from_pcm16(
        cls, data: bytes, sample_rate: int, *, channels: int = 1, name: str = "audio"
    ) -> Clip:
        """Wrap headerless PCM16 little-endian bytes (interleaved if ``channels > 1``).

        Raises
        ------
        AudioFormatError
            If the byte count is not a whole number of frames, or the rate is out of range.
        EmptyAudioError
            If ``data`` is empty.
        """
        rate = check_rate(sample_rate)
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise AudioFormatError(f"expected channels as an int >= 1, got {channels!r}")
        frame_bytes = 2 * channels
        if len(data) % frame_bytes:
            raise AudioFormatError(
                f"expected PCM16 with {channels} channel(s), a multiple of {frame_bytes} bytes, "
                f"got {len(data)} bytes in {name}"
            )
        if not data:
            raise EmptyAudioError(f"expected at least one PCM16 frame in {name}, got empty audio")
        samples = np.frombuffer(data, dtype="<i2").astype(np.int16)
        if channels > 1:
            samples = samples.reshape(-1, channels)
        return cls(samples, rate)

    @classmethod
    def from_base64_pcm16(cls, data: str, sample_rate: int = REALTIME_SAMPLE_RATE) -> Clip:
        """Decode base64 PCM16 mono, as Realtime ``audio`` and ``delta`` fields carry it."""
        try:
            raw = base64.b64decode(data, validate=True)
        except ValueError as exc:
            raise AudioFormatError(f"expected base64-encoded PCM16, got invalid base64: {exc}") from exc
        return cls.from_pcm16(raw, sample_rate, name="base64 PCM16")

    # ---------------------------------------------------------------- encoders
    def to_pcm16_bytes(self) -> bytes:
        """Headerless PCM16 little-endian bytes, channels interleaved."""
        return self.to_int16().samples.astype("<i2").tobytes()

    def to_realtime_base64(self) -> str:
        """Base64 PCM16 mono at 24 kHz, for Realtime ``input_audio_buffer.append``."""
        clip = self.to_mono().resample(REALTIME_SAMPLE_RATE)
        return base64.b64encode(clip.to_pcm16_bytes()).decode("ascii")

    def to_wav_bytes(self) -> bytes:
        """A complete WAV file (PCM16) as bytes."""
        return self.encode("wav")

    def to_file_tuple(self, filename: str = "audio.wav") -> tuple[str, bytes, str]:
        """``(filename, wav_bytes, "audio/wav")`` for the SDK's ``file=`` argument."""
        return (filename, self.to_wav_bytes(), "audio/wav")

    def to_file(self, path: PathLike) -> Path:
        """Write the clip; the suffix (``.wav``, ``.flac``, ``.mp3``, ``.opus``,
        ``.ogg``, ``.aac``, ``.webm`` or ``.pcm``) picks the format."""
        p = Path(path)
        fmt = p.suffix.lstrip(".").lower()
        if fmt not in _MIME:
            raise AudioFormatError(
                f"expected a file suffix among {sorted(_MIME)}, got {p.suffix!r} in {p.name}"
            )
        p.write_bytes(self.encode(fmt))  # type: ignore[arg-type]
        return p

    def encode(self, fmt: EncodeFormat) -> bytes:
        """Encode into a complete file of format ``fmt``.

        Opus supports only 8, 12, 16, 24 and 48 kHz, and MP3 and AAC only their own
        rates; other rates are resampled (to 24 or 48 kHz, or the next MPEG or AAC
        rate) first.

        Raises
        ------
        AudioFormatError
            For an unknown format.
        """
        if fmt == "pcm":
            return self.to_pcm16_bytes()
        clip = self.to_int16()
        buf = io.BytesIO()
        if fmt == "wav":
            sf.write(buf, clip.samples, clip.sample_rate, format="WAV", subtype="PCM_16")
        elif fmt == "flac":
            sf.write(buf, clip.samples, clip.sample_rate, format="FLAC", subtype="PCM_16")
        elif fmt == "mp3":
            if clip.sample_rate not in _MP3_RATES:
                clip = clip.resample(min((r for r in _MP3_RATES if r >= clip.sample_rate), default=48_000))
            sf.write(buf, clip.samples, clip.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
        elif fmt in ("opus", "ogg"):
            if clip.sample_rate not in _OPUS_RATES:
                clip = clip.resample(24_000 if clip.sample_rate <= 24_000 else 48_000)
            sf.write(buf, clip.samples, clip.sample_rate, format="OGG", subtype="OPUS")
        elif fmt in ("aac", "webm"):
            return _encode_av(clip, fmt)
        else:
            raise AudioFormatError(f"expected a format among {sorted(_MIME)}, got {fmt!r}")
        return buf.getvalue()

    @staticmethod
    def mime_type(fmt: str) -> str:
        """The MIME type voicekit uses for ``fmt`` (for example ``"audio/wav"``)."""
        return _MIME[fmt]

    # ------------------------------------------------------------------ display
    def player(self) -> IPythonAudio:
        """An HTML5 player for a notebook. It never autoplays and never loops."""
        from IPython.display import Audio

        return Audio(data=self.to_wav_bytes(), autoplay=False)


# ---------------------------------------------------------------------- helpers
def _encode_av(clip: Clip, fmt: str) -> bytes:
    import av

    container_fmt, codec, rate = ("adts", "aac", clip.sample_rate) if fmt == "aac" else (
        "webm", "libopus", 48_000
    )
    if fmt == "aac" and rate not in _AAC_RATES:
        rate = min((r for r in _AAC_RATES if r >= rate), default=96_000)
    if clip.sample_rate != rate:
        clip = clip.resample(rate)
    layout = "mono" if clip.n_channels == 1 else "stereo"
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container_fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        assert isinstance(stream, av.audio.stream.AudioStream)
        samples = clip.to_int16().samples.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()
