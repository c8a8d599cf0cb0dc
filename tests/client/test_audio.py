"""Tests for voicekit.audio: the Clip value type, its decoders, encoders and conversions."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import soundfile as sf
from conftest import sine

from voicekit import audio
from voicekit.audio import Clip
from voicekit.errors import AudioError, AudioFormatError, EmptyAudioError, VoiceKitError
from voicekit.formats import REALTIME_SAMPLE_RATE


def peak_hz(clip: Clip) -> float:
    """Frequency of the strongest FFT bin of the mono mix, in Hz."""
    x = clip.to_mono().to_float32().samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(x.size)))
    return float(np.fft.rfftfreq(x.size, 1 / clip.sample_rate)[np.argmax(spectrum)])


def rms(x: npt.NDArray[np.float32]) -> float:
    return float(np.sqrt(np.mean(np.square(x.astype(np.float64)))))


def stereo_sine(sample_rate: int = 44_100, seconds: float = 1.0) -> Clip:
    """int16 stereo: left a 1 kHz sine at half scale, right the same at quarter scale."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    left = 0.5 * np.sin(2 * np.pi * 1000 * t)
    x = np.stack([left, 0.5 * left], axis=1)
    return Clip(np.rint(x * 32768).astype(np.int16), sample_rate)


def test_public_surface_is_pinned() -> None:
    assert sorted(audio.__all__) == ["Clip", "EncodeFormat"]


# ------------------------------------------------------------------ decoders
def test_wav_int16_from_file(shared_audio: Path) -> None:
    path = shared_audio / "ls_0880.wav"
    clip = Clip.from_file(path)
    assert clip.sample_rate == 16_000
    assert clip.samples.dtype == np.int16
    assert clip.samples.shape == (47_840,)
    expected, rate = sf.read(path, dtype="int16")
    assert rate == 16_000
    np.testing.assert_array_equal(clip.samples, expected)


def test_wav_from_str_path(shared_audio: Path) -> None:
    path = shared_audio / "cards_001.wav"
    clip = Clip.from_file(str(path))
    assert clip.n_frames == sf.info(path).frames == (path.stat().st_size - 44) // 2 == 17_526


def test_raw_pcm16_via_sample_rate(shared_audio: Path) -> None:
    path = shared_audio / "goforward_16k_s16le.raw"
    clip = Clip.from_file(path, sample_rate=16_000)
    assert clip.sample_rate == 16_000
    assert clip.samples.dtype == np.int16
    assert clip.samples.shape == (44_580,)
    np.testing.assert_array_equal(clip.samples, np.fromfile(path, dtype="<i2"))
    assert clip.duration == pytest.approx(2.78625)


def test_raw_pcm16_stereo_is_deinterleaved() -> None:
    raw = np.array([1, -1, 2, -2, 3, -3], "<i2").tobytes()
    clip = Clip.from_bytes(raw, sample_rate=8_000, channels=2)
    assert clip.samples.shape == (3, 2)
    np.testing.assert_array_equal(clip.samples[:, 0], [1, 2, 3])
    np.testing.assert_array_equal(clip.samples[:, 1], [-1, -2, -3])


def test_flac_44k_stereo_is_lossless() -> None:
    clip = stereo_sine()
    data = clip.encode("flac")
    assert data[:4] == b"fLaC"
    back = Clip.from_bytes(data)
    assert back.sample_rate == 44_100
    assert back.samples.dtype == np.int16
    assert back.samples.shape == (44_100, 2)
    np.testing.assert_array_equal(back.samples, clip.samples)


def test_wav_round_trip_is_exact_and_float_becomes_int16(sine_clip: Clip) -> None:
    back = Clip.from_bytes(sine_clip.to_wav_bytes())
    assert back.samples.dtype == np.int16
    np.testing.assert_array_equal(back.samples, sine_clip.to_int16().samples)


@pytest.mark.parametrize(
    ("fmt", "magic", "rate_out"),
    [
        ("mp3", None, 16_000),
        ("opus", b"OggS", 16_000),
        ("ogg", b"OggS", 16_000),
        ("webm", b"\x1a\x45\xdf\xa3", 48_000),  # EBML header; FFmpeg decodes it (PyAV)
    ],
)
def test_lossy_round_trip_keeps_pitch_and_length(
    fmt: str, magic: bytes | None, rate_out: int
) -> None:
    clip = sine(freq=1_000.0, seconds=1.0, sample_rate=16_000)
    data = clip.encode(fmt)  # type: ignore[arg-type]
    if magic is not None:
        assert data.startswith(magic)
    back = Clip.from_bytes(data)
    assert back.sample_rate == rate_out
    assert back.samples.dtype == np.float32
    assert back.n_channels == 1
    assert back.duration == pytest.approx(1.0, abs=0.005)
    assert peak_hz(back) == pytest.approx(1_000.0, abs=2.0)
    assert rms(back.samples) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)


def test_mp3_header_is_mpeg_frame_sync() -> None:
    data = sine(sample_rate=16_000).encode("mp3")
    start = data[10 + int.from_bytes(data[6:10], "big"):] if data[:3] == b"ID3" else data
    assert start[0] == 0xFF and start[1] & 0xE0 == 0xE0


def test_mp3_resamples_unsupported_rates_up_to_an_mpeg_rate() -> None:
    back = Clip.from_bytes(sine(freq=500.0, sample_rate=7_000).encode("mp3"))
    assert back.sample_rate == 8_000
    assert peak_hz(back) == pytest.approx(500.0, abs=2.0)


def test_opus_stereo_44k_is_resampled_to_48k() -> None:
    back = Clip.from_bytes(stereo_sine().encode("opus"))
    assert back.sample_rate == 48_000
    assert back.n_channels == 2
    assert back.duration == pytest.approx(1.0, abs=0.005)
    left, right = rms(back.samples[:, 0]), rms(back.samples[:, 1])
    assert right / left == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(("rate", "channels"), [(16_000, 1), (44_100, 2)])
def test_aac_round_trip(rate: int, channels: int) -> None:
    clip = sine(freq=1_000.0, sample_rate=rate) if channels == 1 else stereo_sine(rate)
    data = clip.encode("aac")
    assert data[0] == 0xFF and data[1] & 0xF0 == 0xF0  # ADTS sync word
    back = Clip.from_bytes(data)
    assert back.sample_rate == rate
    assert back.n_channels == channels
    assert back.samples.dtype == np.float32
    # ADTS carries no encoder delay: the decoder keeps AAC's 1024 priming samples
    # and the padding of the last 1024-sample frame.
    assert clip.n_frames <= back.n_frames <= clip.n_frames + 2 * 1024
    assert peak_hz(back) == pytest.approx(1_000.0, abs=2.0)


@pytest.mark.parametrize(("rate", "rate_out"), [(4_000, 7_350), (192_000, 96_000)])
def test_aac_resamples_unsupported_rates(rate: int, rate_out: int) -> None:
    back = Clip.from_bytes(sine(freq=1_000.0, sample_rate=rate).encode("aac"))
    assert back.sample_rate == rate_out
    assert peak_hz(back) == pytest.approx(1_000.0, abs=2.0)


def test_webm_stereo_keeps_channel_balance() -> None:
    back = Clip.from_bytes(stereo_sine().encode("webm"))
    assert back.sample_rate == 48_000
    assert back.samples.shape[1] == 2
    left, right = rms(back.samples[:, 0]), rms(back.samples[:, 1])
    assert left == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert right / left == pytest.approx(0.5, abs=0.05)


def test_pcm_encode_is_headerless_little_endian() -> None:
    clip = Clip(np.array([1, -2, 256], np.int16), 16_000)
    assert clip.encode("pcm") == b"\x01\x00\xfe\xff\x00\x01"
    assert clip.to_pcm16_bytes() == clip.encode("pcm")


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["bad.wav", "evil.wav"])
def test_broken_wav_headers(shared_audio: Path, name: str) -> None:
    with pytest.raises(AudioFormatError) as info:
        Clip.from_file(shared_audio / name)
    message = str(info.value)
    assert "WAV" in message
    assert "header" in message
    assert name in message


def test_absurd_sample_rate(shared_audio: Path) -> None:
    with pytest.raises(AudioFormatError) as info:
        Clip.from_file(shared_audio / "awful.wav")
    message = str(info.value)
    assert "1092676 Hz" in message
    assert "between 4000 and 384000 Hz" in message


def test_valid_header_with_zero_frames(shared_audio: Path) -> None:
    with pytest.raises(EmptyAudioError, match="0 frames at 16000 Hz") as info:
        Clip.from_file(shared_audio / "null.wav")
    assert "null.wav" in str(info.value)


def test_empty_bytes() -> None:
    with pytest.raises(AudioFormatError, match=r"empty file \(0 bytes\)"):
        Clip.from_bytes(b"")


def test_empty_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(AudioFormatError, match="empty.wav"):
        Clip.from_file(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        Clip.from_file(tmp_path / "missing.wav")


def test_text_is_not_audio(shared_audio: Path) -> None:
    with pytest.raises(AudioFormatError) as info:
        Clip.from_file(shared_audio / "README.md")
    message = str(info.value)
    assert "README.md" in message
    assert "text, not audio" in message
    assert "1347 bytes" in message


def test_random_bytes_are_not_audio() -> None:
    noise = bytes(np.random.default_rng(0).integers(128, 256, 2_000, dtype=np.uint8))
    with pytest.raises(AudioFormatError, match="unrecognised bytes"):
        Clip.from_bytes(noise, name="noise.bin")


@pytest.mark.parametrize(("n_bytes", "channels", "multiple"), [(3, 1, 2), (6, 2, 4)])
def test_raw_pcm16_with_partial_frame(n_bytes: int, channels: int, multiple: int) -> None:
    with pytest.raises(AudioFormatError, match=f"multiple of {multiple} bytes, got {n_bytes}"):
        Clip.from_bytes(b"\x00" * n_bytes, sample_rate=16_000, channels=channels)


def test_raw_pcm16_empty() -> None:
    with pytest.raises(EmptyAudioError, match="at least one PCM16 frame"):
        Clip.from_pcm16(b"", 16_000)


def test_raw_pcm16_bad_rate() -> None:
    with pytest.raises(AudioFormatError, match="got 1000 Hz"):
        Clip.from_bytes(b"\x00\x00", sample_rate=1_000)


def test_error_classes() -> None:
    for cls in (AudioError, AudioFormatError, EmptyAudioError):
        assert issubclass(cls, ValueError)
        assert issubclass(cls, VoiceKitError)
    assert issubclass(AudioFormatError, AudioError)
    assert issubclass(EmptyAudioError, AudioError)
    assert not issubclass(EmptyAudioError, AudioFormatError)


def test_bad_audio_is_catchable_as_value_error(shared_audio: Path) -> None:
    for name in ("bad.wav", "evil.wav", "awful.wav", "null.wav", "README.md"):
        with pytest.raises(ValueError):
            Clip.from_file(shared_audio / name)


# --------------------------------------------------------------- validation
@pytest.mark.parametrize("dtype", [np.float64, np.int32, np.uint8])
def test_clip_rejects_other_dtypes(dtype: type) -> None:
    with pytest.raises(AudioFormatError, match=f"got {np.dtype(dtype)}"):
        Clip(np.zeros(10, dtype), 16_000)


@pytest.mark.parametrize("shape", [(10, 2, 2), (10, 0), ()])
def test_clip_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(AudioFormatError, match=r"got shape \("):
        Clip(np.zeros(shape, np.float32), 16_000)


@pytest.mark.parametrize(
    ("rate", "message"),
    [
        (0, "got 0 Hz"),
        (3_999, "got 3999 Hz"),
        (384_001, "got 384001 Hz"),
        (16_000.0, "got float 16000.0"),
        ("16000", "got str '16000'"),
        (True, "got bool True"),
    ],
)
def test_clip_rejects_bad_rates(rate: object, message: str) -> None:
    with pytest.raises(AudioFormatError, match=message):
        Clip(np.zeros(10, np.int16), rate)  # type: ignore[arg-type]


def test_clip_accepts_numpy_int_rate_and_limits() -> None:
    clip = Clip(np.zeros(10, np.int16), np.int64(24_000))  # type: ignore[arg-type]
    assert clip.sample_rate == 24_000 and type(clip.sample_rate) is int
    assert Clip(np.zeros(1, np.int16), 4_000).sample_rate == 4_000
    assert Clip(np.zeros(1, np.int16), 384_000).sample_rate == 384_000


def test_clip_allows_zero_frames() -> None:
    clip = Clip(np.zeros((0, 2), np.float32), 16_000)
    assert clip.n_frames == 0 and clip.n_channels == 2 and clip.duration == 0.0


def test_clip_is_frozen_and_samples_read_only() -> None:
    source = np.arange(10, dtype=np.int16)
    clip = Clip(source, 16_000)
    with pytest.raises(dataclasses.FrozenInstanceError):
        clip.sample_rate = 8_000  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        clip.samples = source  # type: ignore[misc]
    assert not clip.samples.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        clip.samples[0] = 5
    source[0] = 99  # the caller's array was copied, not shared
    assert clip.samples[0] == 0


def test_facts_and_repr() -> None:
    clip = stereo_sine(seconds=0.5)
    assert clip.n_frames == len(clip) == 22_050
    assert clip.n_channels == 2
    assert clip.duration == pytest.approx(0.5)
    assert repr(clip) == "Clip(0.500 s, 44100 Hz, 2 ch, int16)"
    assert Clip(np.zeros(16_000, np.float32), 16_000).duration == 1.0


# -------------------------------------------------------------- conversions
def test_to_int16_and_to_float32(sine_clip: Clip) -> None:
    as_int = sine_clip.to_int16()
    assert as_int.samples.dtype == np.int16
    assert as_int.to_int16() is as_int
    back = as_int.to_float32()
    assert back.samples.dtype == np.float32
    assert back.to_float32() is back
    np.testing.assert_allclose(back.samples, sine_clip.samples, atol=0.5 / 32768)


def test_to_mono() -> None:
    stereo = Clip(np.array([[100, 300], [-100, -300], [32767, 32767]], np.int16), 8_000)
    mono = stereo.to_mono()
    assert mono.samples.dtype == np.int16
    np.testing.assert_array_equal(mono.samples, [200, -200, 32767])
    fstereo = Clip(np.array([[0.5, -0.5], [1.0, 0.0]], np.float32), 8_000)
    np.testing.assert_array_equal(fstereo.to_mono().samples, np.array([0.0, 0.5], np.float32))
    assert fstereo.to_mono().samples.dtype == np.float32
    mono_in = Clip(np.zeros(4, np.int16), 8_000)
    assert mono_in.to_mono() is mono_in


def test_resample_keeps_frequency_and_duration() -> None:
    clip = sine(freq=1_000.0, seconds=1.0, sample_rate=16_000)
    up = clip.resample(24_000)
    assert up.sample_rate == 24_000
    assert up.samples.dtype == np.float32
    assert up.n_frames == 24_000
    assert up.duration == pytest.approx(clip.duration, abs=1e-3)
    assert peak_hz(up) == pytest.approx(1_000.0, abs=1.0)
    assert rms(up.samples[1000:-1000]) == pytest.approx(rms(clip.samples), rel=0.01)


def test_resample_int16_stereo_keeps_dtype_and_channels() -> None:
    down = stereo_sine(44_100).resample(16_000)
    assert down.samples.dtype == np.int16
    assert down.samples.shape == (16_000, 2)
    assert peak_hz(down) == pytest.approx(1_000.0, abs=1.0)


def test_resample_is_band_limited() -> None:
    # 7 kHz cannot exist at 8 kHz (Nyquist 4 kHz): soxr removes it; np.interp would
    # alias it to 1 kHz at nearly full strength.
    down = sine(freq=7_000.0, seconds=1.0, sample_rate=16_000).resample(8_000)
    assert rms(down.samples) < 0.01 * (0.5 / np.sqrt(2))


def test_resample_same_rate_and_empty(sine_clip: Clip) -> None:
    assert sine_clip.resample(16_000) is sine_clip
    empty = Clip(np.zeros(0, np.int16), 16_000).resample(24_000)
    assert empty.sample_rate == 24_000 and empty.n_frames == 0


def test_resample_refuses_bad_rate(sine_clip: Clip) -> None:
    with pytest.raises(AudioFormatError, match="got 100 Hz"):
        sine_clip.resample(100)


def test_slice(click_clip: Clip) -> None:
    part = click_clip.slice(0.25, 0.75)
    assert part.n_frames == 8_000
    assert part.samples[4_000] == 32767  # the click at 0.5 s, now at 0.25 s
    assert click_clip.slice(0.9).n_frames == 1_600
    assert click_clip.slice(0.8, 0.2).n_frames == 0


# ----------------------------------------------------------------- encoders
def test_to_file_tuple(sine_clip: Clip) -> None:
    name, data, mime = sine_clip.to_file_tuple()
    assert name == "audio.wav"
    assert mime == "audio/wav"
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    back = Clip.from_bytes(data)
    assert back.sample_rate == 16_000
    np.testing.assert_array_equal(back.samples, sine_clip.to_int16().samples)
    assert sine_clip.to_file_tuple("take1.wav")[0] == "take1.wav"


@pytest.mark.parametrize(
    ("suffix", "rate_out"),
    [
        (".wav", 16_000),
        (".flac", 16_000),
        (".mp3", 16_000),
        (".opus", 16_000),
        (".ogg", 16_000),
        (".aac", 16_000),
        (".webm", 48_000),
        (".pcm", 16_000),
        (".WAV", 16_000),
    ],
)
def test_to_file_per_suffix(tmp_path: Path, suffix: str, rate_out: int) -> None:
    clip = sine(freq=1_000.0, seconds=0.5, sample_rate=16_000)
    path = clip.to_file(tmp_path / f"out{suffix}")
    assert path == tmp_path / f"out{suffix}"
    raw_rate = 16_000 if suffix == ".pcm" else None
    back = Clip.from_file(path, sample_rate=raw_rate)
    assert back.sample_rate == rate_out
    assert back.duration == pytest.approx(0.5, abs=0.15)
    assert peak_hz(back) == pytest.approx(1_000.0, abs=3.0)


def test_to_file_refuses_unknown_suffix(tmp_path: Path, sine_clip: Clip) -> None:
    with pytest.raises(AudioFormatError, match=r"got '\.xyz' in out\.xyz"):
        sine_clip.to_file(tmp_path / "out.xyz")
    assert not (tmp_path / "out.xyz").exists()


def test_encode_refuses_unknown_format(sine_clip: Clip) -> None:
    with pytest.raises(AudioFormatError, match="got 'wma'"):
        sine_clip.encode("wma")  # type: ignore[arg-type]


def test_mime_type() -> None:
    assert Clip.mime_type("wav") == "audio/wav"
    assert Clip.mime_type("mp3") == "audio/mpeg"
    assert Clip.mime_type("webm") == "audio/webm"


def test_to_realtime_base64_is_24k_mono_pcm16() -> None:
    clip = stereo_sine(sample_rate=48_000, seconds=0.5)
    text = clip.to_realtime_base64()
    assert isinstance(text, str)
    raw = base64.b64decode(text, validate=True)
    assert len(raw) == 2 * 12_000  # 0.5 s * 24,000 Hz * 2 bytes, one channel
    back = Clip.from_base64_pcm16(text)
    assert back.sample_rate == REALTIME_SAMPLE_RATE
    assert back.n_channels == 1 and back.samples.dtype == np.int16
    assert peak_hz(back) == pytest.approx(1_000.0, abs=2.0)


def test_to_realtime_base64_from_16k_int16(shared_audio: Path) -> None:
    clip = Clip.from_file(shared_audio / "ls_0880.wav")
    raw = base64.b64decode(clip.to_realtime_base64())
    assert len(raw) == 2 * 71_760  # 47,840 frames * 24/16


def test_from_base64_pcm16_round_trip() -> None:
    samples = np.array([0, 1, -1, 32767, -32768], np.int16)
    text = base64.b64encode(samples.astype("<i2").tobytes()).decode()
    clip = Clip.from_base64_pcm16(text)
    assert clip.sample_rate == 24_000
    np.testing.assert_array_equal(clip.samples, samples)
    assert Clip.from_base64_pcm16(text, sample_rate=16_000).sample_rate == 16_000


@pytest.mark.parametrize("text", ["not base64!!", "AAA", "AA=A"])
def test_from_base64_pcm16_invalid_base64(text: str) -> None:
    with pytest.raises(AudioFormatError, match="invalid base64"):
        Clip.from_base64_pcm16(text)


def test_from_base64_pcm16_odd_byte_count() -> None:
    with pytest.raises(AudioFormatError, match="multiple of 2 bytes, got 1 bytes"):
        Clip.from_base64_pcm16(base64.b64encode(b"\x00").decode())


def test_player_never_autoplays(sine_clip: Clip) -> None:
    player = sine_clip.player()
    assert player.autoplay is False
    assert player.data[:4] == b"RIFF"


def test_read_only_view_of_writeable_array_is_copied():
    base = np.zeros(100, np.int16)
    view = base[:]
    view.flags.writeable = False
    clip = Clip(view, 16_000)
    base[0] = 123
    assert clip.samples[0] == 0


def test_from_pcm16_rejects_zero_channels():
    with pytest.raises(AudioFormatError, match="channels"):
        Clip.from_pcm16(b"\0\0", 16_000, channels=0)


def test_rate_error_names_the_file(shared_audio):
    with pytest.raises(AudioFormatError, match="awful.wav"):
        Clip.from_file(shared_audio / "awful.wav")
