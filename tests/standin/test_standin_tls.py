"""Issue 24, defect 6: ``voicekit serve --ssl-certfile/--ssl-keyfile`` serves HTTPS and WSS.

OpenAI's Node SDK always opens Realtime as ``wss:``, so it could not reach the
stand-in. Here the unchanged Python SDK trusts a self-signed certificate made for
the test (as ``SSL_CERT_FILE`` or Node's ``NODE_EXTRA_CA_CERTS`` would) and talks
HTTPS and WSS to a real stand-in.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from openai import AsyncOpenAI, DefaultAsyncHttpxClient, DefaultHttpxClient, OpenAI

from voicekit.errors import StandinError
from voicekit.standin import StandinServer
from voicekit.standin.server import check_tls_files


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """``cert.pem`` and ``key.pem`` (EC P-256, one day) for localhost and 127.0.0.1."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def tls_server(tls_files: tuple[Path, Path]) -> Iterator[StandinServer]:
    cert, key = tls_files
    with StandinServer(ssl_certfile=str(cert), ssl_keyfile=str(key)) as server:
        yield server


def test_the_sdk_talks_https_and_wss_to_a_stand_in_with_a_certificate(tls_server, tls_files) -> None:
    assert tls_server.base_url.startswith("https://")
    trust = ssl.create_default_context(cafile=str(tls_files[0]))
    with OpenAI(base_url=tls_server.base_url, api_key="test-no-key", max_retries=0,
                http_client=DefaultHttpxClient(verify=trust)) as client:
        assert client.models.retrieve("whisper-1").id == "whisper-1"
        # open_timeout: websockets' 10 s for the handshake ran out once in make test's two-worker run
        # (a second stand-in in this process, the other worker busy); TLS itself is what is checked here
        with client.realtime.connect(model="gpt-realtime-mini",
                                     websocket_connection_options={"ssl": trust, "open_timeout": 60}) as conn:
            assert conn.recv().type == "session.created"  # the SDK turned https:// into wss://


def test_a_client_that_does_not_trust_the_certificate_is_refused(tls_server) -> None:
    import openai

    with OpenAI(base_url=tls_server.base_url, api_key="test-no-key", max_retries=0) as client, \
            pytest.raises(openai.APIConnectionError):
        client.models.retrieve("whisper-1")


def test_bad_tls_files_fail_clearly(tls_files, tmp_path: Path) -> None:
    cert, key = tls_files
    assert check_tls_files(None, None) is False and check_tls_files(str(cert), str(key)) is True
    with pytest.raises(StandinError, match="together"):
        check_tls_files(str(cert), None)
    with pytest.raises(StandinError, match="found nothing there"):
        check_tls_files(str(cert), str(tmp_path / "none.pem"))
    with pytest.raises(StandinError, match="matching private key"):
        check_tls_files(str(cert), str(cert))
    done = subprocess.run([sys.executable, "-m", "voicekit", "serve", "--ssl-certfile", str(cert)],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "--ssl-keyfile" in done.stderr, done.stderr


NODE_DIR = Path(__file__).parent / "node"


def test_openais_node_sdk_reaches_realtime_over_wss(tls_server, tls_files) -> None:
    """The Node SDK (``openai`` on npm) always opens Realtime as ``wss:``; it trusts the
    certificate through ``NODE_EXTRA_CA_CERTS``, as the README says. Needs ``node`` and
    ``npm install`` in ``tests/standin/node`` (skipped, saying so, without them)."""
    import json
    import os
    import shutil

    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("needs node and the npm packages: cd tests/standin/node && npm install")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_BASE_URL=tls_server.base_url, OPENAI_API_KEY="test-no-key", NODE_EXTRA_CA_CERTS=str(tls_files[0]))
    done = subprocess.run([node, "realtime_tls.mjs"], cwd=NODE_DIR, env=env, check=False, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["model"] == "whisper-1" and got["session_type"] == "realtime" and got["url"].startswith("wss://")
    assert got["request_id"].startswith("req_")



def test_openais_node_sdk_is_the_sideband_of_a_webrtc_call(tls_server, tls_files) -> None:
    """A client nobody here wrote on a WebRTC call's sideband (issue 21 item 3): the Node SDK's
    ``OpenAIRealtimeWS({callID})`` joins the call a Python aiortc peer made, its ``session.update``
    reaches the peer's data channel, and its ``client.realtime.calls.hangup`` ends the call, closing
    the peer and the sideband. Needs node and ``npm install`` in ``tests/standin/node``."""
    import asyncio
    import json
    import os
    import shutil

    from voicekit.webrtc.peer import ClientPeer

    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.skip("needs node and the npm packages: cd tests/standin/node && npm install")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_BASE_URL=tls_server.base_url, OPENAI_API_KEY="test-no-key", NODE_EXTRA_CA_CERTS=str(tls_files[0]))
    trust = ssl.create_default_context(cafile=str(tls_files[0]))

    async def main() -> tuple[dict[str, object], list[str]]:
        async with AsyncOpenAI(base_url=tls_server.base_url, api_key="test-no-key", max_retries=0,
                               http_client=DefaultAsyncHttpxClient(verify=trust)) as client:
            peer = ClientPeer()
            raw = await client.realtime.calls.with_raw_response.create(
                sdp=await peer.offer(), session={"type": "realtime", "model": "gpt-realtime-mini"})
            await peer.accept(raw.http_response.text)
            await peer.wait("session.created", 30)
            call_id = raw.headers["location"].rsplit("/", 1)[1]
            done = await asyncio.to_thread(subprocess.run, [node, "sideband_tls.mjs", call_id], cwd=NODE_DIR,
                                           env=env, check=False, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            await asyncio.wait_for(peer.closed.wait(), 10)  # the hangup closed the page's side too
            await peer.close()
            return json.loads(done.stdout.strip().splitlines()[-1]), [e["type"] for e in peer.events]

    got, page = asyncio.run(main())
    assert got["seen"][:2] == ["session.created", "session.updated"] and "hangup" in got["seen"], got
    assert got["instructions"] == "Set from Node." and got["end"] == "closed"
    assert "?call_id=rtc_" in str(got["url"])
    assert "session.updated" in page
