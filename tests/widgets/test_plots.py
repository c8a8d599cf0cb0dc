"""Tests for voicekit.plots: waveform, spectrogram and comparison figures."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI warnings

import matplotlib.pyplot as plt
import numpy as np
import pytest
from conftest import sine
from matplotlib.figure import Figure

from voicekit import plots
from voicekit.audio import Clip
from voicekit.plots import plot_compare, plot_spectrogram, plot_waveform


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


def stereo_int16(seconds: float = 0.5, sample_rate: int = 44_100) -> Clip:
    """Left: a 1 kHz sine at half scale; right: silence. int16, shape (n, 2)."""
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    left = np.rint(16384 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
    return Clip(np.stack([left, np.zeros_like(left)], axis=1), sample_rate)


def colorbar_labels(fig: Figure) -> list[str]:
    return [ax.get_ylabel() for ax in fig.axes if "dB" in ax.get_ylabel()]


def test_public_surface_is_pinned() -> None:
    assert sorted(plots.__all__) == ["plot_compare", "plot_spectrogram", "plot_timeline", "plot_waveform"]


# ---------------------------------------------------------------- waveform
def test_waveform_returns_figure_with_labels(sine_clip: Clip) -> None:
    fig = plot_waveform(sine_clip, title="A sine")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    assert ax.get_xlabel() == "Time (s)"
    assert ax.get_ylabel() == "Amplitude"
    assert ax.get_title() == "A sine"
    assert ax.get_xlim() == pytest.approx((0.0, 1.0))
    (line,) = ax.get_lines()
    x, y = line.get_data()
    assert len(x) == sine_clip.n_frames
    assert x[-1] == pytest.approx((sine_clip.n_frames - 1) / 16_000)
    np.testing.assert_allclose(y, sine_clip.samples)


def test_waveform_default_title_describes_clip(sine_clip: Clip) -> None:
    assert plot_waveform(sine_clip).axes[0].get_title() == "1.00 s, 16000 Hz, 1 ch"


def test_waveform_stereo_int16_plots_mono_mix_as_float() -> None:
    clip = stereo_int16()
    ax = plot_waveform(clip).axes[0]
    y = ax.get_lines()[0].get_data()[1]
    assert y.shape == (clip.n_frames,)
    # Mean of (half-scale sine, silence) is a quarter-scale sine in float amplitude.
    assert np.max(np.abs(y)) == pytest.approx(0.25, abs=1e-3)
    assert "mono mix" in ax.get_title()
    assert ax.get_xlim()[1] == pytest.approx(0.5)


def test_waveform_words_overlay_adds_text_and_spans(sine_clip: Clip) -> None:
    words = [
        SimpleNamespace(word="go", start=0.05, end=0.2),  # like TranscriptionWord
        {"word": " forward", "start": 0.25, "end": 0.6},
        {"word": "ten", "start": 0.6, "end": 0.9},
    ]
    ax = plot_waveform(sine_clip, words=words).axes[0]
    assert [t.get_text() for t in ax.texts] == ["go", "forward", "ten"]
    assert [t.get_position()[0] for t in ax.texts] == pytest.approx([0.125, 0.425, 0.75])
    assert len(ax.patches) == 3  # one shaded span per word


def test_waveform_without_words_has_no_text(sine_clip: Clip) -> None:
    ax = plot_waveform(sine_clip).axes[0]
    assert len(ax.texts) == 0
    assert len(ax.patches) == 0


def test_waveform_draws_into_given_axes(sine_clip: Clip) -> None:
    fig, (ax1, ax2) = plt.subplots(2)
    assert plot_waveform(sine_clip, ax=ax2) is fig
    assert ax2.get_xlabel() == "Time (s)"
    assert len(ax1.get_lines()) == 0


def test_waveform_in_subfigure_returns_root_figure(sine_clip: Clip) -> None:
    fig = plt.figure()
    ax = fig.subfigures(1, 2)[1].subplots()
    assert plot_waveform(sine_clip, ax=ax) is fig


def test_waveform_of_zero_frames_does_not_crash() -> None:
    fig = plot_waveform(Clip(np.zeros(0, np.int16), 16_000))
    assert fig.axes[0].get_xlabel() == "Time (s)"


# ------------------------------------------------------------- spectrogram
def test_spectrogram_returns_figure_with_labels_and_db_colorbar(sine_clip: Clip) -> None:
    fig = plot_spectrogram(sine_clip)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "Time (s)"
    assert ax.get_ylabel() == "Frequency (Hz)"
    assert ax.get_ylim() == pytest.approx((0.0, 8_000.0))  # Nyquist of 16 kHz
    assert colorbar_labels(fig) == ["Level (dBFS)"]


def test_spectrogram_peak_is_at_the_sine_frequency() -> None:
    clip = sine(freq=1_000.0, sample_rate=16_000, amp=0.5)
    image = plot_spectrogram(clip).axes[0].get_images()[0]
    db = np.asarray(image.get_array())
    left, right, bottom, top = image.get_extent()
    freqs = np.linspace(bottom, top, db.shape[0] + 1)[:-1] + (top - bottom) / db.shape[0] / 2
    middle = db[:, db.shape[1] // 2]
    assert freqs[np.argmax(middle)] == pytest.approx(1_000.0, abs=16_000 / 512)
    # Half-scale sine: 20 log10(0.5) = -6 dBFS (within the Hann window's scalloping).
    assert middle.max() == pytest.approx(-6.0, abs=1.6)
    assert left < 0.0
    assert right > clip.duration


def test_spectrogram_max_hz(sine_clip: Clip) -> None:
    ax = plot_spectrogram(sine_clip, max_hz=4_000).axes[0]
    assert ax.get_ylim() == pytest.approx((0.0, 4_000.0))
    ax = plot_spectrogram(sine_clip, max_hz=50_000).axes[0]  # capped at Nyquist
    assert ax.get_ylim() == pytest.approx((0.0, 8_000.0))


@pytest.mark.parametrize("max_hz", [0, -10.0])
def test_spectrogram_refuses_bad_max_hz(sine_clip: Clip, max_hz: float) -> None:
    with pytest.raises(ValueError, match="max_hz > 0"):
        plot_spectrogram(sine_clip, max_hz=max_hz)


def test_spectrogram_stereo_int16() -> None:
    fig = plot_spectrogram(stereo_int16(), title="stereo")
    ax = fig.axes[0]
    assert ax.get_title() == "stereo"
    assert ax.get_ylim() == pytest.approx((0.0, 22_050.0))
    assert "Hz" in ax.get_ylabel() and "s" in ax.get_xlabel()
    assert colorbar_labels(fig) == ["Level (dBFS)"]


def test_spectrogram_of_silence_and_of_a_very_short_clip(silence_clip: Clip) -> None:
    assert isinstance(plot_spectrogram(silence_clip), Figure)
    assert isinstance(plot_spectrogram(Clip(np.ones(10, np.float32) * 0.1, 16_000)), Figure)


# ----------------------------------------------------------------- compare
def test_compare_layout_labels_and_shared_time_axis(sine_clip: Clip) -> None:
    other = stereo_int16(seconds=1.5, sample_rate=24_000)
    fig = plot_compare(sine_clip, other, labels=("orig", "copy"), title="Before and after")
    assert isinstance(fig, Figure)
    wave_a, spec_a, wave_b, spec_b = fig.axes[:4]
    assert fig.get_suptitle() == "Before and after"
    assert wave_a.get_title().startswith("orig: ")
    assert wave_b.get_title().startswith("copy: ")
    assert [ax.get_ylabel() for ax in (wave_a, wave_b)] == ["Amplitude", "Amplitude"]
    assert [ax.get_ylabel() for ax in (spec_a, spec_b)] == ["Frequency (Hz)"] * 2
    assert spec_b.get_xlabel() == "Time (s)"
    # Shared time axis, long enough for the longer clip.
    assert all(ax.get_xlim() == pytest.approx((0.0, 1.5)) for ax in (wave_a, spec_a, wave_b))
    # Shared amplitude scale, frequency axis up to the higher Nyquist, one colour scale.
    assert wave_a.get_ylim() == pytest.approx(wave_b.get_ylim())
    assert spec_a.get_ylim() == pytest.approx((0.0, 12_000.0))
    assert spec_a.get_images()[0].get_clim() == spec_b.get_images()[0].get_clim()
    assert colorbar_labels(fig) == ["Level (dBFS)"]


def test_compare_default_labels(sine_clip: Clip) -> None:
    fig = plot_compare(sine_clip, sine_clip.to_int16())
    assert fig.axes[0].get_title().startswith("A: ")
    assert fig.axes[2].get_title().startswith("B: ")


def test_compare_refuses_wrong_number_of_labels(sine_clip: Clip) -> None:
    with pytest.raises(ValueError, match="expected two labels"):
        plot_compare(sine_clip, sine_clip, labels=("only one",))  # type: ignore[arg-type]


def test_timeline_draws_each_speaker_and_shades_overlaps() -> None:
    from voicekit.plots import plot_timeline

    segments = [
        {"speaker": "user", "start_ms": 0, "end_ms": 2000, "text": "hello there"},
        {"speaker": "assistant", "start_ms": 2500, "end_ms": 5000, "text": "hi, how can I help"},
        {"speaker": "user", "start_ms": 4000, "end_ms": 4800, "text": "wait"},  # talks over the model
    ]
    fig = plot_timeline(segments)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["assistant", "you"]
    spans = [p for p in ax.patches if p.get_alpha() == 0.25]  # the shaded overlap
    assert len(spans) == 1
    box = spans[0].get_bbox()
    assert (box.x0, box.x1) == pytest.approx((4.0, 4.8))
    assert ax.get_legend() is not None
    plt.close(fig)
