"""The stand-in's Speech endpoint, driven only through the SDK."""

from __future__ import annotations

import base64
import json

import openai
import pytest

from voicekit.audio import Clip
from voicekit.metrics import wer
from voicekit.standin.engines.synthesis import OPENAI_VOICES, VOICE_VARIANTS

TEXT = "The quick brown fox jumps over the lazy dog."


def _speak(client, **kwargs):
    args = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": TEXT, **kwargs}
    return client.audio.speech.create(**args).content


def _decode(data: bytes, fmt: str) -> Clip:
    return Clip.from_bytes(data, sample_rate=24_000 if fmt == "pcm" else None)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav", "pcm"])
def test_every_format_decodes_and_transcribes_back(client, fmt):
    clip = _decode(_speak(client, response_format=fmt), fmt)
    assert clip.sample_rate in (24_000, 48_000)
    assert 1.5 < clip.duration < 5
    text = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=clip.to_file_tuple()).text
    assert wer(TEXT, text) <= 0.2, text


def test_pcm_is_raw_24khz_mono_s16le(client):
    data = _speak(client, response_format="pcm")
    assert len(data) % 2 == 0 and not data.startswith(b"RIFF")
    wav = Clip.from_bytes(_speak(client, response_format="wav"))
    assert wav.sample_rate == 24_000 and wav.n_channels == 1
    assert abs(len(data) // 2 - wav.n_frames) < 24_000 * 0.5  # same speech, same rate


def test_default_format_is_mp3(client):
    data = _speak(client)
    assert data[:3] == b"ID3" or data[0] == 0xFF


def test_speed_changes_duration(client):
    normal = _decode(_speak(client, response_format="pcm"), "pcm").duration
    fast = _decode(_speak(client, response_format="pcm", speed=2.0), "pcm").duration
    slow = _decode(_speak(client, response_format="pcm", speed=0.5), "pcm").duration
    assert fast == pytest.approx(normal / 2, rel=0.12) and slow == pytest.approx(normal * 2, rel=0.12)


def test_every_openai_voice_is_accepted_and_mapped(client):
    assert set(OPENAI_VOICES) <= set(VOICE_VARIANTS)
    alloy = _speak(client, response_format="pcm", voice="alloy", input="Hello.")
    shimmer = _speak(client, response_format="pcm", voice="shimmer", input="Hello.")
    assert alloy != shimmer


def test_instructions_are_accepted(client):
    assert _speak(client, response_format="wav", instructions="Speak like a pirate.")


def test_streaming_pcm_arrives_in_several_chunks(client):
    text = "First sentence here. Then a second one. And a third sentence to finish."
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=text, response_format="pcm"
    ) as response:
        chunks = list(response.iter_bytes())
    assert len(chunks) >= 3
    clip = Clip.from_pcm16(b"".join(chunks), 24_000)
    assert wer(text, client.audio.transcriptions.create(model="whisper-1", file=clip.to_file_tuple()).text) <= 0.2


def test_sse_stream_format(client):
    raw = _speak(client, response_format="pcm", stream_format="sse", input="Hello there. Goodbye now.")
    events = [json.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: ")]
    assert [e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1)
    assert events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["input_tokens"] > 0
    pcm = b"".join(base64.b64decode(e["audio"]) for e in events[:-1])
    assert 1.0 < Clip.from_pcm16(pcm, 24_000).duration < 4


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": "x" * 4097}, "input"),
        ({"voice": "robot"}, "voice"),
        ({"speed": 5.0}, "speed"),
        ({"response_format": "ogg"}, "response_format"),
        ({"model": "tts-1", "stream_format": "sse"}, "stream_format"),
    ],
)
def test_bad_requests_are_400(client, kwargs, param):
    with pytest.raises(openai.BadRequestError) as info:
        _speak(client, **kwargs)
    assert info.value.param == param


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as info:
        _speak(client, model="tts-9")
    assert info.value.code == "model_not_found"


def test_malformed_json_is_400_and_server_stays_up(standin_server, client):
    import httpx2

    r = httpx2.post(f"{standin_server.base_url}/audio/speech", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx2.post(f"{standin_server.base_url}/audio/speech", json=["a list"])
    assert r.status_code == 400
    assert Clip.from_bytes(_speak(client, response_format="wav", input="Still here.")).duration > 0.3


def test_split_first_clause_only_cuts_a_long_first_sentence():
    from voicekit.standin.engines.synthesis import split_first_clause

    assert split_first_clause("Short one. Then another, with a comma.") == ["Short one. Then another, with a comma."]
    long = "When the first sentence runs on for quite a while, as this one does, it is cut early. Rest."
    assert split_first_clause(long) == [
        "When the first sentence runs on for quite a while,",
        "as this one does, it is cut early. Rest.",
    ]
    no_clause = "A" * 100 + " and no commas at all."
    assert split_first_clause(no_clause) == [no_clause]


def test_bounded_pieces_caps_piper_input_and_keeps_every_word() -> None:
    """No sentence over MAX_PIECE_CHARS reaches Piper (its memory arena keeps the peak), and no word is lost."""
    from voicekit.standin.engines.synthesis import MAX_PIECE_CHARS, bounded_pieces

    listing = " ".join(f"item {k} is the {k}th thing" for k in range(40)) + ". Short one. And another!"
    pieces = bounded_pieces(listing)
    assert all(len(p) <= MAX_PIECE_CHARS for p in pieces) and len(pieces) > 3
    assert " ".join(pieces).split() == listing.split()
    assert pieces[-2:] == ["Short one.", "And another!"]
    assert bounded_pieces("Hello there. How are you?") == ["Hello there.", "How are you?"]
    clause = "a" * 100 + ", " + "b" * 100 + "."
    assert bounded_pieces(clause) == ["a" * 100 + ",", "b" * 100 + "."]


def test_an_abandoned_stream_does_not_block_the_next_request(client) -> None:
    # An agent drops the rest of an answer on a barge-in: the server must not keep Piper's lock.
    long_text = "This is a long answer. " * 20
    for _ in range(3):
        with client.audio.speech.with_streaming_response.create(
            model="gpt-4o-mini-tts", voice="alloy", input=long_text, response_format="pcm"
        ) as response:
            next(response.iter_bytes(4800))  # the first 100 ms, then hang up
    quick = client.with_options(timeout=30.0, max_retries=0)
    audio = quick.audio.speech.create(model="gpt-4o-mini-tts", voice="alloy", input="Still here.", response_format="pcm")
    assert len(audio.content) > 4800
