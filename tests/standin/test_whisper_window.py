"""Whisper's encoder runs on a window the clip's length, not 30 s (voicekit.standin.engines.window).

Frames are counted through the wrapper (what the encoder was given), never timed.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from voicekit.audio import Clip
from voicekit.metrics import normalize_text
from voicekit.standin.engines.window import (
    FULL_FRAMES,
    ShortWindowWhisper,
    floor_from_env,
    looks_like_loop,
    window_frames,
)


def test_the_window_keeps_a_margin_and_a_floor_and_30_s_for_long_or_switched_off() -> None:
    assert window_frames(531, margin_s=2.0, floor_s=10.0) == 1000
    assert window_frames(1500, margin_s=2.0, floor_s=10.0) == 1700
    assert window_frames(1501, margin_s=1.0, floor_s=0.0) == 1602  # even: the encoder's stride-2 convolution
    assert window_frames(2100, margin_s=2.0, floor_s=10.0) == FULL_FRAMES  # over 20 s of speech
    assert window_frames(531, margin_s=2.0, floor_s=30.0) == FULL_FRAMES


def test_the_environment_variable_sets_the_floor_and_30_switches_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICEKIT_WHISPER_WINDOW", "30")
    assert window_frames(531, floor_s=floor_from_env()) == FULL_FRAMES
    monkeypatch.setenv("VOICEKIT_WHISPER_WINDOW", "zero")
    with pytest.raises(ValueError):
        floor_from_env()


def test_a_loop_is_a_high_compression_ratio_or_too_many_tokens_for_the_window() -> None:
    assert looks_like_loop(" the cat sat on the mat" * 8, 48, 1000)
    assert looks_like_loop(" a b c d e f g h i j k l m n o p q r s t u v w x y z", 91, 1000)
    assert not looks_like_loop(" Unless to be rather cold-hearted and rather selfish is to be ill-disposed.", 18, 1000)


class _FakeCT2:
    """A CTranslate2 Whisper stand-in: on a short encoding the decoder loops, on 30 s it does not."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.aligned: list[int] = []
        self.max_lengths: list[Any] = []

    def encode(self, features: Any, to_cpu: bool = False) -> Any:
        n = int(np.asarray(features).shape[-1])
        self.frames.append(n)
        return SimpleNamespace(frames=n)

    def generate(self, encoder_output: Any, prompts: Any, **kwargs: Any) -> Any:
        self.max_lengths.append(kwargs.get("max_length"))
        ids = [7, 8, 9] if encoder_output.frames == FULL_FRAMES else [7, 8] * 60
        return [SimpleNamespace(sequences_ids=[ids + [100]])]  # 100: end of text

    def align(self, encoder_output: Any, *args: Any) -> Any:
        self.aligned.append(encoder_output.frames)
        return []


def _features(seconds: float) -> Any:
    import ctranslate2

    x = np.zeros((1, 80, FULL_FRAMES), np.float32)
    x[0, :, : int(seconds * 100)] = 0.5
    return ctranslate2.StorageView.from_array(x)


def _stepped(model: ShortWindowWhisper, short: bool, call: Any) -> Any:
    """``call()`` as one step of a run whose windows may (``short``) be short."""
    return next(model.stepped(short, (call() for _ in range(1))))


def test_a_pass_that_loops_on_the_short_window_is_run_again_on_30_s() -> None:
    fake = _FakeCT2()
    words = {7: " go", 8: " forward", 9: " ten"}
    model = ShortWindowWhisper(fake, lambda ids: "".join(words[i] for i in ids), 100, floor_s=10.0, margin_s=2.0)
    short = _stepped(model, True, lambda: model.encode(_features(3.0)))
    result = model.generate(short, [[1]], beam_size=1, max_length=448)
    assert result[0].sequences_ids[0] == [7, 8, 9, 100]  # the 30 s pass's answer
    assert fake.frames == [1000, FULL_FRAMES] and list(model.encoded) == [1000, FULL_FRAMES] and model.loops == 1
    assert fake.max_lengths == [1 + 80 + 20, 448]  # the short pass stops at 8 tokens/s of window; the 30 s one does not
    model.generate(short, [[1]], sampling_temperature=0.2)  # the temperature fallback keeps the 30 s encoding
    model.align(short, [1], [[7]], 300)
    assert fake.frames == [1000, FULL_FRAMES] and fake.aligned == [FULL_FRAMES]


def test_a_pass_that_does_not_loop_keeps_the_short_window() -> None:
    fake = _FakeCT2()
    model = ShortWindowWhisper(fake, lambda ids: " go forward ten", 100, floor_s=10.0, margin_s=2.0)
    fake.generate = lambda out, prompts, **kw: [SimpleNamespace(sequences_ids=[[7, 8, 9, 100]])]  # type: ignore[method-assign]
    model.generate(_stepped(model, True, lambda: model.encode(_features(3.0))), [[1]])
    assert fake.frames == [1000] and model.loops == 0


@pytest.mark.parametrize("short_pass", [
    SimpleNamespace(sequences_ids=[[100]], no_speech_prob=0.1),  # no words (cards_004 at beam 1 wrote "")
    SimpleNamespace(sequences_ids=[[7, 100]], no_speech_prob=0.9),  # faster-whisper would drop it as silence
], ids=["no-words", "no-speech"])
def test_a_pass_with_no_words_on_the_short_window_is_run_again_on_30_s(short_pass: Any) -> None:
    fake = _FakeCT2()
    model = ShortWindowWhisper(fake, lambda ids: " five" * len([i for i in ids if i < 100]), 100, floor_s=10.0,
                               margin_s=2.0)
    full = SimpleNamespace(sequences_ids=[[7, 7, 100]], no_speech_prob=0.01)
    fake.generate = lambda out, prompts, **kw: [full if out.frames == FULL_FRAMES else short_pass]  # type: ignore[method-assign]
    result = model.generate(_stepped(model, True, lambda: model.encode(_features(1.0))), [[1]])
    assert result == [full] and fake.frames == [1000, FULL_FRAMES] and model.loops == 1


def test_a_run_whose_segment_times_are_read_keeps_30_s() -> None:
    fake = _FakeCT2()
    model = ShortWindowWhisper(fake, lambda ids: "", 100, floor_s=10.0, margin_s=2.0)
    _stepped(model, False, lambda: model.encode(_features(3.0)))
    model.encode(_features(3.0))  # outside a run's steps
    assert fake.frames == [FULL_FRAMES, FULL_FRAMES]


@pytest.fixture(scope="module")
def engine() -> Any:
    from voicekit.standin.engines.bundle import WhisperEngine

    engine = WhisperEngine()
    engine.window.floor_s = 15.0  # the default (VOICEKIT_WHISPER_WINDOW unset or 15)
    return engine


def test_a_transcription_through_the_sdk_encodes_fewer_frames_and_writes_the_30_s_text(
    standin_server: Any, client: Any, shared_audio: Path,
) -> None:
    window = standin_server.app.state.engines.stt.window
    upload = Clip.from_file(shared_audio / "ls_0890.wav").to_file_tuple("ls_0890.wav")
    floor = window.floor_s
    try:
        window.floor_s = 15.0  # the default (a test run may set VOICEKIT_WHISPER_WINDOW)
        window.encoded.clear()
        short = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="json").text
        short_frames = list(window.encoded)
        window.encoded.clear()
        verbose = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="verbose_json")
        verbose_frames = list(window.encoded)
        window.floor_s = 30.0  # faster-whisper's own 30 s
        window.encoded.clear()
        full = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="json").text
        full_frames = list(window.encoded)
    finally:
        window.floor_s = floor
    assert short_frames and all(n < FULL_FRAMES for n in short_frames)
    assert full_frames and all(n == FULL_FRAMES for n in full_frames)
    assert normalize_text(short) == normalize_text(full) and "selfish" in short  # punctuation may differ
    assert verbose.segments and verbose_frames == [FULL_FRAMES]  # segment times: faster-whisper's 30 s


def test_a_clip_longer_than_the_window_limit_keeps_30_s_windows(engine: Any, shared_audio: Path) -> None:
    clip = Clip.from_file(shared_audio / "ls_0870.wav")
    long = Clip(np.concatenate([clip.samples] * 3), clip.sample_rate)  # 21.3 s, over MAX_CLIP_S
    engine.window.encoded.clear()
    result = engine.transcribe(long, beam_size=1)
    # every repetition heard, the last one too: 7 of the 9 rare words the three hold (one may come
    # out otherwise: a fresh clone's run once wrote "John-Would" for the first "John Dashwood")
    text = result.text.lower()
    assert sum(text.count(w) for w in ("dashwood", "leisure", "prudently")) >= 7, text
    # the window from 0 s holds 21.3 s of speech: 30 s (a later window, from where its last segment
    # ended, holds only the rest and may be short)
    assert engine.window.encoded[0] == FULL_FRAMES
