"""Tests for voicekit.formats: the constants and the one int16 <-> float32 pair."""

from __future__ import annotations

import numpy as np
import pytest

from voicekit import formats
from voicekit.formats import float_to_int16, int16_to_float

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int32).astype(np.int16)


def test_public_surface_is_pinned() -> None:
    assert sorted(formats.__all__) == [
        "MAX_SAMPLE_RATE",
        "MAX_UPLOAD_BYTES",
        "MIN_SAMPLE_RATE",
        "PCM16_BYTES_PER_SAMPLE",
        "REALTIME_SAMPLE_RATE",
        "SPEECH_PCM_SAMPLE_RATE",
        "float_to_int16",
        "int16_to_float",
    ]


def test_constants() -> None:
    assert formats.REALTIME_SAMPLE_RATE == 24_000
    assert formats.SPEECH_PCM_SAMPLE_RATE == 24_000
    assert formats.PCM16_BYTES_PER_SAMPLE == 2
    assert formats.MIN_SAMPLE_RATE == 4_000
    assert formats.MAX_SAMPLE_RATE == 384_000
    assert formats.MAX_UPLOAD_BYTES == 25 * 1024 * 1024


def test_round_trip_is_exact_for_every_int16_value() -> None:
    assert ALL_INT16.size == 65_536
    as_float = int16_to_float(ALL_INT16)
    back = float_to_int16(as_float)
    assert back.dtype == np.int16
    np.testing.assert_array_equal(back, ALL_INT16)


def test_int16_to_float_scale_and_range() -> None:
    out = int16_to_float(ALL_INT16)
    assert out.dtype == np.float32
    assert out.shape == ALL_INT16.shape
    assert out[0] == -1.0  # -32768 / 32768
    assert out[-1] == np.float32(32767 / 32768)  # just below 1
    assert out[32768] == 0.0  # the int16 value 0
    np.testing.assert_array_equal(int16_to_float(np.array([16384, -16384], np.int16)), [0.5, -0.5])


def test_float_to_int16_scale() -> None:
    got = float_to_int16(np.array([0.0, 0.5, -0.5, -1.0, 1 / 32768], np.float32))
    np.testing.assert_array_equal(got, [0, 16384, -16384, -32768, 1])


def test_clipping_outside_unit_range() -> None:
    got = float_to_int16(np.array([1.0, 1.5, 100.0, -1.0001, -7.0], np.float32))
    np.testing.assert_array_equal(got, [32767, 32767, 32767, -32768, -32768])


def test_nan_becomes_zero_and_inf_clips() -> None:
    got = float_to_int16(np.array([np.nan, np.inf, -np.inf, 0.25], np.float32))
    np.testing.assert_array_equal(got, [0, 32767, -32768, 8192])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_to_int16_keeps_shape_and_accepts_float64(dtype: type) -> None:
    x = np.array([[0.5, -0.5], [0.25, 2.0], [0.0, -2.0]], dtype=dtype)
    got = float_to_int16(x)
    assert got.shape == (3, 2)
    np.testing.assert_array_equal(got, [[16384, -16384], [8192, 32767], [0, -32768]])


def test_huge_float64_values_clip_without_overflow_warnings() -> None:
    # filterwarnings=error turns any overflow RuntimeWarning into a failure here.
    got = float_to_int16(np.array([1e300, -1e300, 0.75], np.float64))
    np.testing.assert_array_equal(got, [32767, -32768, 24576])
