"""voicekit._lifecycle: closed sessions and agents say so; a re-run cell closes what it replaces.

The keying runs in a real IPython shell (``InteractiveShell``, as in a kernel), whose
``pre_run_cell``/``post_run_cell`` events fire around each ``run_cell``; the closed
errors are checked on real sessions and agents against the stand-in.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from openai import OpenAI

import voicekit._lifecycle as lifecycle
from voicekit import ClosedError, VoiceKitError
from voicekit.agents import CascadedAgent, RealtimeAgent
from voicekit.audio import Clip
from voicekit.realtime import RealtimeSession
from voicekit.samples import load_sample
from voicekit.session import VoiceSession
from voicekit.widgets import Recorder


class Thing:
    """A tracked object as the sessions are: a Lifecycle and a _shutdown()."""

    def __init__(self) -> None:
        self.lifecycle = lifecycle.Lifecycle("Thing")
        self.shut = 0
        lifecycle.track(self)

    def _shutdown(self) -> None:
        self.shut += 1


class Ears(VoiceSession):
    """The smallest voice session: it keeps what the microphone sends it."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[Clip] = []

    def _hear(self, clip: Clip) -> None:
        self.heard.append(clip)


@pytest.fixture(scope="module")
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    lifecycle._installed = False  # install the hooks on this shell
    sh.user_ns.update(Thing=Thing, Ears=Ears)
    sh.run_cell("import types, numpy")
    lifecycle.track(Thing())  # installs
    yield sh
    sh.events.unregister("pre_run_cell", lifecycle._pre_run_cell)
    sh.events.unregister("post_run_cell", lifecycle._post_run_cell)
    InteractiveShell.clear_instance()
    lifecycle._installed = False


def test_a_rerun_cell_closes_the_object_it_replaced(shell) -> None:
    shell.run_cell("t = Thing()")
    first = shell.user_ns["t"]
    assert first.lifecycle.cell is not None and not first.lifecycle.closed
    shell.run_cell("t = Thing()")  # the same cell again
    second = shell.user_ns["t"]
    assert first.lifecycle.closed and first.shut == 1 and not second.lifecycle.closed
    rerun = second.lifecycle.cell
    with pytest.raises(ClosedError, match=rf"In \[{rerun}\] ran its cell again.*Run the cell that creates it again "
                                          rf"\(In \[{first.lifecycle.cell}\]\)"):
        first.lifecycle.check()


def test_objects_kept_in_containers_stay_open(shell) -> None:
    """Nothing is closed for being "unreachable": not in a SimpleNamespace, a dict, an
    object array (as a DataFrame cell holds them), nor after ``del``."""
    shell.run_cell("ns = types.SimpleNamespace(a=Thing())\nd = {'x': Thing()}\narr = numpy.array([Thing()], dtype=object)\n"
                   "kept = Thing()")
    held = [shell.user_ns["ns"].a, shell.user_ns["d"]["x"], shell.user_ns["arr"][0], shell.user_ns["kept"]]
    shell.run_cell("other = Thing()")
    shell.run_cell("del kept")
    assert not any(t.lifecycle.closed for t in held)


def test_each_object_of_a_rerun_cell_replaces_its_own_counterpart(shell) -> None:
    code = "pair = (Thing(), Thing())"
    shell.run_cell(code)
    a, b = shell.user_ns["pair"]
    shell.run_cell("unrelated = Thing()")
    shell.run_cell(code)
    c, d = shell.user_ns["pair"]
    assert a.lifecycle.closed and b.lifecycle.closed and a.shut == b.shut == 1
    assert not c.lifecycle.closed and not d.lifecycle.closed and not shell.user_ns["unrelated"].lifecycle.closed


def test_closed_error_names_the_creating_cell_not_the_last_one_run(shell) -> None:
    """The learner's fault in 04: the error named the cell that used it (In [5]), not In [4]."""
    created = shell.execution_count  # the next cell's In [n] (cells counted as in a kernel)
    shell.run_cell("rt = Thing()", store_history=True)
    shell.run_cell("x = 1", store_history=True)
    shell.run_cell("rt.lifecycle.close()", store_history=True)
    assert shell.execution_count == created + 3
    with pytest.raises(ClosedError, match=rf"Run the cell that creates it again \(In \[{created}\]\)"):
        shell.user_ns["rt"].lifecycle.check()


def _chunk(rec: Any, seq: int) -> None:
    pcm = np.zeros(2400, np.int16)
    rec._handle_custom_msg({"type": "chunk", "seq": seq, "frames": pcm.size, "sample_rate": 24_000, "t_ms": 100 * seq},
                           [memoryview(pcm.astype("<i2").tobytes())])


def test_a_recorder_follows_the_session_that_replaces_its_own(shell) -> None:
    """The learner's fault in 04: after the session cell was re-run, the Recorder stayed on
    the replaced session, recorded, and nothing answered."""
    rec = Recorder()
    shell.user_ns["rec"] = rec
    shell.run_cell("ears = Ears()")
    old = shell.user_ns["ears"]
    shell.run_cell("ears.attach(rec)")
    shell.run_cell("ears = Ears()")  # the session cell again
    new = shell.user_ns["ears"]
    rec._handle_custom_msg({"type": "start", "sample_rate": 24_000, "t_ms": 0}, [])
    _chunk(rec, 0)
    assert old.closed and not old.heard and len(new.heard) == 1 and not rec.error
    assert len(rec._on_chunk) == 1


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
    assert agent.closed and agent.session.closed and not agent.connected
    for call in (lambda: agent.run_turn("hi"), lambda: agent.send_clip(load_sample("cards_001.wav")),
                 agent.interrupt, lambda: agent.attach(Recorder())):
        with pytest.raises(ClosedError, match="this RealtimeAgent was closed by close()"):
            call()


def test_recording_into_a_closed_session_shows_the_error_in_the_recorder(client: OpenAI) -> None:
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
