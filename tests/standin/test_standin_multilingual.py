"""Languages beyond English on the stand-in (issue 23): the multilingual Whisper's files,
the language gate, and ``/v1/audio/transcriptions`` / ``translations`` through the SDK."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from conftest import SHARED_AUDIO, heard_de_leopard
from openai import OpenAI

from voicekit.audio import Clip
from voicekit.errors import StandinError
from voicekit.samples import DATA_DIR, load_sample
from voicekit.standin.engines import SttSegment, languages, multilingual
from voicekit.standin.engines._integrity import PINNED_SHA256

ML_AUDIO = SHARED_AUDIO / "multilingual"
# Reference transcripts and the glosses' content words, from ../shared/audio/multilingual/README.md.
REFERENCES = {
    "de": ("german", "Der hinter diesem Portal liegenden Raum wurde als Leichenhalle genutzt."),
    "es": ("spanish", "Las arenas son blanquecinas de grano medio y tiene muy poca asistencia."),
    "fr": ("french", "Sous le consulat il devient conservateur des eaux et forêts et conseiller général."),
    "it": ("italian", "Sempre alla radio nacquero anche alcune sue canzoni o meglio ritmi."),
    "ja": ("japanese", "客観的実在の判断的知識が成立するのである。"),
}
GLOSS_WORDS = {"de": {"portal", "room", "used"}, "es": {"sand", "medium", "grain"},
               "it": {"radio", "songs", "rhythms"}}


def _clip(code: str) -> Clip:
    path = ML_AUDIO / f"test_{code}.wav"
    if not path.is_file():
        pytest.skip(f"no {path} (the repo's sibling shared/audio/multilingual)")
    return Clip.from_file(path)


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def _wer(ref: str, hyp: str) -> float:
    import jiwer

    return float(jiwer.wer(" ".join(_words(ref)), " ".join(_words(hyp))))


# --- the model files --------------------------------------------------------------------


def test_assembles_once_verified_and_repairs_a_corrupted_cache(tmp_path: Path):
    target = multilingual.model_dir(tmp_path)
    assert sorted(p.name for p in target.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".whisper-base-")], "temporary dir left behind"
    stamp = (target / "model.bin").stat().st_mtime_ns
    assert multilingual.model_dir(tmp_path) == target and (target / "model.bin").stat().st_mtime_ns == stamp
    with open(target / "model.bin", "r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 0xFF]))
    multilingual.model_dir(tmp_path)
    import hashlib

    assert hashlib.sha256((target / "model.bin").read_bytes()).hexdigest() == PINNED_SHA256["whisper-base/model.bin"]


def test_unwritable_cache_is_a_standin_error_naming_it(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StandinError, match="file"):
        multilingual.model_dir(blocker / "cache")


def test_language_codes_come_from_the_model_and_all_have_names():
    from faster_whisper.tokenizer import _LANGUAGE_CODES  # cross-check only

    codes = multilingual.language_codes()
    assert set(codes) == set(_LANGUAGE_CODES) - {"yue"}  # base predates Cantonese (large-v3)
    assert all(multilingual.language_name(c) != c for c in codes)
    assert multilingual.language_name("de") == "german" and multilingual.language_name("ht") == "haitian creole"


def _seg(avg_logprob: float, compression_ratio: float = 1.0, start: float = 0.0, end: float = 2.0) -> SttSegment:
    return SttSegment(0, 0, start, end, "x", [1], 0.0, avg_logprob, compression_ratio, 0.0)


def test_gate_rejects_low_confidence_and_repetition_loops():
    assert languages.looks_english([]) and languages.looks_english([_seg(-0.4)])
    assert not languages.looks_english([_seg(-1.0)])  # German heard by tiny.en
    assert not languages.looks_english([_seg(-0.3, compression_ratio=20.0)])  # "Thank you very much" looping
    assert languages.looks_english([_seg(-0.3, end=9.0), _seg(-1.5, start=9.0, end=10.0)])  # weighted by time


# --- through the SDK --------------------------------------------------------------------


@pytest.fixture(scope="module")
def ml_server():
    """A stand-in of its own, so the test sees its engines (is the multilingual model loaded?)."""
    from voicekit.standin import StandinServer
    from voicekit.standin.engines import Engines

    loaded: list[Engines] = []

    def load() -> Engines:
        loaded.append(Engines.load())
        return loaded[0]

    with StandinServer(load_engines=load) as server:
        server.engines = loaded[0]
        yield server


@pytest.fixture
def ml_client(ml_server):
    with OpenAI(base_url=ml_server.base_url, api_key="test-no-key", max_retries=0) as c:
        yield c


def test_english_stays_on_tiny_en_without_loading_the_multilingual_model(ml_server, ml_client):
    r = ml_client.audio.transcriptions.create(model="whisper-1", file=load_sample("ls_0870.wav").to_file_tuple(),
                                              response_format="verbose_json")
    assert r.language == "english" and "dashwood" in r.text.lower()
    for name in ("cards_005.wav", "goforward_16k_s16le.raw"):
        ml_client.audio.transcriptions.create(model="gpt-4o-transcribe", file=load_sample(name).to_file_tuple())
    assert not ml_server.engines.multilingual_loaded


def test_unknown_language_is_400_naming_it(ml_client):
    with pytest.raises(openai.BadRequestError) as info:
        ml_client.audio.transcriptions.create(model="whisper-1", file=load_sample().to_file_tuple(), language="xx")
    assert info.value.param == "language" and info.value.code == "invalid_language_format"
    assert "'xx'" in info.value.message and "ISO-639-1" in info.value.message


@pytest.fixture(scope="module")
def detected(ml_server):
    """Each clip of ../shared/audio/multilingual transcribed once without ``language``, as verbose_json."""
    with OpenAI(base_url=ml_server.base_url, api_key="test-no-key", max_retries=0) as c:
        return {code: c.audio.transcriptions.create(model="whisper-1", file=_clip(code).to_file_tuple(),
                                                    response_format="verbose_json")
                for code in sorted(REFERENCES)}


@pytest.mark.parametrize("code", sorted(REFERENCES))
def test_language_is_detected_and_reported_in_verbose_json(detected, code):
    name, reference = REFERENCES[code]
    r = detected[code]
    assert r.language == name, r.text
    if code == "ja":  # no spaces between words: characters, not words (the README's advice)
        import jiwer

        assert jiwer.cer(reference.strip("。"), r.text.strip().strip("。")) <= 0.25, r.text
    else:
        assert _wer(reference, r.text) <= 0.5, r.text


def test_corpus_wer_on_the_alphabetic_languages(detected):
    import jiwer

    codes = [c for c in sorted(REFERENCES) if c != "ja"]
    refs = [" ".join(_words(REFERENCES[c][1])) for c in codes]
    hyps = [" ".join(_words(detected[c].text)) for c in codes]
    assert jiwer.wer(refs, hyps) <= 0.25, hyps  # the bar


def test_language_given_is_honoured_on_every_model(ml_client):
    clip = _clip("de")
    for model in ("gpt-4o-mini-transcribe", "gpt-4o-transcribe"):
        r = ml_client.audio.transcriptions.create(model=model, file=clip.to_file_tuple(), language="de")
        assert _wer(REFERENCES["de"][1], r.text) <= 0.5, r.text  # 10 words: 0.5 is 5 errors
    shipped = Clip.from_file(DATA_DIR / "multilingual" / "de_leopard.wav")
    r = ml_client.audio.transcriptions.create(model="whisper-1", file=shipped.to_file_tuple(), language="de",
                                              response_format="verbose_json")
    assert r.language == "german" and heard_de_leopard(r.text), r.text


def test_streamed_transcription_detects_the_language(ml_client):
    events = list(ml_client.audio.transcriptions.create(model="gpt-4o-mini-transcribe",
                                                        file=_clip("fr").to_file_tuple(), stream=True))
    assert events[-1].type == "transcript.text.done"
    assert {"consulat", "conservateur"} <= set(_words(events[-1].text)), events[-1].text


@pytest.mark.parametrize("code", sorted(GLOSS_WORDS))
def test_translation_into_english_shares_the_glosses_content_words(ml_client, code):
    with pytest.warns(DeprecationWarning):  # the SDK marks translations deprecated
        r = ml_client.audio.translations.create(model="whisper-1", file=_clip(code).to_file_tuple())
    got = {w.rstrip("s") for w in _words(r.text)}
    shared = {w for w in GLOSS_WORDS[code] if w.rstrip("s") in got}
    assert len(shared) >= 2, r.text


def test_the_multilingual_model_is_released_when_idle_and_reloaded_with_the_same_answer(ml_server, ml_client):
    import time

    from voicekit.standin.engines.resident import MULTILINGUAL_IDLE_S

    engines, upload = ml_server.engines, _clip("de").to_file_tuple()
    first = ml_client.audio.transcriptions.create(model="whisper-1", file=upload, language="de").text
    assert engines.multilingual_loaded
    assert engines.release_idle(time.monotonic() + MULTILINGUAL_IDLE_S / 2) == []  # used just now: kept
    assert engines.release_idle(time.monotonic() + MULTILINGUAL_IDLE_S + 1) == ["whisper-base"]
    assert not engines.multilingual_loaded  # its ~260 MB can go
    again = ml_client.audio.transcriptions.create(model="whisper-1", file=upload, language="de").text
    assert again == first and engines.multilingual_loaded
