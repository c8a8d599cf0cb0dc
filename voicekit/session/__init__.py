"""One session model under every voice session and agent, over a transport.

::

    session/
    ├── base.py       VoiceSession (lifecycle, Recorder, send_clip, widgets) and
    │                 ConnectedSession (plus a transport: send, events, mark, wait_for)
    ├── transport.py  Transport, and WebSocketTransport: the kernel's WebSocket, or
    │                 the sideband of a WebRTC call (voicekit.webrtc)
    └── events.py     RealtimeEvent and the EventRecord with its waits

``RealtimeSession``, ``Captions`` and ``LiveSession`` are connected sessions;
``CascadedAgent`` is a voice session; ``RealtimeAgent`` wraps a ``RealtimeSession``.
Fakes for tests: :mod:`voicekit.testing`.
"""

from __future__ import annotations

from .base import ConnectedSession, NotStartedError, VoiceSession, pcm16_24k
from .events import RACE_EVENT_PREFIX, EventRecord, RealtimeEvent, elide_audio
from .transport import Transport, WebSocketTransport, async_client

__all__ = ["RACE_EVENT_PREFIX", "ConnectedSession", "EventRecord", "NotStartedError", "RealtimeEvent", "Transport",
           "VoiceSession", "WebSocketTransport", "async_client", "elide_audio", "pcm16_24k"]
