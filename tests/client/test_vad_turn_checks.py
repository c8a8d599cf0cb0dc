"""voicekit.vad with an end-of-turn model: where checks fall, what audio they carry, and that
the kept audio stays bounded (issue 26: a real turn model, no memory creep)."""

from __future__ import annotations

import numpy as np

from voicekit.audio import Clip
from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.samples import load_sample
from voicekit.vad import TURN_AUDIO_S, TURN_PREFIX_MS, VAD_SAMPLE_RATE, TurnDetector, VadSettings

SETTINGS = VadSettings(silence_duration_ms=1200, turn_threshold=0.5, turn_check_ms=256)
LIMIT = (TURN_AUDIO_S * 1000 + TURN_PREFIX_MS + 1000) * VAD_SAMPLE_RATE // 1000
"""What a detector may keep: 8 s, the prefix, and one fed chunk (1 s here)."""


def _speech() -> np.ndarray:
    clip: Clip = load_sample("ls_0870.wav")
    return clip.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16().samples.reshape(-1)


def test_checks_wait_for_decide_and_carry_at_most_8_s() -> None:
    pcm = _speech()
    audio = np.concatenate([pcm, pcm, pcm, np.zeros(2 * REALTIME_SAMPLE_RATE, np.int16)])  # about 22 s of talk
    detector = TurnDetector(SETTINGS)
    checks, stops, kept = [], [], []
    step = REALTIME_SAMPLE_RATE  # 1 s appends
    for k in range(0, audio.size, step):
        events = detector.feed(audio[k:k + step])
        while detector.check is not None:
            check = detector.check
            assert check.audio.dtype == np.float32 and 0 < check.audio.size <= TURN_AUDIO_S * VAD_SAMPLE_RATE
            assert check.ms - check.pause_ms >= SETTINGS.turn_check_ms
            checks.append(check.ms)
            events += detector.decide(0.0)  # "not finished": the pause runs on
        stops += [e.ms for e in events if e.kind == "speech_stopped"]
        kept.append(detector.stream.history.size)
    assert checks, "no pause reached the check"
    assert len(stops) == 1 and stops[0] - max(checks) >= 0  # only the final silence ended the turn
    assert max(kept) <= LIMIT, f"kept {max(kept)} samples, limit {LIMIT}"


def test_a_finished_verdict_ends_the_turn_at_the_check() -> None:
    pcm = _speech()
    audio = np.concatenate([pcm, np.zeros(2 * REALTIME_SAMPLE_RATE, np.int16)])
    detector = TurnDetector(SETTINGS)
    events = detector.feed(audio)
    stops = []
    while detector.check is not None:
        at = detector.check.ms
        events = detector.decide(1.0)
        stops += [(e.ms, at) for e in events if e.kind == "speech_stopped"]
        events = [e for e in events if e.kind != "speech_stopped"]
    assert stops and all(ms == at for ms, at in stops)
