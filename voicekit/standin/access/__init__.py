"""Who may use the stand-in, and how much it takes: ASGI middleware and voicekit's own endpoints.

- :mod:`.auth`: Bearer-token authentication (OpenAI's 401s, HTTP and WebSocket).
- :mod:`.guards`: Host and Origin allow-lists, body and WebSocket event size caps.
- :mod:`.identity`: the identity probe (HMAC proof of the token) and the status endpoint.
- :mod:`.idle`: the idle stop.
"""
