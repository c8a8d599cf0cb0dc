"""A client nobody here wrote: OpenAI's Agents SDK for JavaScript calls the stand-in over WebRTC from Chromium.

``@openai/agents-realtime`` (pinned in ``agents_js/package.json``, installed
from the npm registry into ``build/agents-js`` and bundled with esbuild),
unchanged: its ``OpenAIRealtimeWebRTC`` transport posts the page's offer to
``{baseUrl}`` (``/v1/realtime/calls``) with an ephemeral key, opens
``oai-events``, sends its ``session.update`` and waits for ``session.updated``.
The fake microphone plays a real recording; the test checks the SDK's own
history holds the user's transcript and an assistant reply, and that the
reply was audible on the page (an AnalyserNode on the SDK's audio element).
Without npm the test skips and says why (on CI it fails).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from browser.harness import Browser, free_port, one_line_mic
from voicekit.samples import sample_path

HERE = Path(__file__).parent / "agents_js"
BUILD = Path(__file__).resolve().parents[2] / "build" / "agents-js"


@pytest.fixture(scope="module")
def bundle() -> Path:
    npm = shutil.which("npm")
    if npm is None:
        if os.environ.get("CI") == "true":
            pytest.fail("npm is needed to install OpenAI's Agents SDK for JavaScript for this test")
        pytest.skip("no npm: cannot install OpenAI's Agents SDK for JavaScript")
    BUILD.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "package.json", BUILD / "package.json")
    shutil.copy(HERE / "entry.js", BUILD / "entry.js")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=BUILD, check=True, timeout=600)
    out = BUILD / "dist"
    out.mkdir(exist_ok=True)
    subprocess.run([str(BUILD / "node_modules" / ".bin" / "esbuild"), "entry.js", "--bundle", "--format=esm",
                    f"--outfile={out / 'agent.js'}", "--log-level=warning"], cwd=BUILD, check=True, timeout=300)
    (out / "index.html").write_text('<!doctype html><html><head><meta charset="utf-8"></head><body>'
                                    '<script type="module" src="agent.js"></script></body></html>')
    return out


@pytest.fixture(scope="module")
def served(bundle: Path) -> Iterator[str]:
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(bundle))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{port}"
    httpd.shutdown()
    httpd.server_close()


def test_the_agents_sdk_for_javascript_calls_over_webrtc_and_hears_a_reply(
        browser: Browser, served: str, standin_server: Any, client: OpenAI,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    out = tmp_path_factory.mktemp("agents-js")
    wav = one_line_mic(sample_path("ls_0880.wav"), out)
    key = client.realtime.client_secrets.create(session={"type": "realtime", "model": "gpt-realtime-mini"}).value
    context = browser.launch(wav, out / "profile", "--allow-loopback-in-peer-connection",
                             "--autoplay-policy=no-user-gesture-required")
    try:
        page = context.new_page()
        page.goto(f"{served}/index.html")
        page.wait_for_function("typeof window.runAgent === 'function'")
        page.evaluate("([base, key]) => window.runAgent(base, key)", [standin_server.base_url, key])
        deadline = time.monotonic() + 120
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = page.evaluate("window.agentState")
            if state["error"] or "output_audio_buffer.stopped" in state["events"]:
                break
            time.sleep(0.5)
        assert state["error"] is None, state["error"]
        assert state["status"] == "connected"
        assert "session.updated" in state["events"]  # the SDK's session.update was taken
        assert "output_audio_buffer.stopped" in state["events"], sorted(set(state["events"]))
        history = "\n".join(state["history"])
        assert '"role":"user"' in history and '"role":"assistant"' in history, history
        assert state["peak"] > 0.05, f"the reply was not audible: peak {state['peak']:.3f}"
    finally:
        context.close()
