"""Real recordings shipped inside the package, for notebooks and tests.

Each notebook falls back to these when the learner recorded nothing, so a
notebook runs top to bottom with no microphone. Provenance and licences are in
``voicekit/data/PROVENANCE.md``; reference transcripts in ``transcripts.tsv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .audio import Clip

__all__ = ["DATA_DIR", "load_sample", "sample_names", "sample_path", "sample_transcripts"]

DATA_DIR = Path(__file__).parent / "data"
"""Folder holding the shipped recordings."""

_RAW_RATES = {"goforward_16k_s16le.raw": 16_000}


def sample_names() -> list[str]:
    """File names of the shipped recordings, sorted."""
    return sorted(p.name for p in DATA_DIR.iterdir() if p.suffix in (".wav", ".raw"))


def sample_path(name: str) -> Path:
    """Path of a shipped recording.

    Raises
    ------
    FileNotFoundError
        If ``name`` is not one of :func:`sample_names`; the message lists them.
    """
    path = DATA_DIR / name
    if not path.is_file() or name not in sample_names():
        raise FileNotFoundError(f"expected one of {sample_names()}, got {name!r}")
    return path


def load_sample(name: str = "ls_0880.wav") -> Clip:
    """Load a shipped recording as a :class:`~voicekit.audio.Clip` (16 kHz mono int16)."""
    return Clip.from_file(sample_path(name), sample_rate=_RAW_RATES.get(name))


def sample_transcripts() -> dict[str, str]:
    """Reference transcripts by file name: lower case, no punctuation."""
    with open(DATA_DIR / "transcripts.tsv", newline="", encoding="utf-8") as f:
        return {row["file"]: row["reference_text"] for row in csv.DictReader(f, delimiter="\t")}
