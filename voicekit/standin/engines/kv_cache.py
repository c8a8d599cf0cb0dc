"""The number format of the LLM's KV cache: ``f16`` by default, or 8-bit (``q8_0``) to save memory.

llama.cpp keeps, for every slot (:mod:`.reply_slots`), the keys and values of each token
of its context: for SmolLM2-135M, 30 layers x 3 KV heads x 64 values, for K and for V.
In ``f16`` that is 23,040 bytes a token; in ``q8_0`` (blocks of 32 int8 values sharing one
f16 scale: 34 bytes per 32 values) 12,240 bytes. The cache is allocated when
the model loads (:data:`.llm.N_CTX` tokens for each of the reply slots and the decision
slot) and takes memory as the slots' conversations fill it (:mod:`.zero_pages`), so the
format decides most of the LLM's memory beyond its weights once the slots are in use.

llama.cpp's quantized V cache needs its flash-attention kernels, so ``q8_0`` turns them
on (``flash_attn_type`` enabled). ``q8_0`` gives back about 110 MiB of the stand-in's RSS
with four reply slots and decodes as fast, but reads a long prompt slower. And a 135M
model's greedy answers move with every rounding of its cache: each format gives the same
answer for the same request every time, not the other format's, and some answers get
worse ("What is the capital of France?" under the stand-in's default system prompt: "The
capital of France is Paris." in ``f16``, French nonsense in ``q8_0``). So ``f16`` stays
the default, and ``q8_0`` is there for a class whose machine is short of memory. Figures
are in ``benchmarks/README.md`` ("Memory").

``VOICEKIT_LLM_KV_CACHE`` (:data:`KV_CACHE_ENV`) picks the format: ``f16`` or ``q8_0``.
"""

from __future__ import annotations

import os
from typing import Any

__all__ = ["BYTES_PER_TOKEN", "DEFAULT_KV_CACHE", "KV_CACHE_ENV", "configure_kv_cache", "kv_cache_format"]

KV_CACHE_ENV = "VOICEKIT_LLM_KV_CACHE"
"""Environment variable with the KV cache's format: ``q8_0`` or ``f16``."""

DEFAULT_KV_CACHE = "f16"
"""The format when :data:`KV_CACHE_ENV` is unset."""

BYTES_PER_TOKEN = {"f16": 23_040, "q8_0": 12_240}
"""SmolLM2-135M's KV cache per token of context, in bytes, by format (K and V, all layers)."""


def kv_cache_format() -> str:
    """The KV cache's format: :data:`KV_CACHE_ENV`, else :data:`DEFAULT_KV_CACHE`.

    Raises
    ------
    ValueError
        If :data:`KV_CACHE_ENV` names another format.
    """
    raw = os.environ.get(KV_CACHE_ENV, "").strip().lower() or DEFAULT_KV_CACHE
    if raw not in BYTES_PER_TOKEN:
        raise ValueError(f"{KV_CACHE_ENV} must be one of {sorted(BYTES_PER_TOKEN)}, got {raw!r}")
    return raw


def configure_kv_cache(params: Any, fmt: str | None = None) -> str:
    """Set the KV cache's format on ``params`` (an ``xllamacpp.CommonParams``); returns the format.

    ``fmt`` defaults to :func:`kv_cache_format`. ``q8_0`` quantizes both K and V and enables
    flash attention (which llama.cpp's quantized V cache requires); ``f16`` leaves llama.cpp's
    defaults (f16, flash attention automatic).

    Raises
    ------
    ValueError
        If ``fmt`` (or :data:`KV_CACHE_ENV`) is not a known format.
    """
    import xllamacpp

    fmt = kv_cache_format() if fmt is None else fmt
    if fmt not in BYTES_PER_TOKEN:
        raise ValueError(f"the KV cache format must be one of {sorted(BYTES_PER_TOKEN)}, got {fmt!r}")
    if fmt == "q8_0":
        params.cache_type_k = params.cache_type_v = xllamacpp.ggml_type.GGML_TYPE_Q8_0
        params.flash_attn_type = xllamacpp.llama_flash_attn_type.LLAMA_FLASH_ATTN_TYPE_ENABLED
    return fmt
