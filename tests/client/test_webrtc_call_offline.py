"""The call widget's kernel side without a server or a browser: errors show in the widget,
nothing blocks, the key stays out of every message (the browser test covers a real call)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openai import OpenAI

from voicekit.errors import ClosedError
from voicekit.webrtc import Call
from voicekit.widgets import CallWidget

KEY = "test-proj-call-widget-unit-key"


@pytest.fixture
def offline() -> Any:
    with OpenAI(base_url="http://127.0.0.1:9/v1", api_key=KEY, max_retries=0, timeout=5) as c:
        yield c


def _spy(widget: CallWidget) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    widget.send = lambda content, buffers=None: sent.append(content)  # type: ignore[method-assign]
    return sent


def test_making_a_call_starts_nothing_and_says_it_waits_for_a_click(offline: OpenAI) -> None:
    call = Call(offline, "realtime")
    assert call.widget.state == "idle" and call.call_id is None and call.session is None
    assert "waits for a click" in call.widget.note
    assert call.widget.label == "Realtime" and not call.widget.ephemeral
    call.close()


def test_a_refused_offer_shows_in_the_widget_and_the_page_is_told(offline: OpenAI) -> None:
    call = Call(offline, "realtime")
    sent = _spy(call.widget)
    call.widget._on_msg(call.widget, {"type": "offer", "sdp": "v=0\r\n"}, [])
    assert call.widget.state == "error" and "Connection" in call.widget.error
    assert sent[-1]["type"] == "error" and sent[-1]["message"] == call.widget.error
    assert KEY not in json.dumps(sent) and KEY not in json.dumps(call.widget.get_state(), default=str)
    call.close()


def test_an_ephemeral_call_refuses_a_page_offer_and_live_has_no_ephemeral_keys(offline: OpenAI) -> None:
    call = Call(offline, "realtime", ephemeral=True)
    assert call.widget.ephemeral
    _spy(call.widget)
    call.widget._on_msg(call.widget, {"type": "offer", "sdp": "v=0\r\n"}, [])
    assert "posts its own offer" in call.widget.error
    call.widget._on_msg(call.widget, {"type": "answered", "call_id": None}, [])
    assert "no call" in call.widget.error
    call.close()
    with pytest.raises(ValueError, match="no ephemeral keys"):
        Call(offline, "live", ephemeral=True)
    with pytest.raises(ValueError, match="api must be"):
        Call(offline, "chat")
    with pytest.raises(ValueError, match="ephemeral=True"):
        Call(offline, "realtime").mint_key()


def test_a_closed_call_tells_the_page_and_answers_no_more(offline: OpenAI) -> None:
    call = Call(offline, "live")
    sent = _spy(call.widget)
    call.close()
    call.close()
    assert {"type": "hangup", "reason": "this Call was closed"} in sent
    assert "closed" in call.widget.note
    with pytest.raises(ClosedError):
        call.answer("v=0\r\n", lambda sdp: None)


def test_with_no_browser_the_output_text_says_the_call_waits_for_a_click(offline: OpenAI) -> None:
    """Run All with no browser attached (nbconvert, nbval, a frontend without widgets) shows
    a widget's text/plain: it says what the widget would (was ``<...CallWidget object at 0x...>``)."""
    call = Call(offline, "realtime")
    data = call._repr_mimebundle_()
    data = data[0] if isinstance(data, tuple) else data
    text = data["text/plain"]
    assert "Realtime" in text and "waits for a click" in text and "object at 0x" not in text
    call.widget.show_error("the server refused the offer")
    assert "the server refused the offer" in repr(call.widget)
    call.close()
