"""Turn an ``ipywebrtc.AudioRecorder`` recording into a :class:`~voicekit.audio.Clip`.

ipywebrtc 0.6 records with the browser's ``MediaRecorder`` and keeps the file it
makes (WebM/Opus in Chromium, ``recorder.format == "webm"``) in
``recorder.audio.value``, a ``Bytes`` trait of an ``ipywidgets.Audio`` widget.
Unlike :class:`~voicekit.widgets.Recorder`, that file is synced widget state, so it is
saved into the notebook if widget state is saved.
"""

from __future__ import annotations

from typing import Any

from ..audio import Clip
from ..errors import EmptyAudioError

__all__ = ["clip_from_ipywebrtc"]


def clip_from_ipywebrtc(recorder: Any, *, sample_rate: int | None = None) -> Clip:
    """Decode an ipywebrtc recording into a mono Clip.

    Parameters
    ----------
    recorder : ipywebrtc.AudioRecorder, ipywidgets.Audio, or bytes
        The recorder (its ``audio.value`` is read), its ``Audio`` widget, or the
        recorded file's bytes (WebM/Opus, Ogg/Opus, WAV, ...).
    sample_rate : int, optional
        Resample to this rate in Hz with soxr (for example 24,000 for Realtime, or
        16,000). Default: the file's own rate (48,000 Hz for Chromium's Opus).

    Returns
    -------
    Clip
        float32 mono, shape ``(n_frames,)``, decoded with PyAV (FFmpeg's WebM
        demuxer and Opus decoder) through :meth:`Clip.from_bytes`.

    Raises
    ------
    EmptyAudioError
        If nothing was recorded yet (the value is empty).
    AudioFormatError
        If the bytes are not audio that FFmpeg decodes.
    """
    audio = getattr(recorder, "audio", recorder)
    data = getattr(audio, "value", audio)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(
            "expected an ipywebrtc.AudioRecorder, an ipywidgets.Audio or bytes, "
            f"got {type(recorder).__name__}"
        )
    if len(data) == 0:
        raise EmptyAudioError(
            "expected a recording in the ipywebrtc recorder, got none yet: "
            "click its record button, speak, click it again, then run this cell"
        )
    clip = Clip.from_bytes(bytes(data), name="the ipywebrtc recording").to_mono()
    return clip if sample_rate is None else clip.resample(sample_rate)
