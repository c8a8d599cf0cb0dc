"""The Realtime session configuration: defaults, partial updates, VAD timing.

The session object has the shape of the SDK's
``openai.types.realtime.RealtimeSessionCreateRequest`` (``type: "realtime"``)
or ``RealtimeTranscriptionSessionCreateRequest`` (``type: "transcription"``),
plus the identity fields of the GA session object that
``RealtimeSessionCreateResponse`` / ``RealtimeTranscriptionSessionCreateResponse``
model: ``id`` (``sess_...``), ``object`` (``realtime.session`` or
``realtime.transcription_session``) and ``expires_at`` (Unix seconds, 60
minutes after the connection opened: OpenAI's maximum session length).
Every ``session.update`` is checked against the request model; a field the
model does not declare is refused (``unknown_parameter``, with its path as
``param``), as OpenAI refuses unknown parameters. Defaults follow
OpenAI's Realtime API reference ("Session object") and the "Voice activity
detection" guide: ``server_vad`` with threshold 0.5, 300 ms prefix padding and
500 ms silence, PCM16 at 24 kHz in and out, voice ``alloy``, speed 1.0.

A partial update merges deeply: ``{"audio": {"input": {"turn_detection":
{"silence_duration_ms": 800}}}}`` changes that one field and keeps the others.
``null`` replaces (``"turn_detection": null`` turns VAD off), lists replace
(``tools``), an object whose ``type`` changes (an audio ``format``) is
replaced, and a ``turn_detection`` of another ``type`` starts from that
type's defaults.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

import pydantic
from openai import BaseModel
from openai.types.realtime import RealtimeSessionCreateRequest

from ...formats import REALTIME_SAMPLE_RATE
from ..engines import languages
from ..engines.synthesis import OPENAI_VOICES, VOICE_VARIANTS
from .events import RealtimeProtocolError, new_id

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "IDENTITY_FIELDS",
    "SEMANTIC_VAD_SILENCE_MS",
    "SESSION_LIFETIME_S",
    "VadTiming",
    "check_languages",
    "check_request",
    "default_session",
    "find_unknown_field",
    "input_language",
    "merge_patch",
    "merge_session",
    "refuse_identity",
    "session_identity",
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

SEMANTIC_VAD_SILENCE_MS: dict[str, int] = {"high": 1000, "medium": 2000, "auto": 2000, "low": 4000}
"""The longest ``semantic_vad`` waits in a pause, by ``eagerness`` (ms): the fallback when the
turn model keeps judging the turn unfinished.

OpenAI documents the longest waits as 2 s (high), 4 s (medium, and auto, which equals
medium) and 8 s (low) ("Voice activity detection" guide); the stand-in keeps those
1 : 2 : 4 proportions at half the length, so a sentence its small model misjudges
(read-aloud prosody) does not leave a learner waiting 4 s.
"""

SEMANTIC_VAD_THRESHOLD: dict[str, float] = {"high": 0.3, "medium": 0.5, "auto": 0.5, "low": 0.7}
"""``eagerness`` -> the Smart Turn probability that ends a turn at a pause (0.5 is Pipecat's
default; lower ends turns sooner, higher lets the speaker take their time)."""

SEMANTIC_VAD_CHECK_MS = 256
"""Silence (ms) after which ``semantic_vad`` asks Smart Turn whether the turn is over. Pauses
between the items of a spoken list are shorter; a finished sentence then ends 256 ms after its
last word instead of after a fixed window."""


SESSION_LIFETIME_S = 60 * 60
"""OpenAI ends a Realtime session after 60 minutes ("Realtime conversations", "Session lifetime")."""

IDENTITY_FIELDS = ("object", "id", "expires_at")
"""Fields of the GA session object that the server sets and a ``session.update`` cannot."""


def session_identity(kind: str = "realtime") -> dict[str, Any]:
    """``object``, ``id`` and ``expires_at`` for a new session of type ``kind``."""
    obj = "realtime.session" if kind == "realtime" else "realtime.transcription_session"
    return {"object": obj, "id": new_id("sess"), "expires_at": int(time.time()) + SESSION_LIFETIME_S}


def default_session(model: str, identity: dict[str, Any] | None = None) -> dict[str, Any]:
    """The session a new connection starts with (sent in ``session.created``).

    ``identity`` keeps a session's ``id`` and ``expires_at`` (default: new ones).
    """
    return {
        **(identity or session_identity()),
        "type": "realtime",
        "object": "realtime.session",
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "include": None,
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
    """Deep merge; an object whose ``type`` changes (an audio format, say) is replaced, not merged."""
    if isinstance(base, dict) and isinstance(patch, dict) and base.get("type", patch.get("type")) == patch.get(
            "type", base.get("type")):
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
    refuse_identity(patch)
    patch = {**patch, "type": "realtime"}
    merged = merge_patch(current, patch, {"server_vad": SERVER_VAD_DEFAULTS, "semantic_vad": SEMANTIC_VAD_DEFAULTS})
    check_request(RealtimeSessionCreateRequest, merged)
    _check_supported(merged, current, voice_locked)
    check_languages(((merged.get("audio") or {}).get("input") or {}).get("transcription"))
    return merged


def check_languages(config: dict[str, Any] | None) -> None:
    """Raise ``invalid_value`` naming a ``language`` / ``languages`` entry Whisper has no code for."""
    config = config or {}
    for field, langs in (("language", [config.get("language")]), ("languages", config.get("languages") or [])):
        for lang in langs:
            if lang and not languages.is_known(str(lang).lower()):
                raise RealtimeProtocolError(f"Invalid language {lang!r}: expected an ISO-639-1 code Whisper knows "
                           "(for example 'en', 'de', 'ja')", code="invalid_value",
                                           param=f"session.audio.input.transcription.{field}")


def input_language(config: dict[str, Any] | None) -> str | None:
    """The language to transcribe in: ``language``, else the only entry of ``languages``, else None."""
    config = config or {}
    if config.get("language"):
        return str(config["language"]).lower()
    langs = config.get("languages") or []
    return str(langs[0]).lower() if len(langs) == 1 else None


def merge_patch(current: dict[str, Any], patch: dict[str, Any],
                turn_defaults: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """``current`` deep-merged with ``patch``; a ``turn_detection`` of another type starts from
    ``turn_defaults[type]`` instead of merging with the old type's fields."""
    td_patch = ((patch.get("audio") or {}).get("input") or {}).get("turn_detection", ...)
    td_now = current["audio"]["input"]["turn_detection"]
    if isinstance(td_patch, dict) and (td_now is None or td_patch.get("type", td_now["type"]) != td_now["type"]):
        kind = td_patch.get("type") or "server_vad"
        current = copy.deepcopy(current)
        current["audio"]["input"]["turn_detection"] = dict(turn_defaults.get(kind, {"type": kind}))
    merged: dict[str, Any] = _merge(current, patch)
    return merged


def refuse_identity(patch: dict[str, Any]) -> None:
    for key in IDENTITY_FIELDS:
        if key in patch:
            raise _bad(f"Unknown parameter: 'session.{key}' (the server sets it).", f"session.{key}",
                       code="unknown_parameter")


def check_request(model: type[BaseModel], session: dict[str, Any]) -> None:
    """Validate ``session`` (identity fields aside) against the SDK request ``model``.

    Raises
    ------
    RealtimeProtocolError
        ``invalid_value`` for a field of the wrong type, ``unknown_parameter``
        for one the model does not declare; ``param`` is its path, ``session.<...>``.
    """
    body = {k: v for k, v in session.items() if k not in IDENTITY_FIELDS}
    try:
        parsed = model.model_validate(body, strict=False)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        where = "session." + ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function", "tagged")))
        raise _bad(f"Invalid value for '{where}': {first['msg']}", where) from None
    unknown = find_unknown_field(parsed, "session")
    if unknown is not None:
        raise _bad(f"Unknown parameter: '{unknown}'.", unknown, code="unknown_parameter")


def find_unknown_field(value: Any, path: str) -> str | None:
    """The path of the first field an SDK model did not declare (SDK models keep extras), or None."""
    if isinstance(value, BaseModel):
        if value.model_extra:
            return f"{path}.{min(value.model_extra)}"
        for name in type(value).model_fields:
            found = find_unknown_field(getattr(value, name), f"{path}.{name}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for k, v in enumerate(value):
            found = find_unknown_field(v, f"{path}[{k}]")
            if found is not None:
                return found
    return None


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
    turn_threshold: float | None = None
    """End-of-turn model probability that ends a turn at a pause; None: no model (``server_vad``)."""
    turn_check_ms: int = SEMANTIC_VAD_CHECK_MS
    """Silence (ms) before the model is asked."""


def vad_timing(turn_detection: dict[str, Any] | None) -> VadTiming | None:
    """The detector settings for a session's ``turn_detection``; None means manual commit.

    ``semantic_vad`` runs Silero VAD with the Smart Turn model
    (:mod:`voicekit.standin.engines.turn_model`): ``eagerness`` picks its threshold
    (:data:`SEMANTIC_VAD_THRESHOLD`) and the longest wait (:data:`SEMANTIC_VAD_SILENCE_MS`).
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
            turn_threshold=SEMANTIC_VAD_THRESHOLD[turn_detection.get("eagerness") or "auto"],
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
