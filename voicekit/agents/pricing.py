"""OpenAI list prices, in one dated table, and the cost of a turn's usage.

Prices are US dollars per 1M tokens, as the model pages on
developers.openai.com list them (checked on :data:`PRICES_DATE`). They change:
edit this table, and its date, when they do.

Cached input tokens are a *subset* of input tokens, as OpenAI reports them
(``prompt_tokens_details.cached_tokens`` in Chat Completions,
``input_token_details.cached_tokens`` in Realtime): the cached ones are billed
at the cached price and only the rest at the full input price, never both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["LIVE_PRICES_PER_MINUTE", "PRICES", "PRICES_DATE", "TTS_AUDIO_TOKENS_PER_SECOND", "ModelPrice", "Usage",
           "live_session_cost", "usage_cost"]

PRICES_DATE = "2026-11-30"
"""When :data:`PRICES` was last checked against OpenAI's model pages."""


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per 1M tokens; ``None`` where the model has no such tokens."""

    text_in: float
    text_out: float | None = None
    text_cached_in: float | None = None
    audio_in: float | None = None
    audio_cached_in: float | None = None
    audio_out: float | None = None


PRICES: dict[str, ModelPrice] = {
    # Realtime speech-to-speech (developers.openai.com/api/docs/models/gpt-realtime-mini)
    "gpt-realtime-mini": ModelPrice(text_in=0.60, text_cached_in=0.06, text_out=2.40,
                                    audio_in=10.00, audio_cached_in=0.30, audio_out=20.00),
    "gpt-realtime": ModelPrice(text_in=4.00, text_cached_in=0.40, text_out=16.00,
                               audio_in=32.00, audio_cached_in=0.40, audio_out=64.00),
    # Chat Completions with audio (.../models/gpt-audio-mini)
    "gpt-audio-mini": ModelPrice(text_in=0.60, text_out=2.40, audio_in=10.00, audio_out=20.00),
    # The cascaded agent's stages (.../models/gpt-4o-mini-transcribe, gpt-4.1-mini, gpt-4o-mini-tts)
    "gpt-4o-mini-transcribe": ModelPrice(text_in=1.25, text_out=5.00, audio_in=3.00),
    "gpt-4o-transcribe": ModelPrice(text_in=2.50, text_out=10.00, audio_in=6.00),
    "gpt-4.1-mini": ModelPrice(text_in=0.40, text_cached_in=0.10, text_out=1.60),
    "gpt-4.1-nano": ModelPrice(text_in=0.10, text_cached_in=0.025, text_out=0.40),
    "gpt-4o-mini": ModelPrice(text_in=0.15, text_cached_in=0.075, text_out=0.60),
    "gpt-4o-mini-tts": ModelPrice(text_in=0.60, audio_out=12.00),
}

LIVE_PRICES_PER_MINUTE: dict[str, float] = {
    # GPT-Live bills the voice session by its duration, per second, not by tokens:
    # $0.05 a minute of active session time for both models
    # (developers.openai.com/api/docs/models/gpt-live-1 and .../gpt-live-1.1; guide
    # "Cost optimization", voice-latency-cost). The $0.02 standby rate applies only to
    # WebRTC sessions paused for standby, which the kit does not use. A delegation
    # backend (Responses, Chat) is billed separately, by its tokens.
    "gpt-live-1": 0.05,
    "gpt-live-1.1": 0.05,
}
"""Dollars per minute of active GPT-Live session, as of :data:`PRICES_DATE`."""


def live_session_cost(model: str, seconds: float) -> float | None:
    """Dollars for ``seconds`` of active GPT-Live session (per second, never rounded up to
    a minute); None for a model not in :data:`LIVE_PRICES_PER_MINUTE`."""
    rate = LIVE_PRICES_PER_MINUTE.get(model)
    return None if rate is None else rate * seconds / 60.0


TTS_AUDIO_TOKENS_PER_SECOND = 1250 / 60
"""Audio tokens per second of gpt-4o-mini-tts output, from OpenAI's estimate of
$0.015 a minute at $12 per 1M audio tokens (1,250 tokens a minute). The Speech
API returns no usage with a raw audio stream, so the cascaded agent estimates
its audio tokens from the seconds it received."""


@dataclass
class Usage:
    """Tokens one model used in a turn.

    ``text_cached_in`` and ``audio_cached_in`` are subsets of ``text_in`` and
    ``audio_in`` (OpenAI's reporting), not extra tokens.
    """

    model: str
    text_in: int = 0
    text_cached_in: int = 0
    audio_in: int = 0
    audio_cached_in: int = 0
    text_out: int = 0
    audio_out: int = 0
    estimated: bool = False
    """True when a count is estimated rather than reported by the API."""

    def add(self, other: Usage) -> None:
        """Add ``other``'s counts (same model) to this one."""
        for name in ("text_in", "text_cached_in", "audio_in", "audio_cached_in", "text_out", "audio_out"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.estimated = self.estimated or other.estimated

    @property
    def total(self) -> int:
        """All tokens in and out (cached ones counted once, inside the input)."""
        return self.text_in + self.audio_in + self.text_out + self.audio_out

    @classmethod
    def from_chat(cls, model: str, usage: Any) -> Usage:
        """From ``openai.types.CompletionUsage`` (Chat Completions; audio tokens sit inside the totals)."""
        pd = getattr(usage, "prompt_tokens_details", None)
        cd = getattr(usage, "completion_tokens_details", None)
        audio_in = int(getattr(pd, "audio_tokens", 0) or 0)
        audio_out = int(getattr(cd, "audio_tokens", 0) or 0)
        return cls(model, text_in=usage.prompt_tokens - audio_in, text_cached_in=int(getattr(pd, "cached_tokens", 0) or 0),
                   audio_in=audio_in, text_out=usage.completion_tokens - audio_out, audio_out=audio_out)

    @classmethod
    def from_transcription(cls, model: str, usage: Any) -> Usage:
        """From a Transcription's ``usage`` of type ``tokens`` (``openai.types.audio.transcription.UsageTokens``)."""
        if usage is None or getattr(usage, "type", None) != "tokens":
            return cls(model)
        d = getattr(usage, "input_token_details", None)
        audio = int(getattr(d, "audio_tokens", 0) or 0) if d is not None else usage.input_tokens
        return cls(model, text_in=usage.input_tokens - audio, audio_in=audio, text_out=usage.output_tokens)

    @classmethod
    def from_realtime(cls, model: str, usage: dict[str, Any] | None) -> Usage:
        """From a Realtime ``response.done`` usage (``openai.types.realtime.RealtimeResponseUsage``)."""
        if not usage:
            return cls(model)
        i = usage.get("input_token_details") or {}
        o = usage.get("output_token_details") or {}
        c = i.get("cached_tokens_details") or {}
        return cls(model, text_in=int(i.get("text_tokens") or 0), audio_in=int(i.get("audio_tokens") or 0),
                   text_cached_in=int(c.get("text_tokens") or 0), audio_cached_in=int(c.get("audio_tokens") or 0),
                   text_out=int(o.get("text_tokens") or 0), audio_out=int(o.get("audio_tokens") or 0))


def usage_cost(usage: Usage) -> float | None:
    """Dollars for ``usage`` at :data:`PRICES`; ``None`` for a model not in the table.

    Cached input is billed at the cached price (the input price if the model
    lists none), the rest of the input at the input price.
    """
    p = PRICES.get(usage.model)
    if p is None:
        return None
    text_cached = p.text_cached_in if p.text_cached_in is not None else p.text_in
    audio_in = p.audio_in or 0.0
    audio_cached = p.audio_cached_in if p.audio_cached_in is not None else audio_in
    dollars = (
        (usage.text_in - usage.text_cached_in) * p.text_in + usage.text_cached_in * text_cached
        + (usage.audio_in - usage.audio_cached_in) * audio_in + usage.audio_cached_in * audio_cached
        + usage.text_out * (p.text_out or 0.0) + usage.audio_out * (p.audio_out or 0.0)
    )
    return dollars / 1e6
