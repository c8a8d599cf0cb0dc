"""The Realtime API from a notebook: one conversation on a background thread.

::

    realtime/
    ├── session.py    RealtimeSession: the public object (connect, send, turns, waits)
    ├── captions.py   Captions: a transcription session (live captions, no responses)
    ├── segments.py   Segment and the bookkeeping that builds them from transcription events
    ├── _microphone.py  a Recorder streaming into the session; push-to-talk
    ├── _socket.py    the WebSocket on its own asyncio loop thread, the event record
    └── turns.py      Turn, RealtimeEvent and the bookkeeping that builds them

Protocol facts come from the SDK (``openai.types.realtime``, the GA protocol) and the
OpenAI guide "Realtime conversations".
"""

from __future__ import annotations

from .captions import Captions
from .segments import Segment
from .session import DEFAULT_MODEL, DEFAULT_TRANSCRIBE_MODEL, RealtimeSession
from .turns import AudioItem, RealtimeEvent, Turn

__all__ = ["DEFAULT_MODEL", "DEFAULT_TRANSCRIBE_MODEL", "AudioItem", "Captions", "RealtimeEvent", "RealtimeSession",
           "Segment", "Turn"]
