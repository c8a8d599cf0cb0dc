"""A certificate the kernel does not trust is reported at once, with what to do (issue 25, item 13).

On a hub served over https, a kernel given the hub's public URL meets the hub's certificate.
If the kernel does not trust it, ``use_standin()`` used to wait its whole timeout (120 s)
and blame a dead service; the TLS handshake's CERTIFICATE_VERIFY_FAILED was swallowed.
Here an https server with a self-signed certificate stands where the hub's proxy would be:
the handshake fails before any HTTP, so what it would serve does not matter.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_cert import self_signed

import voicekit
from voicekit.errors import StandinError

pytest.importorskip("cryptography", reason="the self-signed certificate is made with cryptography")


@pytest.fixture
def untrusted_https(tmp_path: Path) -> Iterator[str]:
    """``https://localhost:PORT/services/voicekit/v1`` behind a self-signed certificate."""
    cert, key = self_signed(tmp_path, names=("localhost",))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/services/voicekit/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_an_untrusted_certificate_is_reported_at_once(untrusted_https: str, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("VOICEKIT_NO_LOCAL_STANDIN", "1")  # as JupyterHub's spawner sets it
    monkeypatch.setenv("OPENAI_BASE_URL", untrusted_https)
    monkeypatch.setenv("OPENAI_API_KEY", "vk-standin-hub-token-of-this-server")
    started = time.monotonic()
    with pytest.raises(StandinError) as raised:
        voicekit.use_standin(timeout=120)
    assert time.monotonic() - started < 60, "it waited for the timeout instead of saying what is wrong"
    message = str(raised.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message and "localhost" in message
    assert "internal URL" in message and "SSL_CERT_FILE" in message  # what to do
    assert "did not answer within" not in message
