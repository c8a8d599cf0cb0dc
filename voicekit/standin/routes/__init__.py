"""OpenAI's HTTP API on the stand-in's engines, one module per endpoint family.

:mod:`.transcriptions` (``/v1/audio/transcriptions`` and ``/translations``),
:mod:`.speech` (``/v1/audio/speech``), :mod:`.chat` (``/v1/chat/completions``)
and :mod:`.responses` (``/v1/responses`` over HTTP and as a WebSocket). The
Realtime and Live sessions, with their WebSocket and WebRTC transports, are
:mod:`voicekit.standin.realtime` and :mod:`voicekit.standin.live`; the
engines they all call are :mod:`voicekit.standin.engines`.
"""
