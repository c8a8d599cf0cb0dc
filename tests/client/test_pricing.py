"""voicekit.agents.pricing and voicekit.agents.turn_metrics: cost from usage, per-turn rows, summaries."""

from __future__ import annotations

import math
import re

import pytest
from openai.types.audio.transcription import UsageTokens
from openai.types.completion_usage import CompletionUsage, PromptTokensDetails

from voicekit.agents.pricing import PRICES, PRICES_DATE, Usage, usage_cost
from voicekit.agents.turn_metrics import TurnMetrics, percentile, summarize


def test_prices_table_is_dated_and_covers_the_agents_models():
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", PRICES_DATE)
    for model in ("gpt-4o-mini-transcribe", "gpt-4.1-mini", "gpt-4o-mini-tts", "gpt-realtime-mini", "gpt-audio-mini"):
        assert model in PRICES


def test_cached_tokens_are_a_subset_of_input():
    p = PRICES["gpt-realtime-mini"]
    u = Usage("gpt-realtime-mini", text_in=1000, text_cached_in=800, audio_in=500, audio_cached_in=100, text_out=10, audio_out=200)
    want = (200 * p.text_in + 800 * p.text_cached_in + 400 * p.audio_in + 100 * p.audio_cached_in
            + 10 * p.text_out + 200 * p.audio_out) / 1e6
    assert usage_cost(u) == pytest.approx(want)
    # all input cached costs less than none cached, never more
    none_cached = Usage("gpt-realtime-mini", text_in=1000)
    all_cached = Usage("gpt-realtime-mini", text_in=1000, text_cached_in=1000)
    assert usage_cost(all_cached) < usage_cost(none_cached)


def test_unknown_model_has_no_price():
    assert usage_cost(Usage("not-a-model", text_in=5)) is None


def test_usage_from_sdk_types():
    chat = CompletionUsage(prompt_tokens=120, completion_tokens=30, total_tokens=150,
                           prompt_tokens_details=PromptTokensDetails(cached_tokens=64))
    u = Usage.from_chat("gpt-4.1-mini", chat)
    assert (u.text_in, u.text_cached_in, u.text_out, u.audio_in) == (120, 64, 30, 0)
    stt = UsageTokens(type="tokens", input_tokens=50, output_tokens=12, total_tokens=62,
                      input_token_details={"audio_tokens": 45, "text_tokens": 5})
    u = Usage.from_transcription("gpt-4o-mini-transcribe", stt)
    assert (u.audio_in, u.text_in, u.text_out) == (45, 5, 12)
    rt = Usage.from_realtime("gpt-realtime-mini", {
        "input_tokens": 300, "output_tokens": 80,
        "input_token_details": {"text_tokens": 200, "audio_tokens": 100, "cached_tokens": 128,
                                "cached_tokens_details": {"text_tokens": 128, "audio_tokens": 0}},
        "output_token_details": {"text_tokens": 20, "audio_tokens": 60}})
    assert (rt.text_in, rt.text_cached_in, rt.audio_in, rt.text_out, rt.audio_out) == (200, 128, 100, 20, 60)
    assert rt.total == 380


def test_turn_metrics_merge_usage_per_model_and_row():
    m = TurnMetrics("cascaded", 0, voice_to_voice_ms=512.4, stt_ms=200.2)
    first = Usage("gpt-4.1-mini", text_in=100, text_out=10)
    m.add_usage(first)
    m.add_usage(Usage("gpt-4.1-mini", text_in=150, text_cached_in=100, text_out=20))
    m.add_usage(Usage("gpt-4o-mini-tts", text_in=10, audio_out=100, estimated=True))
    assert len(m.usage) == 2 and m.usage[0].text_in == 250 and m.usage[0].text_cached_in == 100
    assert first.text_in == 100  # the caller's record is not changed
    assert m.tokens == 250 + 30 + 110
    assert m.cost_usd == pytest.approx(sum(usage_cost(u) for u in m.usage))
    row = m.row()
    assert row["v2v_ms"] == 512 and row["stt_ms"] == 200 and row["llm_ttft_ms"] is None


def test_percentile_and_summarize():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([10], 90) == 10
    assert math.isnan(percentile([], 50))
    turns = [TurnMetrics("cascaded", i, voice_to_voice_ms=v, stt_ms=100.0) for i, v in enumerate([300.0, 500.0, 400.0])]
    turns.append(TurnMetrics("cascaded", 3))  # no audio reply: left out
    s = summarize(turns)
    assert s["n"] == 3 and s["p10_ms"] == 320.0 and s["median_ms"] == 400.0 and s["p90_ms"] == 480.0
    assert s["stages"] == {"stt_ms": {"p10_ms": 100.0, "median_ms": 100.0, "p90_ms": 100.0}}
