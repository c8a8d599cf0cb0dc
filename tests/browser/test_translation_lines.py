"""The TranslationLines widget in a real Chromium, in JupyterLab 4 and in Notebook 7 (issue 23, item 6).

Cells run from the page: a :class:`~voicekit.realtime.TranslationSession` on the stand-in
translates the shipped German recording (``voicekit/data/multilingual/de_leopard.wav``,
loaded as ``04d_translation`` does; ``realtime=False``) into a displayed ``TranslationLines``.
The page's DOM must show each phrase's source beside its English translation and its lag,
as the kernel's ``lines.rows`` hold them; a row holding ``<b>x</b>`` must show it as text;
and a session asking for French (the stand-in translates into English only) must show the
error in red in the widget while the cell shows the ``RealtimeError``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import heard_de_leopard

from browser.conftest import NOTEBOOK, kernel_env, notebook_session
from browser.harness import Browser, JupyterServer, run_cell
from voicekit.metrics import normalize_text

pytestmark = pytest.mark.timeout(300)

SETUP = """\
from openai import OpenAI
from voicekit import Clip
from voicekit.realtime import TranslationSession
from voicekit.samples import DATA_DIR
from voicekit.widgets import TranslationLines

client = OpenAI()
german = Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav")
lines = TranslationLines()
display(lines)
"""
TRANSLATE = """\
translator = TranslationSession(client, lines=lines)
translator.start()
phrases = translator.translate(german, realtime=False)
"""
HTML = 'lines.show(0, "<b>x</b> said", "<b>x</b> translated", lag_ms=1500, conversation="html-check")\n'
FRENCH = """\
french_lines = TranslationLines()
display(french_lines)
french = TranslationSession(client, language="fr", lines=french_lines)
french.start()
"""
# "The room behind this portal was used as a mortuary" (the recording's README)
CONTENT_WORDS = {"room", "portal", "used", "mortuary", "morgue"}
ROWS_JS = """(i) => [...document.querySelectorAll('.vk-translation')[i].querySelectorAll('tr[data-index]')].map((tr) =>
  [tr.dataset.index, ...[...tr.children].map((td) => [td.className, td.textContent])])"""


def _run_to_end(page: Any, index: int, timeout: float) -> Any:
    """Run code cell ``index`` from the page and wait until its prompt shows it ran; return the cell."""
    run_cell(page, index, NOTEBOOK)
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    deadline = time.monotonic() + timeout
    while "*" in (prompt.text_content() or "") or not any(c.isdigit() for c in prompt.text_content() or ""):
        assert time.monotonic() < deadline, f"cell {index} still running after {timeout} s"
        time.sleep(0.3)
    return cell


def _dom_rows(page: Any, widget: int, at_least: int, timeout: float = 20.0) -> list[list[Any]]:
    """The rows the ``widget``-th TranslationLines of the page shows, once there are ``at_least``."""
    page.wait_for_function(f"() => document.querySelectorAll('.vk-translation')[{widget}]"
                           f"?.querySelectorAll('tr[data-index]').length >= {at_least}", timeout=timeout * 1000)
    return list(page.evaluate(ROWS_JS, widget))


@pytest.mark.parametrize("app", ["lab", "notebook"], ids=["lab4", "notebook7"])
def test_translation_lines_show_text_side_by_side_and_errors_in_red(
        browser: Browser, standin_server: Any, app: str, jupyter_servers: Callable[..., JupyterServer]) -> None:
    server = jupyter_servers(app, kernel_env(standin_server, key=True))
    close = "[s.close() for s in (globals().get('translator'), globals().get('french')) if s is not None]"
    with notebook_session(browser, server, "translation", [SETUP, TRANSLATE, HTML, FRENCH],
                          before_close=close, button=None) as session:
        page, kernel = session.page, session.kernel
        page.locator(".vk-translation").first.filter(has_text="nothing translated yet").wait_for(timeout=30_000)

        # 1-2. the German recording translated: each row of the kernel's lines.rows is in the page
        _run_to_end(page, 1, 180)
        assert kernel.eval("translator.errors") == []
        rows = kernel.eval("lines.rows")
        assert rows and all(r["conversation"] == kernel.eval("translator.conversation_id") for r in rows), rows
        shown = _dom_rows(page, 0, len(rows))
        assert len(shown) == len(rows), (shown, rows)
        heads = page.locator(".vk-translation").first.locator("th").all_text_contents()
        assert heads == ["Speaker", "Translation", "lag"], heads
        for row, (index, source, target, lag) in zip(rows, shown, strict=True):
            assert index == str(row["index"])
            assert source == ["vk-source", row["source"] or "…"]
            assert target == ["vk-target", row["translation"] or "…"]
            assert lag[0] == "vk-lag" and lag[1].endswith(" s")
            assert row["lag_ms"] is not None and row["lag_ms"] > 0
            assert abs(float(lag[1][:-2]) - row["lag_ms"] / 1000) <= 0.051, (lag, row)
        both = [r for r in rows if r["source"].strip() and r["translation"].strip()]
        assert both, rows  # one phrase at least with its source beside its translation
        assert any(len(set(normalize_text(r["translation"]).split()) & CONTENT_WORDS) >= 1 for r in both), rows
        assert heard_de_leopard(" ".join(r["source"] for r in rows)), rows  # the German words

        # 3. text stays text: the row holding <b>x</b> shows it literally, and makes no <b>
        _run_to_end(page, 2, 30)
        html_row = _dom_rows(page, 0, len(rows) + 1)[-1]
        assert html_row[1:] == [["vk-source", "<b>x</b> said"], ["vk-target", "<b>x</b> translated"],
                                ["vk-lag", "1.5 s"]], html_row
        assert page.locator(".vk-translation b").count() == 0

        # 4. an error reaches the widget (in red) and the cell (the RealtimeError)
        cell = _run_to_end(page, 3, 60)
        error = page.locator(".vk-translation").nth(1).locator(".vk-error")
        error.first.wait_for(timeout=20_000)
        assert kernel.eval("french_lines.errors") == [error.first.text_content()]
        assert "English only" in (error.first.text_content() or "")
        red, green, blue = (int(v) for v in error.first.evaluate(
            "(e) => getComputedStyle(e).color.match(/\\d+/g).slice(0, 3)"))
        assert red >= 150 and green <= 80 and blue <= 80, (red, green, blue)
        stderr = cell.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
        traceback = stderr.filter(has_text="Traceback")
        traceback.first.wait_for(timeout=20_000)
        assert "RealtimeError" in traceback.first.text_content() and "English only" in traceback.first.text_content()
