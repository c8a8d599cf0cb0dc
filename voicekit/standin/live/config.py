"""The Live session configuration: strict checks, server defaults, updates.

``session.start`` carries an ``openai.types.live.SessionConfig``; the stand-in
answers ``session.started`` with an ``openai.types.live.SessionResource``: the
same fields with the server's defaults filled in, plus ``id``, ``expires_at``
and ``status``. ``session.update`` carries an
``openai.types.live.SessionUpdateConfig``, which holds only ``delegation``
and ``triggers``: model, instructions, audio (voice and format) and the
startup ``input`` are immutable once the session has started (SDK docstrings
of ``SessionUpdateEvent`` and ``SessionConfig``).

Checks are strict, as OpenAI's are: a field the SDK model does not declare is
an ``unknown_parameter`` error naming its dotted path. The SDK's pydantic
models accept unknown fields silently, so every nested model's
``model_extra`` is walked.

Defaults (SDK docstrings): voice ``marin``; ``audio/pcm`` at 24,000 Hz (16,000 Hz
is accepted too; G.711 is not);
``delegation`` omitted or null means client delegation, with
``acknowledgement_delay_ms`` 0; ``store`` false; blank instructions mean the
server's (:data:`DEFAULT_INSTRUCTIONS`).
"""

from __future__ import annotations

import time
from typing import Any

import pydantic
from openai.types.live import SessionConfig, SessionUpdateConfig
from openai.types.live.built_in_voice import BuiltInVoice

from ..models import RESPONSES_MODELS
from .backend import check_backend
from .errors import LiveError, new_id, unsupported

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "DEFAULT_VOICE",
    "LIVE_MODELS",
    "SESSION_LIFETIME_S",
    "apply_update",
    "check_strict",
    "resolve_start",
]

LIVE_MODELS = ("gpt-live-1", "gpt-live-1.1")
"""The Live models (``openai.types.live.SessionConfig.model``)."""

DEFAULT_VOICE = "marin"
"""``SessionConfig.audio.output.voice`` default, per its SDK docstring."""

DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice assistant. Answer in one or two short spoken sentences."
)
"""The stand-in's frontend instructions when the client gives none (OpenAI's own are not published)."""

SESSION_LIFETIME_S = 3600
"""``expires_at`` is this many seconds after the start (the stand-in never expires a session by itself)."""

_BUILT_IN_VOICES: frozenset[str] = frozenset(BuiltInVoice.__args__)  # type: ignore[attr-defined]


_UNION_TAGS = frozenset({"function", "responses", "client", "decisions", "audio/pcm", "audio/pcmu", "audio/pcma",
                         "developer", "user", "assistant", "text", "output_text", "str", "CustomVoice"})
"""Discriminator values pydantic puts in an error's location; they are not field names."""


def _pydantic_path(loc: tuple[Any, ...], root: str) -> str:
    path = root
    for p in loc:
        if isinstance(p, int):
            path = f"{path}[{p}]"
        elif str(p) not in _UNION_TAGS and not str(p).startswith(("literal[", "function-")):
            path = f"{path}.{p}" if path else str(p)
    return path


def _extras(model: Any, path: str) -> str | None:
    """The dotted path of the first field no SDK model declared, or None."""
    if isinstance(model, pydantic.BaseModel):
        if model.model_extra:
            first = min(model.model_extra)
            return f"{path}.{first}" if path else first
        for name in type(model).model_fields:
            found = _extras(getattr(model, name), f"{path}.{name}" if path else name)
            if found:
                return found
    elif isinstance(model, list):
        for k, v in enumerate(model):
            found = _extras(v, f"{path}[{k}]")
            if found:
                return found
    return None


def check_strict(model: type[pydantic.BaseModel], raw: Any, root: str = "") -> pydantic.BaseModel:
    """Validate ``raw`` with the SDK model ``model``, refusing undeclared fields.

    Parameters
    ----------
    model : type
        An ``openai.types.live`` model, for example ``SessionStartEvent``.
    raw : dict
        The JSON object as received.
    root : str
        Prefix of the ``param`` paths in errors (``"session"`` for a config).

    Raises
    ------
    LiveError
        ``unknown_parameter`` for an undeclared field, ``invalid_value`` for a
        wrong type or value; ``param`` names the field.
    """
    try:
        parsed = model.model_validate(raw)
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        param = _pydantic_path(tuple(first["loc"]), root) or root or None
        raise LiveError(f"Invalid value for '{param}': {first['msg']}", code="invalid_value", param=param) from None
    extra = _extras(parsed, root)
    if extra is not None:
        raise LiveError(f"Unknown parameter: '{extra}'.", code="unknown_parameter", param=extra)
    return parsed


def _resolve_audio(audio: dict[str, Any] | None) -> dict[str, Any]:
    audio = audio or {}
    fmt = audio.get("format") or {"type": "audio/pcm", "rate": 24000}
    if fmt.get("type") != "audio/pcm":
        raise unsupported(
            f"audio.format {fmt.get('type')} (G.711)",
            "the stand-in speaks audio/pcm at 24000 or 16000 Hz; send {'type': 'audio/pcm', 'rate': 24000}",
            param="session.audio.format",
        )
    voice = (audio.get("output") or {}).get("voice") or DEFAULT_VOICE
    if isinstance(voice, dict):
        raise unsupported("A custom voice", f"{voice.get('id')!r} cannot be rendered offline; use a built-in voice "
                          f"such as {DEFAULT_VOICE!r}", param="session.audio.output.voice")
    if voice not in _BUILT_IN_VOICES:
        raise LiveError(f"Invalid value for 'session.audio.output.voice': expected one of "
                        f"{', '.join(sorted(_BUILT_IN_VOICES))}, got {voice!r}", param="session.audio.output.voice")
    return {"format": dict(fmt), "output": {"voice": voice}}


def _resolve_delegation(delegation: dict[str, Any] | None) -> dict[str, Any]:
    if delegation is None:
        return {"type": "client", "acknowledgement_delay_ms": 0}
    kind = delegation["type"]
    if kind == "decisions":
        raise unsupported("Decisions delegation", "use client delegation (the default) or responses",
                          param="session.delegation.type")
    if kind == "responses":
        model = delegation["responses"]["model"]
        if model not in RESPONSES_MODELS:
            raise LiveError(f"The Responses backend model `{model}` does not exist or you do not have access to it.",
                            code="model_not_found", param="session.delegation.responses.model")
        check_backend(delegation["responses"])
    out = dict(delegation)
    out.setdefault("acknowledgement_delay_ms", 0)
    if out["acknowledgement_delay_ms"] < 0:
        raise LiveError("expected session.delegation.acknowledgement_delay_ms >= 0, got "
                        f"{out['acknowledgement_delay_ms']}", param="session.delegation.acknowledgement_delay_ms")
    return out


def _check_input(items: list[dict[str, Any]]) -> None:
    if len(items) > 128:
        raise LiveError(f"expected at most 128 input messages, got {len(items)}", param="session.input")
    for k, item in enumerate(items):
        if len(item["content"]) != 1:
            raise LiveError(f"expected exactly one text part in session.input[{k}].content, got "
                            f"{len(item['content'])}", param=f"session.input[{k}].content")


def resolve_start(session: dict[str, Any]) -> dict[str, Any]:
    """The resolved ``SessionResource`` for a ``session.start``'s ``session``.

    Parameters
    ----------
    session : dict
        The ``SessionConfig`` as received (JSON).

    Returns
    -------
    dict
        ``SessionResource`` fields: ``id`` (``sess_...``), ``expires_at`` (Unix s),
        ``model``, ``status``, ``audio``, ``delegation``, ``input``,
        ``instructions``, ``store``, ``triggers`` and, when given, ``safety_identifier``.

    Raises
    ------
    LiveError
        For unknown fields, a model that is not a Live model, or a part the
        stand-in does not emulate (G.711 or 16 kHz audio, custom voices,
        Decisions delegation or triggers, WebRTC ``client`` settings, ``store``).
    """
    check_strict(SessionConfig, session, "session")
    model = session["model"]
    if model not in LIVE_MODELS:
        raise LiveError(f"The model `{model}` does not exist or you do not have access to it. Expected one of "
                        f"{', '.join(LIVE_MODELS)}.", code="model_not_found", param="session.model")
    if session.get("client") is not None:
        raise unsupported("session.client (WebRTC data channel permissions)",
                          "the stand-in has no WebRTC transport; leave it out on a WebSocket", param="session.client")
    if session.get("triggers"):
        raise unsupported("Decisions triggers", "send no triggers, or an empty list", param="session.triggers")
    if session.get("store"):
        raise unsupported("store", "the stand-in keeps no session for forks or recording download; "
                          "leave store out or false", param="session.store")
    items = [dict(i) for i in session.get("input") or []]
    _check_input(items)
    instructions = session.get("instructions")
    resolved: dict[str, Any] = {
        "id": new_id("sess"),
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "model": model,
        "status": "active",
        "audio": _resolve_audio(session.get("audio")),
        "delegation": _resolve_delegation(session.get("delegation")),
        "input": items,
        "instructions": instructions if instructions and instructions.strip() else DEFAULT_INSTRUCTIONS,
        "store": False,
        "triggers": [],
    }
    if session.get("safety_identifier") is not None:
        resolved["safety_identifier"] = session["safety_identifier"]
    return resolved


def apply_update(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``current`` with a ``session.update``'s sparse ``session`` applied.

    Raises
    ------
    LiveError
        ``immutable_parameter`` for a startup-only field (model, instructions,
        audio, input, store, safety_identifier, client); ``unknown_parameter``
        for any other undeclared field; ``invalid_value`` when the delegation
        type differs from the session's.
    """
    startup_only = set(SessionConfig.model_fields) - set(SessionUpdateConfig.model_fields)
    for key in update:
        if key in startup_only:
            raise LiveError(f"session.{key} cannot change after the session has started; only delegation "
                            "settings and triggers can be updated", code="immutable_parameter", param=f"session.{key}")
    check_strict(SessionUpdateConfig, update, "session")
    out = dict(current)
    if update.get("triggers"):
        raise unsupported("Decisions triggers", "send no triggers, or an empty list", param="session.triggers")
    if "delegation" in update and update["delegation"] is not None:
        new = update["delegation"]
        old = current["delegation"]
        if new["type"] != old["type"]:
            raise LiveError(f"The delegation type cannot change: the session delegates to {old['type']!r}, the "
                            f"update names {new['type']!r}", param="session.delegation.type")
        merged = dict(old)
        if new.get("acknowledgement_delay_ms") is not None:
            merged["acknowledgement_delay_ms"] = new["acknowledgement_delay_ms"]
        if new["type"] == "responses" and new.get("responses"):
            merged["responses"] = {**old.get("responses", {}),
                                   **{k: v for k, v in new["responses"].items() if v is not None}}
        out["delegation"] = _resolve_delegation(merged)
    return out
