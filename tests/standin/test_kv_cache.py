"""The LLM's KV cache format (engines.kv_cache): f16 by default, q8_0 on request, a clear error otherwise."""

from __future__ import annotations

import pytest
import xllamacpp

from voicekit.standin.engines.kv_cache import (
    BYTES_PER_TOKEN,
    DEFAULT_KV_CACHE,
    KV_CACHE_ENV,
    configure_kv_cache,
    kv_cache_format,
)


def test_q8_0_sets_k_v_and_flash_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KV_CACHE_ENV, "q8_0")
    params = xllamacpp.CommonParams()
    assert configure_kv_cache(params) == "q8_0"
    assert params.cache_type_k == params.cache_type_v == xllamacpp.ggml_type.GGML_TYPE_Q8_0
    assert params.flash_attn_type == xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED


@pytest.mark.parametrize("value", [None, " F16 "])
def test_f16_is_the_default_and_leaves_llama_cpp_defaults(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv(KV_CACHE_ENV, raising=False)
    else:
        monkeypatch.setenv(KV_CACHE_ENV, value)
    assert kv_cache_format() == DEFAULT_KV_CACHE == "f16"
    params, untouched = xllamacpp.CommonParams(), xllamacpp.CommonParams()
    assert configure_kv_cache(params) == "f16"
    assert (params.cache_type_k, params.cache_type_v, params.flash_attn_type) == (
        untouched.cache_type_k, untouched.cache_type_v, untouched.flash_attn_type)
    assert params.cache_type_k == xllamacpp.ggml_type.GGML_TYPE_F16


@pytest.mark.parametrize("value", ["q4_0", "8bit", "yes"])
def test_an_unknown_format_is_refused_with_the_choices(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(KV_CACHE_ENV, value)
    with pytest.raises(ValueError, match=rf"{KV_CACHE_ENV} must be one of \['f16', 'q8_0'\], got '{value}'"):
        kv_cache_format()
    with pytest.raises(ValueError, match="must be one of"):
        configure_kv_cache(xllamacpp.CommonParams(), value)


def test_q8_0_holds_about_half_the_bytes_of_f16() -> None:
    # 30 layers x (K and V) x 3 KV heads x 64 values; q8_0 stores 32 values in 34 bytes
    values = 30 * 2 * 3 * 64
    assert BYTES_PER_TOKEN == {"f16": values * 2, "q8_0": values * 34 // 32}


def test_the_engine_loads_and_answers_with_a_q8_0_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    from voicekit.standin.engines.llm import LLMEngine, Turn

    monkeypatch.setenv(KV_CACHE_ENV, "q8_0")
    engine = LLMEngine()
    assert engine.kv_cache == "q8_0"
    reply = "".join(engine.stream([Turn("system", "Answer in one short sentence."),
                                   Turn("user", "What is the capital of France?")], temperature=0, max_tokens=20))
    assert "Paris" in reply, reply  # with a system prompt the stand-in's requests carry, q8_0 still knows
