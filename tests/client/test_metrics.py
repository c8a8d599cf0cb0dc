"""Tests for voicekit.metrics: Whisper normalisation, WER through jiwer, real-time factor."""

from __future__ import annotations

import math

import pytest

from voicekit import metrics
from voicekit.metrics import normalize_text, rtf, wer, wer_many


def test_public_surface_is_pinned() -> None:
    assert sorted(metrics.__all__) == ["normalize_text", "rtf", "wer", "wer_many"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Eight of Spades!", "8 of spades"),
        ("Mr. John Dashwood", "mister john dashwood"),
        ("He was not an ill-disposed young man.", "he was not an ill disposed young man"),
        ("Um, uh.", ""),
        ("The colour [inaudible] grey", "the color gray"),
        ("Go forward ten meters", "go forward 10 meters"),
        ("Hello...", "hello"),
        ("Wait...   what?", "wait what"),
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_normalize_text_refuses_non_str() -> None:
    with pytest.raises(TypeError, match="expected text as str, got bytes"):
        normalize_text(b"eight")  # type: ignore[arg-type]


def test_wer_identical_is_zero() -> None:
    text = "and mister john dashwood had then leisure to consider"
    assert wer(text, text) == 0.0


def test_wer_after_normalisation_numbers_case_and_punctuation() -> None:
    assert wer("8 of spades", "eight of spades") == 0.0
    assert wer("eight of spades four of clubs", "Eight of Spades, 4 of Clubs.") == 0.0


def test_wer_known_substitution() -> None:
    # One substituted word out of three reference words.
    assert wer("ten of clubs", "ten of hearts") == pytest.approx(1 / 3)


def test_wer_known_deletion_and_insertion() -> None:
    # "he was not an ill disposed young man": 8 words; drop "not", add "very".
    assert wer(
        "he was not an ill disposed young man", "he was an ill disposed very young man"
    ) == pytest.approx(2 / 8)


def test_wer_can_exceed_one() -> None:
    assert wer("yes", "yes yes yes") == pytest.approx(2.0)


def test_wer_returns_float() -> None:
    assert type(wer("a cat", "a dog")) is float


def test_wer_empty_hypothesis_is_all_deletions() -> None:
    assert wer("go forward ten meters", "") == 1.0


def test_wer_empty_reference_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one word after normalisation"):
        wer("Um.", "hello")


def test_wer_many_is_corpus_wer_not_mean() -> None:
    refs = ["ten of clubs", "he was not an ill disposed young man"]  # 3 + 8 words
    hyps = ["ten of hearts", "he was not an ill disposed young man"]
    # One error over 11 reference words; the mean of per-pair WERs would be 1/6.
    assert wer_many(refs, hyps) == pytest.approx(1 / 11)


def test_wer_many_normalises() -> None:
    assert wer_many(["8 of spades", "Ten of clubs."], ["eight of spades", "10 of Clubs"]) == 0.0


def test_wer_many_allows_some_empty_references() -> None:
    assert wer_many(["", "go forward"], ["", "go back"]) == pytest.approx(1 / 2)


@pytest.mark.parametrize(
    ("refs", "hyps", "message"),
    [
        (["a", "b"], ["a"], "got 2 references and 1 hypotheses"),
        ([], [], "at least one reference/hypothesis pair"),
        (["um", ""], ["x", "y"], "at least one reference with words"),
    ],
)
def test_wer_many_refuses_bad_input(refs: list[str], hyps: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        wer_many(refs, hyps)


def test_wer_many_refuses_a_single_str() -> None:
    with pytest.raises(TypeError, match="single str"):
        wer_many("ten of clubs", "ten of clubs")


def test_rtf() -> None:
    assert rtf(2.5, 10.0) == pytest.approx(0.25)
    assert rtf(0.0, 3.0) == 0.0
    assert rtf(6.0, 3.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("processing", "audio"),
    [(1.0, 0.0), (1.0, -2.0), (1.0, math.nan), (1.0, math.inf), (-0.1, 1.0), (math.nan, 1.0)],
)
def test_rtf_refuses_bad_durations(processing: float, audio: float) -> None:
    with pytest.raises(ValueError, match="expected"):
        rtf(processing, audio)


def test_spelled_and_written_digit_sequences_score_alike():
    # Whisper's normaliser maps "five five" to "55" but keeps "5 5" apart.
    assert normalize_text("5 5") == normalize_text("five five") == "55"
    assert wer("five five", "5, 5.") == 0.0
    assert normalize_text("8 of spades 4 of clubs") == "8 of spades 4 of clubs"
