"""GPT-Live from a notebook: a full-duplex voice session on a background thread.

::

    live/
    ├── session.py   LiveSession (a voicekit.session.ConnectedSession): start, play,
    │                transcripts, client delegation
    ├── turns.py     LiveTurn records and the talk-overs, from the transcript events
    ├── delegation.py  client delegation: the records, answered by a backend
    └── backends.py  ChatBackend, ResponsesBackend: tool-using backends for client delegation

Protocol facts come from the SDK (``openai.resources.live``, ``openai.types.live``,
``openai.lib.live``) and OpenAI's guides "WebSockets", "Prompting GPT-Live" and
"Delegation and tools in GPT-Live".
"""

from __future__ import annotations

from .backends import BACKEND_INSTRUCTIONS, ChatBackend, ResponsesBackend
from .delegation import LiveDelegation
from .session import DEFAULT_LIVE_MODEL, LiveSession
from .turns import LiveTurn

__all__ = ["BACKEND_INSTRUCTIONS", "DEFAULT_LIVE_MODEL", "ChatBackend", "LiveDelegation", "LiveSession",
           "LiveTurn", "ResponsesBackend"]
