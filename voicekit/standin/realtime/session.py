"""The Realtime session configuration: defaults, partial updates, VAD timing.

The session object has the shape of the SDK's
``openai.types.realtime.RealtimeSessionCreateRequest`` (``type: "realtime"``),
and every ``session.update`` is checked against that model. Defaults follow
OpenAI's Realtime API reference ("Session object") and the "Voice activity
detection" guide: ``server_vad`` with threshold 0.5, 300 ms prefix padding and
500 ms silence, PCM16 at 24 kHz in and out, voice ``alloy``, speed 1.0.

A partial update merges deeply: ``{"audio": {"input": {"turn_detection":
{"silence_duration_ms": 800}}}}`` changes that one field and keeps the others.
``null`` replaces (``"turn_detection": null`` turns VAD off), lists replace
(``tools``), and a ``turn_detection`` of another ``type`` starts from that
type's defaults.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pydantic
from openai.types.realtime import RealtimeSessionCreateRequest

from ...formats import REALTIME_SAMPLE_RATE
from ..speech import OPENAI_VOICES, VOICE_VARIANTS
from .events import RealtimeProtocolError

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "SEMANTIC_VAD_SILENCE_MS",
    "VadTiming",
    "default_session",
    "merge_session",
    "vad_timing",
]

DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice assistant. Answer in one or two short spoken sentences, "
    "without lists or markdown."
)
"""The stand-in's default instructions: short answers suit speech and a 135M model."""

PCM_FORMAT: dict[str, Any] = {"type": "audio/pcm", "rate": REALTIME_SAMPLE_RATE}

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 500,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
"""OpenAI's documented ``server_vad`` defaults."""

SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}

SEMANTIC_VAD_SILENCE_MS: dict[str, int] = {"high": 250, "medium": 500, "auto": 500, "low": 1000}
"""How the stand-in maps ``semantic_vad`` ``eagerness`` onto a silence window (ms).

The stand-in has no turn-end model, so ``semantic_vad`` runs as Silero
``server_vad`` (threshold 0.5, 300 ms prefix padding) whose silence window
depends on eagerness. OpenAI documents the longest waits as 2 s (high),
4 s (medium, and auto, which equals medium) and 8 s (low); the windows here
keep those 1 : 2 : 4 proportions at conversational lengths.
"""


def default_session(model: str) -> dict[str, Any]:
    """The session a new connection starts with (sent in ``session.created``)."""
    return {
        "type": "realtime",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "audio": {
            "input": {
                "format": dict(PCM_FORMAT),
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {"format": dict(PCM_FORMAT), "voice": "alloy", "speed": 1.0},
        },
    }


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = _merge(base.get(key), value)
        return out
    return copy.deepcopy(patch)


def _bad(message: str, param: str, code: str = "invalid_value") -> RealtimeProtocolError:
    return RealtimeProtocolError(message, param=param, code=code)


def merge_session(current: dict[str, Any], patch: dict[str, Any], *, voice_locked: bool) -> dict[str, Any]:
    """Apply a ``session.update`` patch to ``current``; returns the new session.

    Parameters
    ----------
    current : dict
        The session as it stands (a full session object).
    patch : dict
        The ``session`` field of the client's ``session.update``, as sent.
    voice_locked : bool
        True once the assistant has answered with audio: OpenAI does not allow
        the voice to change after that.

    Raises
    ------
    RealtimeProtocolError
        If the result is not a valid ``RealtimeSessionCreateRequest``, or asks
        for something the stand-in cannot do (G.711 audio, a transcription
        session, custom voices).
    """
    if patch.get("type") not in (None, "realtime"):
        raise _bad(
            f"expected session.type 'realtime', got {patch.get('type')!r}: the stand-in serves "
            "speech-to-speech sessions only (transcription sessions are not available offline)",
            "session.type",
        )
    patch = {**patch, "type": "realtime"}
    td_patch = (patch.get("audio") or {}).get("input", {}).get("turn_detection", ...)
    td_now = current["audio"]["input"]["turn_detection"]
    if isinstance(td_patch, dict) and (td_now is None or td_patch.get("type", td_now["type"]) != td_now["type"]):
        kind = td_patch.get("type") or "server_vad"
        defaults = SERVER_VAD_DEFAULTS if kind == "server_vad" else SEMANTIC_VAD_DEFAULTS
        current = copy.deepcopy(current)  # a new type replaces the old one's fields, it does not merge with them
        current["audio"]["input"]["turn_detection"] = dict(defaults)
    merged = _merge(current, patch)
    try:
        RealtimeSessionCreateRequest.model_validate(merged, strict=False)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "session." + ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function", "tagged")))
        raise _bad(f"Invalid value for '{where}': {first['msg']}", where) from None
    _check_supported(merged, current, voice_locked)
    return merged


def _check_supported(session: dict[str, Any], before: dict[str, Any], voice_locked: bool) -> None:
    for side in ("input", "output"):
        fmt = session["audio"][side].get("format") or {}
        if fmt.get("type", "audio/pcm") != "audio/pcm":
            raise _bad(
                f"expected audio.{side}.format.type 'audio/pcm' (PCM16 at 24000 Hz), got {fmt.get('type')!r}: "
                "the stand-in does not encode G.711",
                f"session.audio.{side}.format.type",
            )
    out = session["audio"]["output"]
    voice = out.get("voice")
    if isinstance(voice, dict) or voice not in VOICE_VARIANTS:
        raise _bad(
            f"expected audio.output.voice to be one of {', '.join(OPENAI_VOICES)}, got {voice!r}",
            "session.audio.output.voice",
        )
    if voice_locked and voice != before["audio"]["output"]["voice"]:
        raise _bad(
            "Cannot update a conversation's voice if assistant audio is present.",
            "session.audio.output.voice", code="cannot_update_voice",
        )
    speed = out.get("speed")
    if speed is not None and not 0.25 <= float(speed) <= 1.5:
        raise _bad(f"expected audio.output.speed in [0.25, 1.5], got {speed}", "session.audio.output.speed")
    for k, tool in enumerate(session.get("tools") or []):
        if tool.get("type", "function") != "function" or not tool.get("name"):
            raise _bad(
                f"expected tools[{k}] to be a named function tool, got type {tool.get('type')!r}: "
                "the offline stand-in cannot reach MCP servers",
                f"session.tools[{k}]",
            )
    td = session["audio"]["input"]["turn_detection"]
    if td and td["type"] == "server_vad":
        if not 0.0 <= float(td.get("threshold", 0.5)) <= 1.0:
            raise _bad(f"expected threshold in [0, 1], got {td['threshold']}", "session.audio.input.turn_detection.threshold")
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if int(td.get(key) or 0) < 0:
                raise _bad(f"expected {key} >= 0 ms, got {td[key]}", f"session.audio.input.turn_detection.{key}")


@dataclass(frozen=True)
class VadTiming:
    """The VAD settings the detector runs with (ms and a probability threshold)."""

    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    create_response: bool
    interrupt_response: bool
    idle_timeout_ms: int | None


def vad_timing(turn_detection: dict[str, Any] | None) -> VadTiming | None:
    """The detector settings for a session's ``turn_detection``; None means manual commit.

    ``semantic_vad`` maps by ``eagerness`` through :data:`SEMANTIC_VAD_SILENCE_MS`.
    """
    if not turn_detection:
        return None
    if turn_detection["type"] == "semantic_vad":
        return VadTiming(
            threshold=0.5,
            prefix_padding_ms=300,
            silence_duration_ms=SEMANTIC_VAD_SILENCE_MS[turn_detection.get("eagerness") or "auto"],
            create_response=turn_detection.get("create_response", True) is not False,
            interrupt_response=turn_detection.get("interrupt_response", True) is not False,
            idle_timeout_ms=None,
        )
    td = {**SERVER_VAD_DEFAULTS, **{k: v for k, v in turn_detection.items() if v is not None}}
    return VadTiming(
        threshold=float(td["threshold"]),
        prefix_padding_ms=int(td["prefix_padding_ms"]),
        silence_duration_ms=int(td["silence_duration_ms"]),
        create_response=bool(td["create_response"]),
        interrupt_response=bool(td["interrupt_response"]),
        idle_timeout_ms=turn_detection.get("idle_timeout_ms"),
    )
