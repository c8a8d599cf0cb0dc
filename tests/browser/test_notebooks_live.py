"""The lesson notebooks as a learner uses them: Run All, then talk to them live.

Each test opens a copy of a notebook from ``notebooks/`` in a real Chromium (JupyterLab 4;
01b also in Notebook 7), runs Run > Run All Cells from the menu, waits for the run to
finish without an error, then clicks Record in the notebook's live cell. The fake
microphone plays ``ls_0890.wav`` ("unless to be rather cold hearted..."), the test clicks
Stop, and waits for the spoken reply to play (04, 05, 07) or for the lesson's own check
(01b); in 07 the next cell then puts the recording to every agent compared. The
kernels use the test session's stand-in (``OPENAI_BASE_URL``). Set
``VOICEKIT_TEST_SLOWDOWN=2`` (or more) on a machine busier than CI.

Issue 13: after Run All, 04 gave no reply, 07 raised ``RuntimeError: cannot schedule new
futures after shutdown``, and a re-run ``rec.on_chunk(keep)`` in 01b counted every chunk
twice.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from browser.conftest import _screenshot, kernel_env, shut_down
from browser.harness import (
    LEAD_SILENCE_S,
    Browser,
    JupyterServer,
    Kernel,
    code_cell_index,
    open_notebook,
    run_all,
    run_cell,
    wait_run_all,
)
from voicekit.audio import Clip
from voicekit.metrics import normalize_text

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
SPEECH_WORDS = {"cold", "hearted", "selfish", "disposed", "ill"}  # ls_0890's words
SLOWDOWN = float(os.environ.get("VOICEKIT_TEST_SLOWDOWN", "1"))
"""Multiplies the bounds below, for a machine busier than CI's 2 cores."""
RUN_ALL_S = {stem: SLOWDOWN * s for stem, s in {
    "01b_record_and_play": 180, "04_realtime": 360, "05_cascaded_agent": 360, "07_compare": 600,
}.items()}
"""Bounds on Run All, in s (measured on 2 cores shared with other work: 01b 7 s, 04 66 to
82 s, 05 95 s; 07 took 219 s on 2 cores in issue 13)."""
REPLY_S = SLOWDOWN * 150  # from Stop to a reply heard
SPEECH_S = 5.3  # ls_0890.wav
AFTER_SPEECH_S = 2.0  # silence recorded after the question: more than the VAD's 500 or 700 ms


@dataclass
class Opened:
    """A notebook after Run All: its page, its kernel and the notebook file."""

    page: Any
    kernel: Kernel
    path: Path

    def cell(self, needle: str) -> Any:
        """The code cell whose source contains ``needle``."""
        return self.page.locator(".jp-Notebook .jp-CodeCell").nth(code_cell_index(self.path, needle))


@pytest.fixture(scope="module")
def lab(browser: Browser, standin_server: Any, jupyter_servers: Callable[..., JupyterServer]) -> JupyterServer:
    """The shared JupyterLab whose kernels' OPENAI_BASE_URL is the stand-in (use_standin() reuses it)."""
    return jupyter_servers("lab", kernel_env(standin_server, key=False))


@pytest.fixture(scope="module")
def notebook7(browser: Browser, standin_server: Any, jupyter_servers: Callable[..., JupyterServer]) -> JupyterServer:
    return jupyter_servers("notebook", kernel_env(standin_server, key=False))


@pytest.fixture
def run_all_of(browser: Browser) -> Iterator[Any]:
    """``run_all_of(server, "04_realtime")``: open a fresh copy (in a folder of its own on the
    shared server), Run All, wait; an Opened. At the end the page closes and the kernel shuts down."""
    opened: list[tuple[JupyterServer, str, Any, Kernel | None]] = []

    def run(server: JupyterServer, stem: str) -> Opened:
        folder, rel = server.folder(stem)
        name = f"{rel}/{stem}.ipynb"
        path = folder / f"{stem}.ipynb"
        shutil.copyfile(NOTEBOOKS / path.name, path)
        page = browser.new_page()
        logs: list[str] = []
        page.on("console", lambda m: logs.append(f"{m.type}: {m.text}"))
        page.on("pageerror", lambda e: logs.append(f"pageerror: {e}"))
        entry: list[Any] = [server, name, page, None]
        opened.append(entry)  # type: ignore[arg-type]
        run.pages.append(page)  # type: ignore[attr-defined]
        try:
            open_notebook(page, server, name)
            kernel = server.kernel_for(name)
            entry[3] = kernel
            run_all(page)
            t0 = time.monotonic()
            wait_run_all(page, server, name, timeout=RUN_ALL_S[stem])
            print(f"Run All of {name} ({server.app}): {time.monotonic() - t0:.0f} s")
        except Exception:
            _screenshot(page, f"run_all-{server.app}-{stem}")
            print("\n".join(m for m in logs if not m.startswith("debug"))[-4000:])
            raise
        return Opened(page, kernel, path)

    run.pages = []  # type: ignore[attr-defined]  # for the screenshots of a failed test
    yield run
    for server, name, page, kernel in opened:
        if kernel is not None:
            kernel.close()
        page.close()
        shut_down(server, name)


def _click_record(cell: Any) -> Any:
    """Click Record in ``cell``'s output; return its Stop button (shown while recording)."""
    record = cell.get_by_role("button", name="Record", exact=True)
    record.scroll_into_view_if_needed(timeout=30_000)
    record.click()
    stop = cell.get_by_role("button", name="Stop", exact=True)
    stop.wait_for(timeout=10_000)
    return stop


def _talk_until_a_reply_plays(nb: Opened, record_cell: str, reply: str, diagnose: str) -> dict[str, Any]:
    """Ask one question as a learner does: wait for earlier replies to finish playing,
    click Record in ``record_cell``, let the fake microphone play the question and
    :data:`AFTER_SPEECH_S` of silence (the VAD ends the turn), click Stop. Then wait
    until kernel expression ``reply`` (which may use n0, the turns before, and
    ``HEARD()``, the ms played since) is true. Returns the Player's figures; on a timeout
    prints kernel expression ``diagnose``.

    Recording stops before the reply: Chromium loops the fake microphone's file, and
    the next round of the question would talk over a slow reply (a barge-in)."""
    k = nb.kernel
    k.wait_for("not player.playing", timeout=90)  # what Run All queued has been heard
    # HEARD(): ms of audio played since Record (a barge-in or a new reply may clear the
    # Player, which starts a new generation from 0 ms).
    k.run("n0, d0, g0 = len(TURNS()), player.duration_ms, player._gen\n"
          "HEARD = lambda: player.played_ms - (d0 if player._gen == g0 else 0)")
    stop = _click_record(nb.cell(record_cell))
    time.sleep(LEAD_SILENCE_S + SPEECH_S + AFTER_SPEECH_S)
    stop.click()
    try:
        k.wait_for(reply, timeout=REPLY_S)
    except TimeoutError:
        print("state:", k.eval(diagnose))
        raise
    return k.eval("dict(heard_ms=HEARD(), error=player.error)")


_PLAYER = ("player=dict(playing=player.playing, played_ms=player.played_ms, d0=d0, heard=HEARD(),"
           " duration_ms=player.duration_ms, error=player.error),"
           " recorder=dict(recording=recorder.recording, chunks=recorder.stats.chunks,"
           " error=recorder.error, settings=recorder.track_settings)")


def _heard(users: list[str | None]) -> set[str]:
    return set(normalize_text(" ".join(u or "" for u in users)).split())


pytestmark = pytest.mark.timeout(SLOWDOWN * 900)


def test_04_run_all_then_talk_live(lab: JupyterServer, run_all_of: Any,
                                   speech: tuple[Path, Clip, str]) -> None:
    nb = run_all_of(lab, "04_realtime")
    k = nb.kernel
    k.run("TURNS = lambda: rt.turns")
    played = _talk_until_a_reply_plays(
        nb, "rt.attach(recorder)",
        "any(t.reply is not None and t.status for t in rt.turns[n0:]) and HEARD() > 300",
        "dict(n0=n0, turns=[(t.user, t.status, t.reply is not None) for t in rt.turns[n0:]],"
        " connected=rt.connected, errors=rt.errors, events=[e.type for e in rt.events[-25:]], " + _PLAYER + ")")
    r = k.eval("dict(users=[t.user for t in rt.turns[n0:]], texts=[t.assistant_text for t in rt.turns[n0:]],"
               " errors=rt.errors, lines=len(transcript.lines))")
    assert played["error"] == "" and r["errors"] == [], (played, r["errors"])
    assert _heard(r["users"]) & SPEECH_WORDS, r["users"]
    assert any(t.strip() for t in r["texts"]), r["texts"]
    # The reply is in the page's Transcript too (the live cell shows it).
    reply = next(t for t in reversed(r["texts"]) if t.strip()).strip()
    assistant = nb.cell("rt.attach(recorder)").locator(".vk-transcript .vk-assistant .vk-text")
    assistant.filter(has_text=reply).first.wait_for(timeout=10_000)


def test_05_run_all_then_talk_live(lab: JupyterServer, run_all_of: Any,
                                   speech: tuple[Path, Clip, str]) -> None:
    nb = run_all_of(lab, "05_cascaded_agent")
    k = nb.kernel
    k.run("TURNS = lambda: agent.turns")
    played = _talk_until_a_reply_plays(
        nb, "agent.attach(recorder)",
        "any(t.reply is not None and t.done.is_set() for t in agent.turns[n0:])"
        " and HEARD() > 300",
        "dict(n0=n0, turns=[(t.user_text, t.status, t.reply is not None) for t in agent.turns[n0:]], "
        + _PLAYER + ")")
    r = k.eval("dict(users=[t.user_text for t in agent.turns[n0:]],"
               " texts=[t.reply_text for t in agent.turns[n0:]],"
               " status=[t.status for t in agent.turns[n0:]])")
    assert played["error"] == "", played
    assert _heard(r["users"]) & SPEECH_WORDS, r["users"]
    assert any(s in ("completed", "incomplete", "interrupted") for s in r["status"]), r
    assert any(t.strip() for t in r["texts"]), r["texts"]


@pytest.mark.timeout(SLOWDOWN * 1500)  # Run All, a live turn, then one turn on each agent
def test_07_run_all_then_talk_live_and_ask_every_agent(lab: JupyterServer, run_all_of: Any,
                                                       speech: tuple[Path, Clip, str]) -> None:
    """07's step 2: talk to the cascaded agent (its answer plays), then the next cell puts
    the recording to all the agents the notebook compares."""
    nb = run_all_of(lab, "07_compare")
    k, page = nb.kernel, nb.page
    agents = k.eval("[n for n in ('cascaded', 'realtime', 'live') if n in results]")
    assert {"cascaded", "realtime"} <= set(agents), agents
    # The agents themselves: results holds copies of their metrics from when it was made.
    k.run(f"AGENTS = {{n: globals()[n] for n in {agents!r}}}; TURNS = lambda: cascaded.turns")
    played = _talk_until_a_reply_plays(
        nb, "cascaded.attach(recorder)",
        "any(t.reply is not None and t.done.is_set() for t in cascaded.turns[n0:]) and HEARD() > 300",
        "dict(n0=n0, turns=[(t.user_text, t.status, t.reply is not None) for t in cascaded.turns[n0:]], "
        + _PLAYER + ")")
    assert played["error"] == "", played
    heard = k.eval("[t.user_text for t in cascaded.turns[n0:]]")
    assert _heard(heard) & SPEECH_WORDS, heard
    k.wait_for("recorder.clip is not None and recorder.clip.duration > 0.5", timeout=20)
    before = k.eval("{n: len(a.metrics) for n, a in AGENTS.items()}")
    needle = "= recorder.clip"
    run_cell(page, code_cell_index(nb.path, needle), nb.path.name)
    out = nb.cell(needle).locator(".jp-OutputArea-output")
    try:
        out.filter(has_text="Added your question").wait_for(timeout=REPLY_S * 1000 * len(agents))
    except Exception:
        print("live cell output:", out.all_inner_texts())
        raise
    after = k.eval("{n: dict(n=len(a.metrics), v2v=a.metrics[-1].voice_to_voice_ms,"
                   " in_results=len(results[n])) for n, a in AGENTS.items()}")
    for name in agents:  # one more turn each, measured
        assert after[name]["n"] == before[name] + 1 and after[name]["v2v"] > 0, (name, before, after)
        assert after[name]["in_results"] == after[name]["n"], (name, after)  # the comparison has it
    replies = k.eval("dict(cascaded=cascaded.turns[-1].reply is not None,"
                     " realtime=realtime.turns[-1].reply is not None)")
    assert replies == {"cascaded": True, "realtime": True}, replies  # both spoke an answer


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_01b_rerun_the_chunk_cell_then_record_counts_each_chunk_once(
    app: str, request: pytest.FixtureRequest, run_all_of: Any, speech: tuple[Path, Clip, str]
) -> None:
    server = request.getfixturevalue("lab" if app == "lab" else "notebook7")
    nb = run_all_of(server, "01b_record_and_play")
    k, page = nb.kernel, nb.page
    keep = code_cell_index(nb.path, "rec.on_chunk(keep)")
    run_cell(page, keep, nb.path.name)  # as the text invites: the callback is registered again
    k.eval("None")  # queued behind the re-run cell on the kernel's shell: it has finished
    stop = _click_record(nb.cell("rec = Recorder()"))
    time.sleep(LEAD_SILENCE_S + speech[1].duration + 0.7)
    stop.click()
    k.wait_for("rec.stats.expected_chunks is not None and rec.stats.chunks == rec.stats.expected_chunks",
               timeout=20)
    counts = k.eval("dict(kept=len(chunks), seqs=[c.seq for c in chunks], chunks=rec.stats.chunks)")
    assert counts["chunks"] > 40  # ~100 ms chunks over ~6.5 s
    assert counts["kept"] == counts["chunks"], counts  # once each, not twice
    assert counts["seqs"] == list(range(counts["chunks"]))
    # The lesson's own check, the cell after the chunk cell, passes.
    run_cell(page, keep + 1, nb.path.name)
    check = page.locator(".jp-Notebook .jp-CodeCell").nth(keep + 1)
    check.locator(".jp-OutputArea-output").filter(has_text="chunks;").wait_for(timeout=30_000)
    errors = check.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    assert errors.count() == 0, errors.all_inner_texts()
