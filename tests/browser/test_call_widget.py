"""The WebRTC call widget in a real Chromium, in JupyterLab 4 and in Notebook 7.

The page holds the media (Chromium's fake microphone plays ``ls_0880.wav`` once, then
silence; ``--allow-loopback-in-peer-connection`` lets it offer loopback candidates to the
stand-in on 127.0.0.1), the kernel holds the key (``voicekit.webrtc.Call``). A real
Playwright click on Call; the reply is *heard* when the page's AnalyserNode on the
played track passes the widget's speaking level. Then a tool through the sideband, a
hang-up, a re-run of the cell during a call, and a spy on every comm message and the
DOM for the project key. The same for a GPT-Live call (``client.live.create`` and
``live.sideband``), whose client delegation runs in the kernel. Last, Run All on
``04c_webrtc`` and then a click on Call.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import PROJECT_KEY, _screenshot, kernel_env, shut_down
from browser.harness import (
    JupyterServer,
    Kernel,
    open_notebook,
    run_all,
    run_cell,
    wait_run_all,
    write_notebook,
)

pytestmark = pytest.mark.timeout(600)

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
KEY = PROJECT_KEY  # the kernels' OPENAI_API_KEY (kernel_env(..., key=True))
NOTEBOOK = "call.ipynb"
SETUP = """
import json, os
from openai import OpenAI
from voicekit.webrtc import Call
from voicekit.widgets import EventLog, Transcript

client = OpenAI(base_url=os.environ["OPENAI_BASE_URL"])  # the key: OPENAI_API_KEY, never in the page
wire = []  # every comm message of every Call widget, both ways, as JSON
ran = []

def get_weather(city: str) -> str:
    ran.append(city)
    return f"Sunny and 21 degrees in {city}."

def spy(widget):
    send = widget.comm.send
    def spied(data=None, metadata=None, buffers=None):
        wire.append(json.dumps(data, default=str))
        return send(data=data, metadata=metadata, buffers=buffers)
    widget.comm.send = spied
    widget.on_msg(lambda w, content, buffers: wire.append(json.dumps(content, default=str)))
"""
CALL_CELL = """
WEATHER_TOOL = {"type": "function", "name": "get_weather", "description": "Get the weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
transcript = Transcript()
call = Call(client, "realtime", session={"instructions": "Answer in one short sentence.", "tools": [WEATHER_TOOL]},
            functions={"get_weather": get_weather}, transcript=transcript)
spy(call.widget)
wire.append(json.dumps(call.widget.get_state(), default=str))
call
"""
HEARD = "() => [...document.querySelectorAll('.voicekit-call')].map((e) => e.voicekitCall.state.firstSound.length)"


def _assert_the_key_stayed_in_the_kernel(kernel: Kernel, page: Any) -> None:
    """The SDP went both ways over the comm, and the project key is in no comm message
    (the kernel's ``wire`` spy) nor anywhere in the page."""
    wire = kernel.eval("wire")
    assert any('"type": "answer"' in m for m in wire) and any('"type": "offer"' in m for m in wire)
    assert not [m for m in wire if KEY in m]
    assert KEY not in page.content()


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_call_hear_a_reply_a_tool_hang_up_and_rerun(call_browser: Any, standin_server: Any, app: str,
                                                   jupyter_servers: Callable[..., JupyterServer]) -> None:
    server = jupyter_servers(app, kernel_env(standin_server, key=True))
    folder, rel = server.folder("call")
    notebook = f"{rel}/{NOTEBOOK}"
    write_notebook(folder / NOTEBOOK, [SETUP, CALL_CELL])
    page = call_browser.new_page()
    kernel: Kernel | None = None
    try:
        open_notebook(page, server, notebook)
        run_cell(page, 0)
        run_cell(page, 1)
        widget = page.locator(".voicekit-call")
        widget.get_by_role("button", name="Call", exact=True).wait_for(timeout=60_000)
        assert "waits for a click" in widget.inner_text()
        kernel = server.kernel_for(notebook)
        kernel.wait_for("'call' in globals()", timeout=60)
        assert kernel.eval("call.call_id") is None  # running the cell started nothing

        # call, talk (the fake microphone), hear the reply on the played track
        widget.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("call.session is not None and call.session.connected", timeout=60)
        widget.get_by_role("button", name="Hang up", exact=True).wait_for(timeout=30_000)
        kernel.wait_for("any(t.status == 'completed' for t in call.session.turns)", timeout=240)
        deadline = time.monotonic() + 60
        while page.evaluate(HEARD)[0] < 1:
            assert time.monotonic() < deadline, "the reply never sounded in the page"
            time.sleep(0.3)
        assert kernel.eval("call.widget.error") == ""
        # what the page's microphone said, transcribed from the sideband's events
        kernel.wait_for("any((t.user or '').strip() for t in call.session.turns)", timeout=60)

        # a tool through the sideband, the answer heard in the page: once the first reply
        # has finished playing, so the answer starts a new sound rather than continuing it
        kernel.wait_for("call.widget.state == 'listening'", timeout=60)
        heard = page.evaluate(HEARD)[0]
        kernel.run("tool_turn = call.session.run_turn('What is the weather in Paris?', "
                   "tool_choice={'type': 'function', 'name': 'get_weather'})", timeout=240)
        assert kernel.eval("len(ran)") >= 1 and kernel.eval("bool(tool_turn.tool_calls)")
        deadline = time.monotonic() + 60
        while page.evaluate(HEARD)[0] <= heard:
            assert time.monotonic() < deadline, "the tool's answer never sounded in the page"
            time.sleep(0.3)

        # hang up from the page
        widget.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("call.call_id is None and call.session.closed", timeout=30)
        assert page.evaluate("globalThis.voicekitLiveCalls()") == 0
        widget.get_by_role("button", name="Call", exact=True).wait_for(timeout=10_000)

        # call again, then re-run the cell during the call: the old call is hung up first
        widget.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("call.calls == 2 and call.session is not None and call.session.connected", timeout=60)
        kernel.run("old = call")
        run_cell(page, 1)
        try:
            kernel.wait_for("call is not old and old.lifecycle.closed and old.call_id is None "
                            "and old.session.closed", timeout=60)
        except TimeoutError:
            print(kernel.eval("dict(new=call is not old, closed=old.lifecycle.closed, reason=old.lifecycle.reason, "
                              "call_id=old.call_id, session=old.session.closed, cell=old.lifecycle.cell, "
                              "new_cell=call.lifecycle.cell)"))
            raise
        deadline = time.monotonic() + 20
        while page.evaluate("globalThis.voicekitLiveCalls()") != 0:
            assert time.monotonic() < deadline, "the old call's peer connection stayed open"
            time.sleep(0.3)
        page.locator(".voicekit-call").get_by_role("button", name="Call", exact=True).wait_for(timeout=30_000)

        # the project key is in no comm message, either way, and nowhere in the page
        assert kernel.eval("client.api_key") == KEY
        _assert_the_key_stayed_in_the_kernel(kernel, page)
    except Exception:
        _screenshot(page, f"call-widget-{app}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.run("call.close()")
            kernel.close()
        page.close()
        shut_down(server, notebook)


LIVE_CELL = """
delegated = []  # the tasks GPT-Live handed to the kernel

def backend(task: str) -> str:
    delegated.append(task)
    return "It is sunny and 21 degrees in Paris."

live_transcript = Transcript()
call = Call(client, "live", session={"instructions": "Answer in one short sentence. Always delegate to the backend.",
                                     "delegation": {"type": "client"}},
            delegate=backend, transcript=live_transcript)
spy(call.widget)
wire.append(json.dumps(call.widget.get_state(), default=str))
call
"""


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_a_live_call_from_the_page_delegates_to_the_kernel(call_browser: Any, standin_server: Any, app: str,
                                                          jupyter_servers: Callable[..., JupyterServer]) -> None:
    """GPT-Live from the page: ``client.live.create`` with the page's offer,
    ``live.sideband`` in the kernel, in JupyterLab 4 and Notebook 7. The fake microphone's line is answered, the model's
    client delegation runs in the kernel and is answered on the sideband, the reply is
    heard on the played track, and Hang up ends the session."""
    server = jupyter_servers(app, kernel_env(standin_server, key=True))
    folder, rel = server.folder("live-call")
    notebook = f"{rel}/{NOTEBOOK}"
    write_notebook(folder / NOTEBOOK, [SETUP, LIVE_CELL])
    page = call_browser.new_page()
    kernel: Kernel | None = None
    try:
        open_notebook(page, server, notebook)
        run_cell(page, 0)
        run_cell(page, 1)
        widget = page.locator(".voicekit-call")
        widget.get_by_role("button", name="Call", exact=True).wait_for(timeout=60_000)
        assert "GPT-Live" in widget.inner_text() and "waits for a click" in widget.inner_text()
        kernel = server.kernel_for(notebook)
        kernel.wait_for("'call' in globals() and call.api == 'live'", timeout=60)
        assert kernel.eval("call.call_id") is None

        widget.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("call.session is not None and call.session.connected", timeout=60)
        widget.get_by_role("button", name="Hang up", exact=True).wait_for(timeout=30_000)
        try:  # the session as session.started named it: the one live.create made with the page's offer
            kernel.wait_for("call.call_id.startswith('sess_') and call.session.session.get('id') == call.call_id",
                            timeout=30)
        except TimeoutError:
            print(kernel.eval("dict(call_id=call.call_id, session=call.session.session)"))
            raise

        # the page's microphone was heard (the sideband's input transcript) ...
        kernel.wait_for("any(t.user_text.strip() for t in call.session.turns)", timeout=240)
        # ... the model delegated, the kernel ran the backend and answered on the sideband
        kernel.wait_for("len(delegated) >= 1 and any(d.result for d in call.session.delegations)", timeout=240)
        kernel.wait_for("any(e.type == 'session.commentary.appended' for e in call.session.events)", timeout=60)
        # the model speaks the result: output transcript after the commentary was appended
        kernel.wait_for("(lambda ev: any(e.type == 'session.output_transcript.delta' for e in ev[[e.type for e in ev]"
                        ".index('session.commentary.appended'):]))(call.session.events)", timeout=120)
        assert kernel.eval("[e.data['delegation_id'] for e in call.session.events if e.source == 'client' "
                           "and e.type == 'session.commentary.append'] == [call.session.delegations[0].id]")
        assert kernel.eval("call.session.delegations[0].target") == "client"
        # ... and the reply sounded on the page's played track
        deadline = time.monotonic() + 120
        while page.evaluate(HEARD)[0] < 1:
            assert time.monotonic() < deadline, "the Live reply never sounded in the page"
            time.sleep(0.3)
        kernel.wait_for("any(t.assistant_text.strip() for t in call.session.turns)", timeout=60)
        assert kernel.eval("call.widget.error") == ""
        assert kernel.eval("any(l['role'] == 'assistant' for l in live_transcript.lines)")

        # hang up from the page: the session ends on the server and in the kernel
        widget.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("call.call_id is None and call.session.closed", timeout=30)
        assert page.evaluate("globalThis.voicekitLiveCalls()") == 0
        widget.get_by_role("button", name="Call", exact=True).wait_for(timeout=10_000)

        _assert_the_key_stayed_in_the_kernel(kernel, page)
    except Exception:
        _screenshot(page, f"call-widget-live-{app}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.run("call.close()")
            kernel.close()
        page.close()
        shut_down(server, notebook)


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_run_all_of_04c_then_call_from_the_page(call_browser: Any, standin_server: Any, app: str,
                                                jupyter_servers: Callable[..., JupyterServer]) -> None:
    """A learner's first go: Run All on 04c_webrtc (every call there is made by a kernel
    peer, and no cell waits for a click), then Call in the Realtime widget and, once it
    is hung up, in the GPT-Live one: a reply heard from each, in JupyterLab 4 and
    Notebook 7."""
    server = jupyter_servers(app, kernel_env(standin_server, key=False))  # 04c's use_standin() sets a key
    folder, rel = server.folder("04c")
    notebook = f"{rel}/04c_webrtc.ipynb"
    shutil.copy(NOTEBOOKS / "04c_webrtc.ipynb", folder / "04c_webrtc.ipynb")
    page = call_browser.new_page()
    kernel: Kernel | None = None
    try:
        open_notebook(page, server, notebook)
        run_all(page)
        wait_run_all(page, server, notebook, timeout=900)
        kernel = server.kernel_for(notebook)
        assert kernel.eval("call.call_id") is None and kernel.eval("call.calls") == 1  # the kernel peer's call
        assert kernel.eval("live_call.call_id") is None and kernel.eval("live_call.calls") == 1
        widgets = page.locator(".voicekit-call")
        realtime, live = widgets.nth(0), widgets.nth(1)
        assert "GPT-Live" in live.inner_text()

        realtime.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("call.calls == 2 and call.session.connected", timeout=60)
        deadline = time.monotonic() + 240
        while page.evaluate(HEARD)[0] < 1:
            assert time.monotonic() < deadline, "the Realtime reply never sounded in the page"
            time.sleep(0.3)
        assert kernel.eval("call.widget.error") == ""
        realtime.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("call.call_id is None", timeout=30)

        # the page's microphone plays its line once: ask Live to speak first, so that
        # what is heard answers this call (the sideband's session.commentary.append)
        live.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("live_call.calls == 2 and live_call.session.connected "
                        "and live_call.session.session.get('id') == live_call.call_id", timeout=60)
        kernel.run("live_call.session.append_commentary('Say hello to the learner who just called.')")
        deadline = time.monotonic() + 240
        while page.evaluate(HEARD)[1] < 1:
            assert time.monotonic() < deadline, "the Live reply never sounded in the page"
            time.sleep(0.3)
        assert kernel.eval("live_call.widget.error") == ""
        live.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("live_call.call_id is None and live_call.session.closed", timeout=30)
        assert kernel.eval("client.api_key") not in page.content()
    except Exception:
        _screenshot(page, f"call-widget-run-all-04c-{app}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.close()
        page.close()
        shut_down(server, notebook)
