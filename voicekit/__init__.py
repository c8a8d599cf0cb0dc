"""voicekit: a Jupyter teaching kit for the OpenAI audio APIs.

Audio travels as :class:`Clip`; the offline stand-in server lives in
:mod:`voicekit.standin`; :func:`use_standin` points the ``openai`` SDK at it
when no ``OPENAI_API_KEY`` is set. The Jupyter widgets live in
:mod:`voicekit.widgets`, imported on request (it loads anywidget).
"""

from __future__ import annotations

from .audio import Clip
from .backend import use_standin
from .errors import (
    AudioError,
    AudioFormatError,
    ClosedError,
    EmptyAudioError,
    MicrophoneError,
    MissingDependencyError,
    NotStartedError,
    RealtimeError,
    StandinError,
    VoiceKitError,
)
from .formats import REALTIME_SAMPLE_RATE
from .samples import load_sample, sample_names, sample_path, sample_transcripts

__version__ = "0.1.0"

__all__ = [
    "REALTIME_SAMPLE_RATE",
    "AudioError",
    "AudioFormatError",
    "Clip",
    "ClosedError",
    "EmptyAudioError",
    "MicrophoneError",
    "MissingDependencyError",
    "NotStartedError",
    "RealtimeError",
    "StandinError",
    "VoiceKitError",
    "__version__",
    "load_sample",
    "sample_names",
    "sample_path",
    "sample_transcripts",
    "use_standin",
]
