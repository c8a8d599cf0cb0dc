"""Where a streamed reply is cut into pieces for text-to-speech (voicekit.phrases.speakable)."""

from __future__ import annotations

import pytest

from voicekit.phrases import FIRST_PIECE_MAX_CHARS, speakable


def _stream(text: str) -> list[str]:
    """The pieces ``text`` gives when it streams in word by word, as an LLM writes it."""
    pieces, pending, first = [], "", True
    for i, word in enumerate(text.split(" ")):
        out, pending = speakable(pending + (" " if i else "") + word, first=first)
        pieces += out
        first = first and not out
    return pieces + ([pending.strip()] if pending.strip() else [])


@pytest.mark.parametrize("buffer", ["I'm sorry for your loss.", "Yes!", "Is it?", "No."])
def test_a_first_sentence_is_spoken_as_soon_as_its_end_is_written(buffer: str) -> None:
    # not one token later, when the next word shows the period was a sentence end
    assert speakable(buffer, first=True) == ([buffer], "")


@pytest.mark.parametrize("buffer", ["It is 21.", "Ask Mr.", "Say e.g.", "Well...", "in the U.S."])
def test_a_period_that_may_not_end_the_sentence_waits_for_the_next_word(buffer: str) -> None:
    assert speakable(buffer, first=True) == ([], buffer)


def test_later_sentences_end_at_the_space_after_their_end() -> None:
    assert speakable("It costs 3.5 dollars. Then", first=False) == (["It costs 3.5 dollars."], "Then")
    assert speakable("It costs 3.5 dollars.", first=False) == ([], "It costs 3.5 dollars.")


def test_an_abbreviation_ends_no_sentence() -> None:
    assert speakable("Ask Mr. Smith, e.g. today. Then", first=False) == (["Ask Mr. Smith, e.g. today."], "Then")


def test_the_first_piece_is_a_clause_or_phrase_later_ones_are_sentences() -> None:
    text = "The Queen of Clubs is a card, which players love. It wins tricks. Then it is gone."
    assert _stream(text) == ["The Queen of Clubs is a card,", "which players love.", "It wins tricks.",
                             "Then it is gone."]


def test_a_long_first_sentence_without_marks_is_cut_before_the_limit() -> None:
    pieces = _stream("Supercalifragilistic expialidocious antidisestablishmentarianism floccinaucinihilipilification "
                     "honorificabilitudinitatibus.")
    assert len(pieces[0]) <= FIRST_PIECE_MAX_CHARS and len(pieces) >= 2


def test_stray_periods_of_an_ellipsis_are_not_spoken_as_a_piece() -> None:
    assert _stream("Hi. ... Then we go.") == ["Hi.", "Then we go."]
