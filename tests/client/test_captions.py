"""Live captions (:class:`voicekit.realtime.Captions`) against the real stand-in.

A Realtime transcription session (``?intent=transcription``, ``session.type:
"transcription"``) through the SDK's own ``client.realtime.connect``; input is the
recordings shipped with voicekit, so nothing is skipped.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from openai import OpenAI

from voicekit import load_sample, sample_transcripts
from voicekit.errors import ClosedError
from voicekit.metrics import wer
from voicekit.realtime import Captions, Segment
from voicekit.realtime.captions import LOGPROBS_INCLUDE
from voicekit.realtime.segments import COMPLETED, DELTA
from voicekit.widgets import Recorder, Transcript


@pytest.fixture
def captions(client: OpenAI) -> Iterator[Captions]:
    cap = Captions(client, transcript=Transcript(), language="en")
    yield cap
    cap.close()


def _server_types(cap: Captions, since: int = 0) -> list[str]:
    return [e.type for e in cap.events[since:] if e.source == "server"]


def test_a_vad_segment_streams_deltas_then_completes(captions: Captions) -> None:
    session = captions.start()
    assert session["type"] == "transcription" and session["object"] == "realtime.transcription_session"
    transcription = session["audio"]["input"]["transcription"]
    assert transcription["model"] == "gpt-4o-mini-transcribe" and transcription["language"] == "en"
    assert captions.turn_detection is not None and captions.turn_detection["type"] == "server_vad"
    reference = sample_transcripts()["ls_0880.wav"]
    segment = captions.transcribe(load_sample("ls_0880.wav"))
    kinds = _server_types(captions)
    assert kinds.index("input_audio_buffer.committed") < kinds.index(DELTA) < kinds.index(COMPLETED), kinds
    assert segment.done and segment.index == 0 and segment.deltas
    assert segment.committed_s is not None and segment.first_delta_s is not None and segment.completed_s is not None
    assert segment.committed_s <= segment.first_delta_s <= segment.completed_s
    assert "".join(segment.deltas).strip() == segment.text.strip()
    assert wer(reference, segment.text) <= 0.25, segment.text
    assert segment.logprobs is None and segment.usage and segment.usage["total_tokens"] > 0
    assert captions.text == segment.text.strip()
    # the Transcript shows it as the user's line of this session's conversation
    assert captions.transcript is not None
    assert captions.transcript.lines == [{"conversation": session["id"], "turn": 0, "role": "user",
                                          "text": segment.text.strip()}]
    assert not any(k.startswith("response.") for k in kinds)


def test_the_transcript_shows_partial_text_while_deltas_arrive(client: OpenAI) -> None:
    shown: list[str] = []

    class Spy(Transcript):
        def show(self, turn: int, role: str, text: str, conversation: str = "") -> None:
            shown.append(text)
            super().show(turn, role, text, conversation)

    with Captions(client, transcript=Spy(), turn_detection=None) as cap:
        cap.start()
        segment = cap.transcribe(load_sample("ls_0870.wav"))
    n = len(segment.deltas)
    assert n >= 2, segment.deltas  # the stand-in streams one delta per word or phrase
    assert len(shown) == n + 1 and shown[-1] == segment.text.strip()
    assert [len(t) for t in shown[:n]] == sorted(len(t) for t in shown[:n])  # growing text


def test_manual_segments_with_logprobs(client: OpenAI) -> None:
    reference = sample_transcripts()["cards_005.wav"]
    with Captions(client, "gpt-4o-transcribe", turn_detection=None, logprobs=True) as cap:
        session = cap.start()
        assert session["audio"]["input"]["turn_detection"] is None
        assert session["include"] == [LOGPROBS_INCLUDE]
        segment = cap.transcribe(load_sample("cards_005.wav"))
        sent = [e.type for e in cap.events if e.source == "client"]
    assert sent[-1] == "input_audio_buffer.commit"
    assert wer(reference, segment.text) <= 0.34, segment.text
    assert segment.logprobs and all(lp["logprob"] <= 0.0 for lp in segment.logprobs)
    assert "".join(lp["token"] for lp in segment.logprobs).split() == segment.text.split()


def test_a_recorder_streams_into_two_segments_in_commit_order(client: OpenAI) -> None:
    names = ["cards_001.wav", "ls_0890.wav"]
    gap = np.zeros(24_000, np.int16)  # 1 s of silence between the two: two segments
    pcm = np.concatenate([load_sample(n).to_mono().resample(24_000).to_int16().samples for n in names[:1]]
                         + [gap] + [load_sample(names[1]).to_mono().resample(24_000).to_int16().samples, gap])
    done: list[Segment] = []

    def keep(segment: Segment) -> None:
        done.append(segment)

    rec = Recorder()
    with Captions(client) as cap:
        cap.start()
        cap.attach(rec)
        cap.attach(rec)  # a re-run cell: still one attachment
        cap.on_segment(keep)
        cap.on_segment(keep)  # ... and one callback
        assert len(rec._on_chunk) == 1
        mark = cap.mark()
        rec._handle_custom_msg({"type": "start", "sample_rate": 24_000, "t_ms": 0}, [])
        for seq, i in enumerate(range(0, pcm.size, 2400)):
            rec._handle_custom_msg({"type": "chunk", "seq": seq, "sample_rate": 24_000, "t_ms": 0},
                                   [memoryview(pcm[i:i + 2400].astype("<i2").tobytes())])
        first = cap.wait_segment(since=mark, timeout=120)
        second = cap.wait_segment(since=cap.events.index(
            next(e for e in cap.events if e.type == COMPLETED)) + 1, timeout=120)
        appends = sum(e.type == "input_audio_buffer.append" for e in cap.events[mark:])
        cap.detach()
        assert len(rec._on_chunk) == 0
    assert appends == math.ceil(pcm.size / 2400)
    assert [s.index for s in (first, second)] == [0, 1] and done == [first, second]
    refs = sample_transcripts()
    assert wer(refs[names[0]], first.text) <= 0.34 and wer(refs[names[1]], second.text) <= 0.25, (first, second)


def test_paced_clip_takes_about_its_duration(client: OpenAI) -> None:
    clip = load_sample("cards_001.wav")
    with Captions(client, turn_detection=None) as cap:
        cap.start()
        sent = cap.send_clip(clip, realtime=True)
        sent.result(timeout=30)
        appends = [e for e in cap.events if e.type == "input_audio_buffer.append"]
    spread = appends[-1].t - appends[0].t
    assert spread >= 0.8 * (clip.duration - 0.1), (spread, clip.duration)


def test_start_is_idempotent_and_a_closed_captions_says_so(client: OpenAI) -> None:
    cap = Captions(client)
    first = cap.start()
    again = cap.start()
    assert again["id"] == first["id"] and _server_types(cap).count("session.created") == 1
    cap.close()
    cap.close()  # idempotent
    assert cap.closed and not cap.connected
    for call in (cap.start, lambda: cap.send_clip(load_sample("cards_001.wav")), cap.commit,
                 lambda: cap.attach(Recorder()), lambda: cap.wait_segment(timeout=1)):
        with pytest.raises(ClosedError, match="Captions was closed"):
            call()
    assert cap.events  # still readable


def test_an_unknown_model_is_refused_at_start(client: OpenAI) -> None:
    from voicekit.errors import RealtimeError

    with Captions(client, "no-such-transcribe") as cap, pytest.raises(RealtimeError, match="model"):
        cap.start()


def test_segment_book_keeps_commit_order_failures_and_delta_logprobs() -> None:
    from voicekit.realtime.segments import FAILED, SegmentBook

    view = Transcript()
    book = SegmentBook(view)
    book.conversation = "sess_1"
    assert book.handle({"type": "input_audio_buffer.committed", "item_id": "a"}, 1.0) is None
    assert book.handle({"type": "input_audio_buffer.committed", "item_id": "b"}, 2.0) is None
    lp = {"token": "Hi", "logprob": -0.1, "bytes": [72, 105]}
    book.handle({"type": DELTA, "item_id": "b", "delta": "Hi", "logprobs": [lp]}, 2.5)
    assert view.lines == [{"conversation": "sess_1", "turn": 1, "role": "user", "text": "Hi"}]
    failed = book.handle({"type": FAILED, "item_id": "a", "error": {"message": "no speech"}}, 3.0)
    done = book.handle({"type": COMPLETED, "item_id": "b", "transcript": "Hi."}, 3.5)
    assert failed is not None and failed.index == 0 and failed.done and failed.error == {"message": "no speech"}
    assert done is not None and done.text == "Hi." and done.logprobs == [lp]  # kept from the deltas
    assert done.committed_s == 2.0 and done.first_delta_s == 2.5 and done.completed_s == 3.5
    assert [s.item_id for s in book.segments] == ["a", "b"]
    assert book.handle({"type": "session.updated"}, 4.0) is None


def test_speech_cut_off_by_stop_is_captioned_at_stop_not_in_the_next_recording(client: OpenAI) -> None:
    """Issue 25, item 5: Stop in the middle of a sentence left it in the server's input
    buffer, and it surfaced as a stale line inside the next recording. On Stop the session
    sends the silence the VAD needs, so the fragment ends its segment at once."""
    pcm = load_sample("ls_0890.wav").to_mono().resample(24_000).to_int16().samples[:24_000 * 3]  # cut mid-sentence
    rec = Recorder()
    with Captions(client, language="en") as cap:
        cap.start()
        cap.attach(rec)
        mark = cap.mark()
        rec._handle_custom_msg({"type": "start", "sample_rate": 24_000, "t_ms": 0}, [])
        chunks = range(0, pcm.size, 2400)
        for seq, i in enumerate(chunks):
            rec._handle_custom_msg({"type": "chunk", "seq": seq, "sample_rate": 24_000, "t_ms": 0},
                                   [memoryview(pcm[i:i + 2400].astype("<i2").tobytes())])
        with pytest.raises(TimeoutError):  # no pause yet: the segment is still open
            cap.wait_for("input_audio_buffer.speech_stopped", since=mark, timeout=3)
        rec._handle_custom_msg({"type": "stop", "chunks": len(chunks)}, [])
        segment = cap.wait_segment(since=mark, timeout=60)
    assert segment.done and segment.text.strip(), segment
    assert {"unless", "rather", "cold"} & set(segment.text.lower().replace(",", " ").split()), segment.text
