"""TranslationLines: phrases side by side, keyed by session, errors below, text only."""

from __future__ import annotations

from pathlib import Path

from voicekit.widgets import TranslationLines


def test_rows_are_replaced_per_session_and_phrase_and_errors_follow() -> None:
    lines = TranslationLines()
    lines.show(0, "Der Raum", "", conversation="sess_a")
    lines.show(0, "Der Raum wurde", "The room was", lag_ms=1234.4, conversation="sess_a")
    lines.show(0, "Hallo", "Hello", conversation="sess_b")  # another session's phrase 0: a new row
    assert [(r["conversation"], r["source"], r["translation"], r["lag_ms"]) for r in lines.rows] == [
        ("sess_a", "Der Raum wurde", "The room was", 1234), ("sess_b", "Hallo", "Hello", None)]
    lines.show_error("invalid_value: English only")
    assert lines.text.splitlines() == ["Der Raum wurde  ->  The room was", "Hallo  ->  Hello",
                                       "error: invalid_value: English only"]
    lines.clear()
    assert lines.rows == [] and lines.errors == []


def test_the_front_end_writes_text_never_html() -> None:
    js = (Path(__file__).resolve().parents[2] / "voicekit" / "widgets" / "translation_lines.js").read_text()
    assert "textContent" in js and ".innerHTML" not in js and "insertAdjacentHTML" not in js


def test_public_surface() -> None:
    from voicekit.widgets import translation_lines

    assert translation_lines.__all__ == ["TranslationLines"]
