"""A plain browser page makes a Realtime WebRTC call to the stand-in with an ephemeral key, and hears a reply.

Debian's Chromium, its fake microphone playing a real recording
(``--use-fake-device-for-media-stream --use-file-for-fake-audio-capture``),
and ``--allow-loopback-in-peer-connection`` so that the browser offers
loopback host candidates (the stand-in listens on 127.0.0.1). The page
(``pages/realtime_webrtc.html``) is what OpenAI's "WebRTC" guide shows, with
nothing of this kit in it; the test plays the trusted server, minting the
key with the SDK. The reply's level is measured in the page with an
AnalyserNode on the remote track.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from browser.conftest import one_line_call_browser
from browser.harness import Browser, free_port

PAGES = Path(__file__).parent / "pages"


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """The pages folder on its own loopback origin (as a separate web app would be)."""
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(PAGES))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def webrtc_browser(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    # one utterance, then a minute of silence: Chromium loops the file, and a second utterance
    # during the reply would be a barge-in (the stand-in then clears the reply, as OpenAI does)
    with one_line_call_browser(browser, tmp_path_factory.mktemp("webrtc-mic"), lead_s=0.5) as context:
        yield context


@pytest.mark.parametrize("wait_for_ice", [False, True], ids=["trickle-offer", "gathered-offer"])
def test_a_plain_page_calls_with_an_ephemeral_key_and_hears_a_reply(
        webrtc_browser: Any, page_server: str, standin_server: Any, client: OpenAI, wait_for_ice: bool) -> None:
    secret = client.realtime.client_secrets.create(session={
        "type": "realtime", "model": "gpt-realtime-mini", "instructions": "Answer in one short sentence."})
    page = webrtc_browser.new_page()
    try:
        page.goto(f"{page_server}/realtime_webrtc.html")
        page.evaluate("([base, key, wait]) => window.startCall(base, key, wait)",
                      [standin_server.base_url, secret.value, wait_for_ice])
        deadline = time.monotonic() + 120
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = page.evaluate("window.callState")
            assert state["error"] is None, state["error"]
            if any(e["type"] == "output_audio_buffer.stopped" for e in state["events"]):
                break
            time.sleep(0.5)
        types = [e["type"] for e in state["events"]]
        assert "output_audio_buffer.stopped" in types, f"no reply heard; events: {types}, status {state['status']}"
        assert types[0] == "session.created"
        assert state["events"][0]["session"]["instructions"] == "Answer in one short sentence."
        assert "response.output_audio.delta" not in types
        assert state["peakAfterReply"] > 0.05, f"the reply was not audible: peak {state['peakAfterReply']:.3f}"
        call_id = state["location"].rsplit("/", 1)[1]
        client.realtime.calls.hangup(call_id)
        page.wait_for_function("window.pc.connectionState !== 'connected'", timeout=40_000)
    finally:
        page.close()
