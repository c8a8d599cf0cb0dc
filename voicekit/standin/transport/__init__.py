"""How a session's events and audio travel: WebSockets, or a WebRTC peer with an optional sideband.

:mod:`.links` (one JSON event channel: a WebSocket or a data channel),
:mod:`.hub` (:class:`~.hub.EventHub`, the event plumbing every Realtime and
Live session shares), :mod:`.webrtc` (the aiortc peer: Opus tracks and the
``oai-events`` data channel), :mod:`.ice` (which address and UDP ports a
peer offers) and :mod:`.calls` (the calls a server serves, and their cap).
Nothing here knows the Realtime or Live protocol: the sessions
(:mod:`voicekit.standin.realtime`, :mod:`voicekit.standin.live`) build on it.
"""
