"""Where a streamed reply can be cut into pieces for text-to-speech (the stand-in's Realtime
replies and the cascaded agent alike): sentences, and for the first
piece a clause or phrase, so the first audio does not wait for a whole sentence."""

from __future__ import annotations

import re

__all__ = ["FIRST_CLAUSE_MIN_CHARS", "FIRST_PHRASE_MIN_CHARS", "FIRST_PIECE_MAX_CHARS", "speakable"]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
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
    character on 2 cores).
    """
    out: list[str] = []
    while True:
        m = _SENTENCE_END.search(buffer)
        if first and not out:
            c = _CLAUSE_END.search(buffer, FIRST_CLAUSE_MIN_CHARS)
            if c is None:
                c = _PHRASE_START.search(buffer, FIRST_PHRASE_MIN_CHARS)
            if c is None and len(buffer) >= FIRST_PIECE_MAX_CHARS:
                spaces = list(_SPACE.finditer(buffer, FIRST_PHRASE_MIN_CHARS, FIRST_PIECE_MAX_CHARS))
                c = spaces[-1] if spaces else None
            if c and (m is None or c.start() < m.start()):
                m = c
        if m is None:
            return out, buffer
        head, buffer = buffer[: m.start()].strip(), buffer[m.end():]
        if head:
            out.append(head)
