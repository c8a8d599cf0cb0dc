"""The widgets' Python side, fed custom messages with buffers as the browser sends them.

The JS side is tested in a real Chromium in ``tests/browser/``.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pytest
import traitlets
from conftest import sine

import voicekit
from voicekit.audio import Clip
from voicekit.errors import AudioFormatError, EmptyAudioError, MicrophoneError
from voicekit.widgets import AudioChunk, Player, Recorder, clip_from_ipywebrtc


def _feed(widget: Any, content: dict[str, Any], buffers: list[Any] | None = None) -> None:
    # What ipywidgets does with a "custom" comm message; buffers arrive as memoryviews.
    widget._handle_custom_msg(content, [memoryview(b) for b in buffers or []])


def _record(rec: Recorder, pcm: np.ndarray, order: list[int] | None = None, rate: int = 24_000,
            chunk: int = 2400) -> None:
    parts = [pcm[i:i + chunk] for i in range(0, pcm.size, chunk)]
    _feed(rec, {"type": "start", "sample_rate": rate, "t_ms": 0})
    for seq in order if order is not None else range(len(parts)):
        _feed(rec, {"type": "chunk", "seq": seq, "frames": parts[seq].size, "sample_rate": rate,
                    "t_ms": 0}, [parts[seq].astype("<i2").tobytes()])
    _feed(rec, {"type": "stop", "chunks": len(parts), "frames": pcm.size})


def test_recorder_defaults_and_traits_are_small() -> None:
    rec = Recorder()
    assert rec.sample_rate == voicekit.REALTIME_SAMPLE_RATE
    assert rec.recording is False and rec.clip is None and rec.error == "" and rec.clipped == 0
    synced = set(rec.keys)
    assert not {"clip", "stats", "_chunks"} & synced
    assert {"processing", "_constraints", "clipped"} <= synced


def test_recorder_asks_for_no_gain_control_by_default() -> None:
    rec = Recorder()
    # Automatic gain control drove a 0.3 source to full scale; echo cancellation stays on
    # so a reply from the speakers does not barge in on itself.
    assert rec.processing == "echo"
    assert rec.constraints == rec._constraints == {
        "echoCancellation": True, "noiseSuppression": False, "autoGainControl": False}
    assert Recorder(processing="off").constraints == dict.fromkeys(
        ["echoCancellation", "noiseSuppression", "autoGainControl"], False)
    assert Recorder(processing="browser")._constraints == dict.fromkeys(
        ["echoCancellation", "noiseSuppression", "autoGainControl"], True)
    # One constraint overrides the switch; the synced copy follows every change.
    rec = Recorder(processing="browser", auto_gain=False)
    assert rec._constraints["autoGainControl"] is False and rec._constraints["echoCancellation"]
    rec.processing = "off"
    rec.echo_cancellation = True
    assert rec._constraints == {"echoCancellation": True, "noiseSuppression": False,
                                "autoGainControl": False}
    rec.echo_cancellation = None
    assert rec._constraints["echoCancellation"] is False
    with pytest.raises(traitlets.TraitError):
        Recorder(processing="loud")


def test_recorder_counts_clipped_samples_and_resets_at_the_next_recording() -> None:
    rec = Recorder()
    quiet = (0.3 * 32767 * np.sin(np.linspace(0, 200, 24_000))).astype(np.int16)
    _record(rec, quiet)
    assert rec.clipped == 0 and rec.stats.clipped == 0
    assert rec.stats.peak_dbfs == pytest.approx(20 * np.log10(0.3), abs=0.01)
    loud = quiet.copy()
    # -0.1 dBFS is 32392.9 of 32768: 32393 and above clip, 32392 does not.
    loud[[100, 5000, 5001]] = [32393, -32768, 32767]
    loud[200] = 32392
    _record(rec, loud)
    assert rec.clipped == rec.stats.clipped == 3
    assert rec.stats.peak_dbfs == 0.0
    _record(rec, quiet)
    assert rec.clipped == 0


def test_recorder_warns_when_the_browser_applied_other_processing(
        caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    applied = {"autoGainControl": True, "echoCancellation": True, "noiseSuppression": False,
               "sampleRate": 48_000}
    with caplog.at_level(logging.WARNING, "voicekit.widgets"):
        _feed(rec, {"type": "start", "sample_rate": 24_000, "constraints": rec.constraints,
                    "settings": applied})
    assert rec.track_settings == applied
    assert "autoGainControl=False -> True" in caplog.text
    assert "echoCancellation" not in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, "voicekit.widgets"):
        _feed(rec, {"type": "start", "sample_rate": 24_000, "constraints": rec.constraints,
                    "settings": {**applied, "autoGainControl": False}})
    assert caplog.text == ""


def test_recorder_assembles_chunks_into_a_clip_and_calls_back() -> None:
    rec = Recorder()
    pcm = sine(300, 1.05, 24_000).to_int16().samples
    clips: list[Clip] = []
    chunks: list[AudioChunk] = []
    rec.on_clip(clips.append)
    rec.on_chunk(chunks.append)
    _record(rec, pcm)
    assert rec.clip is not None and clips == [rec.clip]
    assert rec.clip.sample_rate == 24_000 and rec.clip.samples.dtype == np.int16
    np.testing.assert_array_equal(rec.clip.samples, pcm)
    assert [c.seq for c in chunks] == list(range(11))
    assert chunks[0].clip.n_frames == 2400 and chunks[-1].clip.n_frames == 1200
    assert rec.stats.chunks == 11 and rec.stats.missing == 0 and rec.stats.out_of_order == 0
    assert len(rec.stats.latencies_ms) == 11


def test_recorder_counts_lost_and_reordered_chunks(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    pcm = np.arange(24_000, dtype=np.int16)
    with caplog.at_level(logging.WARNING, "voicekit.widgets"):
        _record(rec, pcm, order=[0, 2, 1, 3, 4, 5, 6, 7])  # 8 and 9 never arrive
    assert rec.stats.out_of_order == 1
    assert rec.stats.missing == 1 + 2  # 1 skipped (then late), 8 and 9 lost
    assert "never arrived" in caplog.text


def test_recorder_reports_browser_errors() -> None:
    rec = Recorder()
    seen: list[MicrophoneError] = []
    rec.on_error(seen.append)
    rec.check()  # nothing failed yet
    _feed(rec, {"type": "error", "kind": "permission_denied", "message": "Microphone permission was denied."})
    assert rec.error == "Microphone permission was denied."
    assert seen and seen[0].kind == "permission_denied"
    with pytest.raises(MicrophoneError, match="denied"):
        rec.check()
    _feed(rec, {"type": "start", "sample_rate": 24_000})
    assert rec.error == "" and rec.last_error is None


def test_recorder_rejects_odd_buffers_and_bad_rates(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    _feed(rec, {"type": "start", "sample_rate": 24_000})
    # ipywidgets logs what a message handler raises (there is no caller to raise to).
    with caplog.at_level(logging.WARNING):
        _feed(rec, {"type": "chunk", "seq": 0, "sample_rate": 24_000}, [b"\x00\x01\x02"])
    assert "AudioFormatError" in caplog.text and "even byte count, got 3" in caplog.text
    assert rec.stats.chunks == 0
    with pytest.raises(AudioFormatError, match="sample rate"):
        Recorder(sample_rate=100)


def test_a_failing_callback_is_logged_and_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    rec = Recorder()
    got: list[Clip] = []

    def broken(clip: Clip) -> None:
        raise RuntimeError("boom")

    rec.on_clip(broken)
    rec.on_clip(got.append)
    with caplog.at_level(logging.ERROR, "voicekit.widgets"):
        _record(rec, np.ones(4800, np.int16))
    assert len(got) == 1 and "boom" in caplog.text


class _Sent:
    """Collects what a widget sends to the browser."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[tuple[dict[str, Any], list[bytes]]] = []
        widget.send = lambda content, buffers=None: self.messages.append(
            (content, [bytes(b) for b in buffers or []]))


def test_player_never_autoplays_or_loops_by_default() -> None:
    p = Player()
    assert p.autoplay is False and p.loop is False and p.playing is False
    assert p.sample_rate == 24_000 and p.clip is None


def test_player_streams_pcm16_chunks_and_resends_on_need() -> None:
    p = Player(sample_rate=24_000)
    sent = _Sent(p)
    p.append(sine(440, 0.5, 16_000))  # resampled to 24 kHz
    p.append(np.zeros(2400, np.int16))
    p.append(b"\x01\x00" * 1200)
    assert [m[0]["seq"] for m in sent.messages] == [0, 1, 2]
    assert all(m[0]["type"] == "chunk" and m[0]["sample_rate"] == 24_000 for m in sent.messages)
    assert len(sent.messages[0][1][0]) == 2 * 12_000
    assert p.duration_ms == pytest.approx(500 + 100 + 50)
    assert p.clip is not None and p.clip.n_frames == 12_000 + 2400 + 1200
    sent.messages.clear()
    _feed(p, {"type": "need", "gen": p._gen, "seq": 1})
    assert [m[0]["seq"] for m in sent.messages] == [1, 2]
    sent.messages.clear()
    _feed(p, {"type": "need", "gen": -1, "seq": 0})  # a browser that just loaded
    assert [m[0]["type"] for m in sent.messages] == ["clear", "chunk", "chunk", "chunk"]


def test_player_clear_flushes_and_starts_a_new_generation() -> None:
    p = Player(sine(440, 1.0, 24_000))
    sent = _Sent(p)
    gen = p._gen
    p.clear()
    assert sent.messages == [({"type": "clear", "gen": gen + 1}, [])]
    assert p.clip is None and p.duration_ms == 0
    p.append(np.zeros(10, np.int16))
    assert sent.messages[-1][0] == {"type": "chunk", "gen": gen + 1, "seq": 0, "sample_rate": 24_000}


def test_player_a_new_turn_flushes_the_backlog_of_older_turns() -> None:
    """Issue 25, item 2: replies do not queue behind one another; the newest turn plays."""
    p = Player(sample_rate=24_000)
    sent = _Sent(p)
    p.append(np.zeros(24_000, np.int16), turn="resp_1")
    p.append(np.zeros(24_000, np.int16), turn="resp_1")  # the same reply: queued after
    assert p.duration_ms == pytest.approx(2000)
    gen = p._gen
    p.append(np.zeros(12_000, np.int16), turn="resp_2")
    assert [m[0]["type"] for m in sent.messages][-2:] == ["clear", "chunk"]
    assert p._gen == gen + 1 and p.duration_ms == pytest.approx(500)
    assert p.clip is not None and p.clip.n_frames == 12_000
    p.append(np.zeros(12_000, np.int16))  # no turn: queues as before
    assert p.duration_ms == pytest.approx(1000)


def test_player_is_flushed_when_the_learner_starts_recording() -> None:
    """Issue 25, item 2: a backlog left by Run All stops when the learner presses Record."""
    rec, p, other = Recorder(), Player(sample_rate=24_000), Recorder()
    p.clear_when_recording(rec)
    p.clear_when_recording(rec)  # a re-run cell: still one watcher
    p.append(np.zeros(24_000 * 40, np.int16))  # 40 s of replies queued by the cells' own checks
    sent = _Sent(p)
    rec.recording = True
    assert sent.messages == [({"type": "clear", "gen": p._gen}, [])] and p.duration_ms == 0
    rec.recording = False
    p.append(np.zeros(2400, np.int16))
    p.clear_when_recording(other)  # watching another recorder stops watching the first
    rec.recording = True
    assert p.duration_ms == pytest.approx(100)
    other.recording = True
    assert p.duration_ms == 0


def test_player_splits_long_clips_and_takes_the_clip_rate() -> None:
    p = Player(sine(440, 3.0, 16_000))
    assert p.sample_rate == 16_000 and len(p._chunks) == 1
    p = Player(sine(440, 3.0, 48_000))
    assert [c.size for c in p._chunks] == [48_000] * 3


def test_player_rejects_what_is_not_pcm16() -> None:
    p = Player()
    with pytest.raises(AudioFormatError, match="int16"):
        p.append(np.zeros(10, np.float64))  # type: ignore[arg-type]
    with pytest.raises(AudioFormatError, match="multiple of 2 bytes"):
        p.append(b"\x00\x00\x00")


def test_clip_from_ipywebrtc_decodes_webm_opus() -> None:
    from ipywebrtc import AudioRecorder

    original = voicekit.load_sample("ls_0880.wav")
    rec = AudioRecorder()
    with pytest.raises(EmptyAudioError, match="record"):
        clip_from_ipywebrtc(rec)
    rec.audio.value = original.encode("webm")  # what Chromium's MediaRecorder makes
    clip = clip_from_ipywebrtc(rec, sample_rate=16_000)
    assert clip.sample_rate == 16_000 and clip.n_channels == 1
    assert abs(clip.duration - original.duration) < 0.1
    with pytest.raises(TypeError, match="AudioRecorder"):
        clip_from_ipywebrtc(42)


def test_scope_draws_one_column_per_10_ms_and_keeps_the_window() -> None:
    from voicekit.widgets import Scope

    scope = Scope(window_s=1.0)
    sent = _Sent(scope)
    scope.push(sine(1000, 0.255, 24_000))  # 25 full columns, 5 ms left over
    assert scope.n_columns == 25
    content, (waves, specs) = sent.messages[-1]
    assert content == {"type": "cols", "n": 25, "bins": 128, "start": 0}
    w = np.frombuffer(waves, "<f4").reshape(25, 2)
    assert np.all(w[:, 0] < -0.4) and np.all(w[:, 1] > 0.4)  # a 0.5-amplitude sine
    s = np.frombuffer(specs, np.uint8).reshape(25, 128)
    # 1 kHz at 24 kHz over 128 rows of 93.75 Hz: the loudest row is row 10 or 11.
    assert set(s[5:].argmax(axis=1)) <= {10, 11}
    scope.push(np.zeros(24_000 * 2, np.int16))
    assert scope.n_columns == 100  # 1 s window of 10 ms columns
    assert sent.messages[-1][0]["start"] == 25  # column 25 begins at 0.25 s: the time axis
    sent.messages.clear()
    _feed(scope, {"type": "need"})  # a browser that just loaded gets everything held
    assert sent.messages[0][0] == {"type": "reset"} and sent.messages[1][0]["n"] == 100
    # The 100 columns held are the last second of 2.25 s: the time axis starts at 1.25 s.
    assert sent.messages[1][0]["start"] == 125
    assert scope.db_floor == -100.0 and "db_floor" in scope.keys


def test_scope_shows_a_whole_clip_and_follows_a_recorder() -> None:
    from voicekit.widgets import Scope

    scope = Scope()
    scope.show(sine(440, 8.0, 16_000))
    assert scope.window_s == 8.0 and scope.n_columns == 800
    rec = Recorder()
    scope.follow(rec)
    _record(rec, np.ones(4800, np.int16))
    assert scope.n_columns == 20  # cleared at chunk 0, then 200 ms
    with pytest.raises(AudioFormatError, match="int16"):
        scope.push(np.zeros(3, np.float32))  # type: ignore[arg-type]


def test_the_recorder_and_the_call_widget_share_one_hub_check() -> None:
    """hub.js is in front of both modules, and neither defines the hub check again (a
    duplicate in one would drift from the other)."""
    from voicekit.widgets import Recorder
    from voicekit.widgets.call import CallWidget

    for widget in (Recorder, CallWidget):
        source = widget._esm
        assert source.count("function onJupyterHub(") == 1, widget.__name__
        assert "hubInsecureContext(" in source.split("function hubInsecureContext(")[1], widget.__name__
