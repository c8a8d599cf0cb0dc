"""Waveform and spectrogram plots of a :class:`~voicekit.audio.Clip`, with matplotlib.

Every function returns a :class:`matplotlib.figure.Figure` made with
:func:`matplotlib.pyplot.subplots`, so JupyterLab's inline backend shows it under
the cell. End the call with ``;`` (or assign the result): a Figure that is also the
cell's value is shown twice, once as the value and once by the inline backend.

Stereo clips are drawn as their mono mix (:meth:`Clip.to_mono`); int16 and float32
samples are both drawn as float amplitude in [-1, 1] (full scale, as
:func:`voicekit.formats.int16_to_float` scales PCM16).

The spectrogram is a short-time Fourier transform in numpy: centred Hann windows of
the first power of two at or above 25 ms (512 samples at 16 kHz), a hop of a quarter
window, magnitude in dB relative to full scale (a full-scale sine reads 0 dBFS).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from .audio import Clip

__all__ = ["plot_compare", "plot_spectrogram", "plot_timeline", "plot_waveform"]

_DB_RANGE = 80.0  # dB shown below the loudest bin
_DB_FLOOR = -200.0  # dBFS given to exact silence instead of -inf


def _mono_float(clip: Clip) -> npt.NDArray[np.float32]:
    """The clip as float32 amplitude in [-1, 1], shape ``(n_frames,)`` (stereo mixed)."""
    return clip.to_mono().to_float32().samples


def _describe(clip: Clip) -> str:
    mix = ", mono mix" if clip.n_channels > 1 else ""
    return f"{clip.duration:.2f} s, {clip.sample_rate} Hz, {clip.n_channels} ch{mix}"


def _root_figure(ax: Axes) -> Figure:
    fig: Any = ax.figure
    while not isinstance(fig, Figure):  # an Axes inside a SubFigure
        fig = fig.figure
    return fig


def _field(word: Any, name: str) -> Any:
    return word[name] if isinstance(word, Mapping) else getattr(word, name)


def _draw_waveform(ax: Axes, clip: Clip, words: Sequence[Any] | None) -> None:
    y = _mono_float(clip)
    ax.plot(np.arange(y.size) / clip.sample_rate, y, linewidth=0.6, color="tab:blue")
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    lim = 1.1 * max(peak, 1e-3)
    ax.set_ylim(-lim, lim)
    ax.set_xlim(0.0, max(clip.duration, 1.0 / clip.sample_rate))
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Amplitude")
    for i, word in enumerate(words or ()):
        start, end = float(_field(word, "start")), float(_field(word, "end"))
        ax.axvspan(start, end, color=("tab:orange", "tab:green")[i % 2], alpha=0.2, linewidth=0)
        # x in seconds, y in axes fraction: labels sit along the top edge.
        ax.text((start + end) / 2, 0.97, str(_field(word, "word")).strip(),
                transform=ax.get_xaxis_transform(), ha="center", va="top",
                fontsize=8, clip_on=True)


def _stft_db(clip: Clip) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], float]:
    """Magnitude spectrogram in dBFS, shape ``(n_freqs, n_times)``; its times; the hop in s."""
    x = _mono_float(clip)
    rate = clip.sample_rate
    n_fft = int(2 ** np.ceil(np.log2(0.025 * rate)))
    hop = n_fft // 4
    x = np.pad(x, n_fft // 2)  # centred frames: frame k is centred on sample k * hop
    window = np.hanning(n_fft).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)) * (2.0 / window.sum())
    db = 20.0 * np.log10(np.maximum(magnitude, 10 ** (_DB_FLOOR / 20)))
    times = np.arange(frames.shape[0]) * hop / rate
    return db.T, times, hop / rate


def _draw_spectrogram(ax: Axes, clip: Clip, max_hz: float | None) -> AxesImage:
    if max_hz is not None and not max_hz > 0:
        raise ValueError(f"expected max_hz > 0 Hz, got {max_hz!r}")
    db, times, hop_s = _stft_db(clip)
    nyquist = clip.sample_rate / 2
    df = nyquist / (db.shape[0] - 1)
    top = float(db.max())
    image = ax.imshow(
        db, origin="lower", aspect="auto", cmap="magma", vmin=top - _DB_RANGE, vmax=top,
        extent=(times[0] - hop_s / 2, times[-1] + hop_s / 2, -df / 2, nyquist + df / 2),
        interpolation="nearest",
    )
    ax.set_ylim(0.0, nyquist if max_hz is None else min(float(max_hz), nyquist))
    ax.set_xlim(0.0, max(clip.duration, hop_s))
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Frequency (Hz)")
    return image


def plot_waveform(
    clip: Clip,
    *,
    title: str | None = None,
    words: Sequence[Any] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Plot amplitude against time, optionally with word timings as labelled spans.

    Parameters
    ----------
    clip : Clip
        Any rate; int16 or float32; mono or stereo (drawn as the mono mix).
    title : str, optional
        Axes title; defaults to the clip's duration, rate and channels.
    words : sequence, optional
        Objects or dicts with ``word`` (str), ``start`` and ``end`` (seconds), like
        ``openai.types.audio.TranscriptionWord`` from
        ``timestamp_granularities=["word"]``. Each becomes a shaded span with its label.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of in a new figure.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes. Axes: x "Time (s)", y "Amplitude" (full scale, [-1, 1]).
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3), layout="constrained")
    else:
        fig = _root_figure(ax)
    _draw_waveform(ax, clip, words)
    ax.set_title(_describe(clip) if title is None else title)
    return fig


def plot_spectrogram(
    clip: Clip,
    *,
    title: str | None = None,
    ax: Axes | None = None,
    max_hz: float | None = None,
) -> Figure:
    """Plot a spectrogram: frequency against time, level in dBFS as colour.

    Parameters
    ----------
    clip : Clip
        Any rate; int16 or float32; mono or stereo (drawn as the mono mix).
    title : str, optional
        Axes title; defaults to the clip's duration, rate and channels.
    ax : matplotlib.axes.Axes, optional
        Draw here instead of in a new figure.
    max_hz : float, optional
        Top of the frequency axis in Hz (default and upper bound: the Nyquist
        frequency, ``sample_rate / 2``). Speech lives mostly below 4,000 Hz.

    Returns
    -------
    matplotlib.figure.Figure
        Axes: x "Time (s)", y "Frequency (Hz)"; a colorbar "Level (dBFS)" spanning
        the 80 dB below the loudest bin.

    Raises
    ------
    ValueError
        If ``max_hz`` is not positive.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.5), layout="constrained")
    else:
        fig = _root_figure(ax)
    image = _draw_spectrogram(ax, clip, max_hz)
    fig.colorbar(image, ax=ax, label="Level (dBFS)")
    ax.set_title(_describe(clip) if title is None else title)
    return fig


def plot_compare(
    a: Clip,
    b: Clip,
    *,
    labels: tuple[str, str] = ("A", "B"),
    title: str | None = None,
) -> Figure:
    """Plot two clips one above the other, waveform and spectrogram each, on one time axis.

    Useful for before/after pairs: a recording and its resampled, encoded or
    synthesized counterpart. Both waveforms share one amplitude scale and both
    spectrograms one frequency axis (up to the higher Nyquist frequency) and one
    colour scale, so louder and brighter mean the same thing in both.

    Parameters
    ----------
    a, b : Clip
        Any rates, dtypes and channel counts (stereo is drawn as the mono mix).
    labels : tuple of two str
        Names of ``a`` and ``b`` in the row titles.
    title : str, optional
        Title of the whole figure.

    Returns
    -------
    matplotlib.figure.Figure
        Four axes, top to bottom: waveform of ``a``, spectrogram of ``a``, waveform
        of ``b``, spectrogram of ``b``; x "Time (s)" shared, one colorbar in dBFS.

    Raises
    ------
    ValueError
        If ``labels`` does not hold exactly two names.
    """
    if len(labels) != 2:
        raise ValueError(f"expected two labels, one per clip, got {len(labels)}: {labels!r}")
    fig, axes = plt.subplots(
        4, 1, sharex=True, figsize=(10, 8), layout="constrained",
        gridspec_kw={"height_ratios": [1, 1.5, 1, 1.5]},
    )
    images = []
    for row, (clip, label) in enumerate(zip((a, b), labels, strict=True)):
        wave_ax, spec_ax = axes[2 * row], axes[2 * row + 1]
        _draw_waveform(wave_ax, clip, None)
        wave_ax.set_title(f"{label}: {_describe(clip)}")
        images.append(_draw_spectrogram(spec_ax, clip, None))
    # One amplitude scale, one frequency axis, one colour scale for both clips.
    peak = max(axes[0].get_ylim()[1], axes[2].get_ylim()[1])
    for wave_ax in (axes[0], axes[2]):
        wave_ax.set_ylim(-peak, peak)
    for spec_ax in (axes[1], axes[3]):
        spec_ax.set_ylim(0.0, max(a.sample_rate, b.sample_rate) / 2)
    vmax = max(image.get_clim()[1] for image in images)  # each image's loudest bin
    for image in images:
        image.set_clim(vmax - _DB_RANGE, vmax)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    axes[-1].set_xlim(0.0, max(a.duration, b.duration))
    fig.colorbar(images[0], ax=list(axes), label="Level (dBFS)")
    if title is not None:
        fig.suptitle(title)
    return fig


def plot_timeline(segments: Sequence[Any], *, title: str = "Who spoke when") -> Figure:
    """A timeline of a conversation: one row per speaker, a bar per stretch of speech,
    and the overlaps (both speaking at once) shaded.

    Parameters
    ----------
    segments : sequence
        Objects or dicts with ``speaker`` (``"user"`` or ``"assistant"``), ``start_ms``,
        ``end_ms`` (ms on the session timeline) and ``text``: the SDK's
        ``openai.lib.live.TranscriptSegment``, as :attr:`voicekit.live.LiveSession.segments`
        holds them.
    title : str
        The axes title.

    Returns
    -------
    matplotlib.figure.Figure
        Time in s on x; overlaps in red.
    """
    rows = {"user": 1, "assistant": 0}
    colors = {"user": "tab:blue", "assistant": "tab:green"}
    fig, ax = plt.subplots(figsize=(9, 2.2), constrained_layout=True)
    spans: dict[str, list[tuple[float, float]]] = {"user": [], "assistant": []}
    for seg in segments:
        speaker = _field(seg, "speaker")
        a, b = _field(seg, "start_ms") / 1000, max(_field(seg, "end_ms"), _field(seg, "start_ms") + 1) / 1000
        spans.setdefault(speaker, []).append((a, b))
        ax.broken_barh([(a, b - a)], (rows.get(speaker, 0) - 0.35, 0.7), color=colors.get(speaker, "tab:gray"))
        text = str(_field(seg, "text"))
        ax.text(a, rows.get(speaker, 0) + 0.42, text[:40] + ("…" if len(text) > 40 else ""), fontsize=7)
    overlaps = [(max(ua, aa), min(ub, ab)) for ua, ub in spans["user"] for aa, ab in spans["assistant"]
                if min(ub, ab) > max(ua, aa)]
    for a, b in overlaps:
        ax.axvspan(a, b, color="tab:red", alpha=0.25, label="both speaking" if (a, b) == overlaps[0] else None)
    ax.set_yticks([0, 1], ["assistant", "you"])
    ax.set_ylim(-0.6, 1.8)
    ax.set_xlabel("session time (s)")
    ax.set_title(title)
    if overlaps:
        ax.legend(loc="upper right", fontsize=8)
    return fig
