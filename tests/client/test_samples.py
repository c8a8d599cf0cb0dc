"""Tests for voicekit.samples: the recordings shipped inside the package."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from voicekit import samples
from voicekit.audio import Clip
from voicekit.samples import DATA_DIR, load_sample, sample_names, sample_path, sample_transcripts

SHIPPED = [
    "cards_001.wav",
    "cards_005.wav",
    "goforward_16k_s16le.raw",
    "ls_0870.wav",
    "ls_0880.wav",
    "ls_0890.wav",
]


def test_public_surface_is_pinned() -> None:
    assert sorted(samples.__all__) == [
        "DATA_DIR",
        "load_sample",
        "sample_names",
        "sample_path",
        "sample_transcripts",
    ]


def test_sample_names_lists_the_shipped_recordings_sorted() -> None:
    assert sample_names() == SHIPPED


@pytest.mark.parametrize("name", SHIPPED)
def test_every_sample_loads_as_16k_mono_int16(name: str) -> None:
    clip = load_sample(name)
    assert isinstance(clip, Clip)
    assert clip.sample_rate == 16_000
    assert clip.n_channels == 1
    assert clip.samples.dtype == np.int16
    assert 0.5 < clip.duration < 10.0
    # Real speech, not silence: a clear peak.
    assert int(np.abs(clip.samples.astype(np.int32)).max()) > 1_000


def test_raw_sample_frame_count_matches_its_bytes() -> None:
    clip = load_sample("goforward_16k_s16le.raw")
    size = (DATA_DIR / "goforward_16k_s16le.raw").stat().st_size
    assert clip.n_frames == size // 2 == 44_580


def test_default_sample() -> None:
    clip = load_sample()
    assert clip.n_frames == 47_840  # ls_0880.wav: 2.99 s at 16 kHz
    assert clip.duration == pytest.approx(2.99)


def test_transcripts_cover_every_sample() -> None:
    transcripts = sample_transcripts()
    assert sorted(transcripts) == sample_names()
    assert transcripts["goforward_16k_s16le.raw"] == "go forward ten meters"
    assert transcripts["ls_0880.wav"] == "he was not an ill disposed young man"
    for name, text in transcripts.items():
        assert text and text == text.lower().strip(), name
        assert all(ch.isalpha() or ch == " " for ch in text), name


def test_shipped_files_are_the_shared_recordings(shared_audio: Path) -> None:
    with open(shared_audio / "transcripts.tsv", newline="", encoding="utf-8") as f:
        shared = {row["file"]: row["reference_text"] for row in csv.DictReader(f, delimiter="\t")}
    for name, text in sample_transcripts().items():
        assert shared[name] == text, name
        assert sample_path(name).read_bytes() == (shared_audio / name).read_bytes(), name


def test_sample_path() -> None:
    assert sample_path("ls_0870.wav") == DATA_DIR / "ls_0870.wav"
    assert sample_path("ls_0870.wav").is_file()


@pytest.mark.parametrize(
    "name", ["nope.wav", "transcripts.tsv", "PROVENANCE.md", "../audio.py", "ls_0870"]
)
def test_unknown_name_raises_and_lists_names(name: str) -> None:
    with pytest.raises(FileNotFoundError) as info:
        sample_path(name)
    message = str(info.value)
    assert repr(name) in message
    for shipped in SHIPPED:
        assert shipped in message


def test_load_sample_unknown_name_raises() -> None:
    with pytest.raises(FileNotFoundError, match="ls_0880.wav"):
        load_sample("cards_002.wav")  # in ../shared/audio but not shipped
