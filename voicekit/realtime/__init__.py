"""The Realtime API from a notebook: one conversation on a background thread.

::

    realtime/
    ├── session.py       RealtimeSession: client events, server events, barge-in, turns
    ├── push_to_talk.py  the held/released state of a talk button (manual turns)
    ├── captions.py      Captions: a transcription session (live captions, no responses)
    ├── segments.py      Segment and the bookkeeping that builds them from transcription events
    ├── translation.py   TranslationSession: a translation session (source in, translated text and audio out)
    ├── translation_phrases.py  Phrase and the bookkeeping that groups translation deltas into them
    ├── _tools.py        running the model's function calls and answering them
    └── turns.py         Turn, AudioItem and the bookkeeping that builds them

The sessions are :class:`voicekit.session.ConnectedSession` objects: the lifecycle, the
Recorder, ``send_clip``, the event record and the transport (the kernel's WebSocket by
default) come from :mod:`voicekit.session`.

Protocol facts come from the SDK (``openai.types.realtime``, the GA protocol) and the
OpenAI guide "Realtime conversations".
"""

from __future__ import annotations

from .captions import Captions
from .segments import Segment
from .session import DEFAULT_MODEL, DEFAULT_TRANSCRIBE_MODEL, RealtimeSession
from .translation import DEFAULT_TRANSLATION_MODEL, TranslationSession
from .translation_phrases import Phrase
from .turns import AudioItem, RealtimeEvent, Turn

__all__ = ["DEFAULT_MODEL", "DEFAULT_TRANSCRIBE_MODEL", "DEFAULT_TRANSLATION_MODEL", "AudioItem", "Captions", "Phrase",
           "RealtimeEvent", "RealtimeSession", "Segment", "TranslationSession", "Turn"]
