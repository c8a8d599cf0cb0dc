"""voicekit._lifecycle: closed sessions and agents say so; objects no cell reaches are closed.

The sweep runs in a real IPython shell (``InteractiveShell``, as in a kernel), whose
``post_run_cell`` event fires after each ``run_cell``; the closed errors are checked on
real sessions and agents against the stand-in.
"""

from __future__ import annotations

import numpy as np
import pytest
from openai import OpenAI

import voicekit._lifecycle as lifecycle
from voicekit import ClosedError, VoiceKitError
from voicekit.agents import CascadedAgent, RealtimeAgent
from voicekit.realtime import RealtimeSession
from voicekit.samples import load_sample


class Thing:
    """A tracked object as the sessions are: a Lifecycle and a _shutdown()."""

    def __init__(self) -> None:
        self.lifecycle = lifecycle.Lifecycle("Thing")
        self.shut = 0
        lifecycle.track(self)

    def _shutdown(self) -> None:
        self.shut += 1


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    lifecycle._installed = False  # install the hook on this shell
    sh.user_ns["Thing"] = Thing
    yield sh
    sh.events.unregister("post_run_cell", lifecycle._sweep)
    InteractiveShell.clear_instance()
    lifecycle._installed = False


def test_a_rerun_cell_closes_the_object_it_replaced(shell) -> None:
    shell.run_cell("t = Thing()")
    first = shell.user_ns["t"]
    assert first.lifecycle.cell is not None and not first.lifecycle.closed
    shell.run_cell("t = Thing()")  # the same cell again
    second = shell.user_ns["t"]
    assert first.lifecycle.closed and first.shut == 1 and not second.lifecycle.closed
    with pytest.raises(ClosedError, match=r"no variable refers to it any more.*Run the cell that creates it again \(In \[\d+\]\)"):
        first.lifecycle.check()


def test_objects_still_reachable_stay_open(shell) -> None:
    shell.run_cell("class Holder:\n    pass\n")
    shell.run_cell("h = Holder(); h.inner = [{'x': Thing()}]\nkept = Thing()\nm = (Thing(),)\n")
    inner, kept, in_tuple = shell.user_ns["h"].inner[0]["x"], shell.user_ns["kept"], shell.user_ns["m"][0]
    shell.run_cell("other = 1")
    # via an attribute of a user object, a list, a dict, a tuple
    assert not inner.lifecycle.closed and not kept.lifecycle.closed and not in_tuple.lifecycle.closed
    shell.run_cell("del kept")
    assert kept.lifecycle.closed and not inner.lifecycle.closed


def test_a_closure_keeps_its_object(shell) -> None:
    shell.run_cell("def make():\n    obj = Thing()\n    return lambda: obj\nget = make()\n")
    obj = shell.user_ns["get"]()
    shell.run_cell("y = 2")
    assert not obj.lifecycle.closed
    shell.run_cell("get = None")
    assert obj.lifecycle.closed


def test_the_output_history_does_not_keep_an_object_alive(shell) -> None:
    shell.run_cell("z = Thing()")
    obj = shell.user_ns["z"]
    shell.run_cell("z")  # displayed: Out[n] and _ refer to it
    shell.run_cell("z = None")
    assert obj.lifecycle.closed


def test_close_is_idempotent_and_closed_errors_are_voicekit_errors() -> None:
    t = Thing()
    assert t.lifecycle.close() and not t.lifecycle.close()
    err = lifecycle.closed_error(t.lifecycle)
    assert isinstance(err, VoiceKitError) and isinstance(err, RuntimeError)
    assert err.what == "Thing" and err.reason == "by close()"


def test_a_closed_realtime_session_raises_a_clear_error(client: OpenAI) -> None:
    rt = RealtimeSession(client)
    rt.start()
    assert rt.start() == rt.session  # re-running start() opens no second connection
    rt.close()
    rt.close()
    assert rt.closed and not rt.connected
    for call in (lambda: rt.send_clip(load_sample("cards_001.wav")), lambda: rt.run_turn("hi"),
                 lambda: rt.start(), lambda: rt.wait_for("response.done", timeout=1), rt.interrupt):
        with pytest.raises(ClosedError, match="this RealtimeSession was closed by close()"):
            call()
    assert rt.events  # what happened stays readable


def test_a_closed_cascaded_agent_raises_a_clear_error_not_a_futures_error(client: OpenAI) -> None:
    agent = CascadedAgent(client)
    agent.close()
    clip = load_sample("cards_001.wav")
    for call in (lambda: agent.send_clip(clip, realtime=False), lambda: agent.feed(clip),
                 lambda: agent.run_turn("hi"), agent.reset, agent.interrupt):
        with pytest.raises(ClosedError, match="this CascadedAgent was closed by close()"):
            call()


def test_a_closed_realtime_agent_raises_a_clear_error(client: OpenAI) -> None:
    agent = RealtimeAgent(client)
    agent.start()
    agent.close()
    assert agent.closed
    with pytest.raises(ClosedError, match="this RealtimeSession was closed"):
        agent.run_turn("hi")


def test_recording_into_a_closed_session_shows_the_error_in_the_recorder(client: OpenAI) -> None:
    from voicekit.widgets import Recorder

    rec = Recorder()
    rt = RealtimeSession(client)
    rt.start()
    rt.attach(rec)
    rt.close()  # a later cell closed it; the Recorder is still on screen
    rec._handle_custom_msg({"type": "start", "sample_rate": 24_000, "t_ms": 0}, [])
    pcm = np.zeros(2400, np.int16)
    rec._handle_custom_msg({"type": "chunk", "seq": 0, "frames": pcm.size, "sample_rate": 24_000, "t_ms": 0},
                           [memoryview(pcm.astype("<i2").tobytes())])
    assert "on_chunk callback failed: ClosedError: this RealtimeSession was closed" in rec.error
    rt2 = RealtimeSession(client)  # the cells run again: the new session replaces the closed one
    rt2.start()
    rt2.attach(rec)
    assert len(rec._on_chunk) == 1
    rt2.close()
