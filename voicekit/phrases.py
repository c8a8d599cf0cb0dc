"""Where a streamed reply can be cut into pieces for text-to-speech (the stand-in's Realtime
replies and the cascaded agent alike): sentences, and for the first
piece a clause or phrase, so the first audio does not wait for a whole sentence."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["FIRST_CLAUSE_MIN_CHARS", "FIRST_PHRASE_MIN_CHARS", "FIRST_PIECE_MAX_CHARS", "speakable"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_ENDS_SENTENCE = re.compile(r"(?:[!?]|(?<![\w.])(\w*[^\W\d_]\w*)\.)$")  # "loss." "Yes!" (not "21.", "e.g.")
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "prof", "jr", "sr", "vs", "mt", "eg", "ie"})
"""Words whose period ends no sentence ("Mr. Smith", "e.g. this"): lower case, without dots."""
_WORD_BEFORE = re.compile(r"[\w.]*$")
_EMPTY_AT_END = re.compile(r"$")
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
_PHRASE_START = re.compile(
    r"\s+(?=(?:and|but|or|so|because|which|that|who|when|where|while|if|with|for|to|from|in|as|about|like)\s)",
    re.IGNORECASE)
_SPACE = re.compile(r"\s+")

FIRST_CLAUSE_MIN_CHARS = 16
"""A first sentence is spoken from its first comma, semicolon or colon once it has this many characters."""

FIRST_PHRASE_MIN_CHARS = 16
"""With no clause mark, a first sentence is spoken up to a phrase start ("... card game | that has ...")
once it has this many characters."""

FIRST_PIECE_MAX_CHARS = 48
"""With neither, the first piece ends at the last space before this many characters: the
first audio never waits for a long sentence ("The Queen of Clothes is a legendary | character...")."""


def speakable(buffer: str, *, first: bool) -> tuple[list[str], str]:
    """Split the text ready to speak off ``buffer``; returns ``(pieces, rest)``.

    Pieces end at a sentence end (or a line break). With ``first`` (nothing
    spoken yet), a clause boundary after at least
    :data:`FIRST_CLAUSE_MIN_CHARS` characters also ends a piece, and failing
    that, the space before a conjunction or relative word ("and", "that",
    "which", "from", ...) after :data:`FIRST_PHRASE_MIN_CHARS`, and failing
    that, the last space before :data:`FIRST_PIECE_MAX_CHARS`: the first audio
    then waits for a phrase, not a whole sentence (Piper takes about 4 ms per
    character on 2 cores). A first piece that ends the buffer with "!", "?" or a
    word's "." is ready at once, not when the next word shows it was an end (an LLM
    token later); a period after a number ("21.") waits. A period after an
    abbreviation (``"Mr."``, ``"e.g."``) ends no piece.
    """
    out: list[str] = []
    while True:
        m = next(_sentence_ends(buffer), None)
        if first and not out:
            c = _CLAUSE_END.search(buffer, FIRST_CLAUSE_MIN_CHARS)
            if c is None:
                c = _PHRASE_START.search(buffer, FIRST_PHRASE_MIN_CHARS)
            if c is None and len(buffer) >= FIRST_PIECE_MAX_CHARS:
                spaces = list(_SPACE.finditer(buffer, FIRST_PHRASE_MIN_CHARS, FIRST_PIECE_MAX_CHARS))
                c = spaces[-1] if spaces else None
            if c is None and m is None:  # "I'm sorry for your loss." now, not when the next word comes
                c = _ends_sentence(buffer)
            if c and (m is None or c.start() < m.start()):
                m = c
        if m is None:
            return out, buffer
        head, buffer = buffer[: m.start()].strip().lstrip(".").strip(), buffer[m.end():]
        if head:
            out.append(head)


def _abbreviation(buffer: str, dot: int) -> bool:
    """Whether the period at ``dot`` ends an abbreviation ("Mr.", "e.g.")."""
    word = _WORD_BEFORE.search(buffer, 0, dot)
    return buffer[dot] == "." and word is not None and word.group().replace(".", "").lower() in _ABBREVIATIONS


def _sentence_ends(buffer: str) -> Iterator[re.Match[str]]:
    for m in _SENTENCE_END.finditer(buffer):
        if m.start() == 0 or not _abbreviation(buffer, m.start() - 1):
            yield m


def _ends_sentence(buffer: str) -> re.Match[str] | None:
    """A sentence end at the very end of ``buffer`` (the match is empty, at the end), if it is one
    for sure: "!", "?", or "." after a word with a letter that is no abbreviation (not "21.", which
    may go on as "21.5", nor "Mr.")."""
    m = _ENDS_SENTENCE.search(buffer)
    if m is None or (m.group(1) is not None and m.group(1).lower() in _ABBREVIATIONS):
        return None
    return _EMPTY_AT_END.search(buffer)
