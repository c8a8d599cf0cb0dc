"""Jupyter widgets: a microphone :class:`Recorder`, an audio :class:`Player`, a
live waveform and spectrogram (:class:`Scope`), and for voice conversations a live
:class:`Transcript`, an :class:`EventLog` of Realtime events, a push-to-talk
:class:`TalkButton`, a :class:`MetricsTable` of per-turn agent measurements and, for
live translation, :class:`TranslationLines` (source and translation side by side).

Both are anywidget classes whose front end is a plain ES module beside the Python
file (``recorder.js``, ``player.js``): no build step, no CDN, nothing fetched at run
time. They render in JupyterLab 4 and Notebook 7. Audio travels between kernel and
browser as PCM16 binary buffers in custom messages, never in synced traits, so no
audio is saved into a notebook's widget state.

Import this subpackage explicitly (``from voicekit.widgets import Recorder``);
``import voicekit`` does not load anywidget.
"""

from __future__ import annotations

from .call import CallWidget
from .event_log import EventLog
from .metrics_table import MetricsTable
from .player import Player
from .recorder import AudioChunk, Recorder, RecorderStats
from .scope import Scope
from .talk_button import TalkButton
from .transcript import Transcript
from .translation_lines import TranslationLines
from .webrtc import clip_from_ipywebrtc

__all__ = [
    "AudioChunk",
    "CallWidget",
    "EventLog",
    "MetricsTable",
    "Player",
    "Recorder",
    "RecorderStats",
    "Scope",
    "TalkButton",
    "Transcript",
    "TranslationLines",
    "clip_from_ipywebrtc",
]
