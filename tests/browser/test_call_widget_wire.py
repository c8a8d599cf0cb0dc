"""The call widget on the wire: one call per page, the ephemeral-key variant, and the key.

A real Chromium (fake microphone, as in ``test_call_widget.py``) and a spy on every frame
of the page's kernel WebSockets (Playwright's ``websocket`` events: every comm message and
output, both ways). With two call widgets on one page, Call in the second hangs up the
first (never two calls on one microphone). In the ephemeral-key variant the page posts its
own offer with an ``ek_`` key the kernel minted, which is the only credential on the wire;
the project key is on none of it, nor in the DOM. In JupyterLab 4 and Notebook 7.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from browser.conftest import _screenshot, kernel_env, shut_down
from browser.harness import (
    JupyterServer,
    Kernel,
    open_notebook,
    run_cell,
    write_notebook,
)
from browser.test_call_widget import CALL_CELL, HEARD, KEY, NOTEBOOK, SETUP

pytestmark = pytest.mark.timeout(600)


SECOND_CALL = """
live_call = Call(client, "live", session={"instructions": "Answer in one short sentence."})
live_call
"""


def _spy_on_kernel_frames(page: Any) -> list[str]:
    """Every frame of the page's kernel WebSockets (every comm message and output, both
    ways), as text, from the moment this is called."""
    frames: list[str] = []

    def on_socket(ws: Any) -> None:
        for event in ("framesent", "framereceived"):
            ws.on(event, lambda payload: frames.append(
                payload if isinstance(payload, str) else bytes(payload).decode("utf-8", "replace")))

    page.on("websocket", on_socket)
    return frames


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_a_call_in_another_widget_hangs_up_the_first(call_browser: Any, standin_server: Any, app: str,
                                                     jupyter_servers: Callable[..., JupyterServer]) -> None:
    """Never two calls on one microphone: with a Realtime and a GPT-Live Call on one page
    (as in 04c), Call in the second hangs up the first, in the page and in the kernel.
    And the project key is in no frame between the page and the kernel, nor in the DOM."""
    server = jupyter_servers(app, kernel_env(standin_server, key=True))
    folder, rel = server.folder("call-two")
    notebook = f"{rel}/{NOTEBOOK}"
    write_notebook(folder / NOTEBOOK, [SETUP, CALL_CELL, SECOND_CALL])
    page = call_browser.new_page()
    frames = _spy_on_kernel_frames(page)
    kernel: Kernel | None = None
    try:
        open_notebook(page, server, notebook)
        for i in range(3):
            run_cell(page, i)
        first, second = page.locator(".voicekit-call").nth(0), page.locator(".voicekit-call").nth(1)
        second.get_by_role("button", name="Call", exact=True).wait_for(timeout=60_000)
        kernel = server.kernel_for(notebook)
        kernel.wait_for("'live_call' in globals()", timeout=60)

        first.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("call.session is not None and call.session.connected", timeout=60)
        first_id = kernel.eval("call.call_id")
        second.get_by_role("button", name="Call", exact=True).click()
        assert page.evaluate("globalThis.voicekitLiveCalls()") <= 1
        kernel.wait_for("live_call.session is not None and live_call.session.connected", timeout=60)
        kernel.wait_for("call.call_id is None and call.session.closed", timeout=30)  # the page told its kernel
        assert first_id is not None and page.evaluate("globalThis.voicekitLiveCalls()") == 1
        assert "another call" in first.inner_text()
        first.get_by_role("button", name="Call", exact=True).wait_for(timeout=10_000)

        second.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("live_call.call_id is None", timeout=30)
        assert [f for f in frames if '"type": "offer"' in f or '"type":"offer"' in f]  # the spy saw the comm
        assert not [f for f in frames if KEY in f] and KEY not in page.content()
        assert not [f for f in frames if re.search(r"\bek_[A-Za-z0-9_-]{20,}", f)]  # no ephemeral key either
    except Exception:
        _screenshot(page, f"call-widget-two-{app}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.run("call.close(); live_call.close()")
            kernel.close()
        page.close()
        shut_down(server, notebook)


EPHEMERAL_CALL = """
ek_transcript = Transcript()
ek_call = Call(client, "realtime", ephemeral=True, session={"instructions": "Answer in one short sentence."},
               transcript=ek_transcript)
ek_call
"""


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_the_ephemeral_key_variant_from_the_page(call_browser: Any, standin_server: Any, app: str,
                                                 jupyter_servers: Callable[..., JupyterServer]) -> None:
    """The ephemeral-key variant in the widget: the kernel mints an ``ek_`` key, the page
    posts its own offer to ``/v1/realtime/calls`` with it (a cross-origin request from the
    Jupyter page), tells the kernel the call id, and the kernel joins the sideband. The
    reply to a question asked there is heard in the page. The ``ek_`` key reaches the page
    in the one ``key`` message; the project key in no frame between page and kernel."""
    server = jupyter_servers(app, kernel_env(standin_server, key=True))
    folder, rel = server.folder("call-ephemeral")
    notebook = f"{rel}/{NOTEBOOK}"
    write_notebook(folder / NOTEBOOK, [SETUP, EPHEMERAL_CALL])
    page = call_browser.new_page()
    frames = _spy_on_kernel_frames(page)
    kernel: Kernel | None = None
    try:
        open_notebook(page, server, notebook)
        run_cell(page, 0)
        run_cell(page, 1)
        widget = page.locator(".voicekit-call")
        widget.get_by_role("button", name="Call", exact=True).wait_for(timeout=60_000)
        assert "ephemeral key" in widget.inner_text() and "waits for a click" in widget.inner_text()
        kernel = server.kernel_for(notebook)
        kernel.wait_for("'ek_call' in globals()", timeout=60)

        widget.get_by_role("button", name="Call", exact=True).click()
        kernel.wait_for("ek_call.session is not None and ek_call.session.connected", timeout=60)
        assert kernel.eval("ek_call.call_id").startswith("rtc_") and kernel.eval("ek_call.widget.error") == ""
        heard = page.evaluate(HEARD)[0]
        kernel.run("ek_call.session.send_text('Say hello to the learner who just called.')")
        deadline = time.monotonic() + 240
        while page.evaluate(HEARD)[0] <= heard:
            assert time.monotonic() < deadline, "the reply never sounded in the page"
            time.sleep(0.3)
        kernel.wait_for("any(t.status == 'completed' for t in ek_call.session.turns)", timeout=120)
        widget.get_by_role("button", name="Hang up", exact=True).click()
        kernel.wait_for("ek_call.call_id is None and ek_call.session.closed", timeout=30)

        with_ek = [f for f in frames if re.search(r"\bek_[A-Za-z0-9_-]{20,}", f)]
        assert with_ek and all('"key"' in f for f in with_ek), with_ek[:3]  # only in the key message
        assert not [f for f in frames if KEY in f] and KEY not in page.content()
    except Exception:
        _screenshot(page, f"call-widget-ephemeral-{app}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.run("ek_call.close()")
            kernel.close()
        page.close()
        shut_down(server, notebook)
