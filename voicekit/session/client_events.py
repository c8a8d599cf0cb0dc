"""Check a client event against the SDK's own model before it is sent.

The brief's rule, and the one way to be sure the same cell works against OpenAI:
what the kit sends is validated with the SDK's pydantic models
(``openai.types.realtime.RealtimeClientEvent``, ``openai.types.live.ClientEvent``,
``openai.types.realtime.RealtimeTranslationClientEvent``), strictly (no type
coercion) and with no field the models do not declare (pydantic keeps undeclared
fields as ``model_extra``; an API would refuse them).
"""

from __future__ import annotations

import importlib
import typing
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Union

import pydantic

__all__ = ["LIVE", "REALTIME", "TRANSLATION", "check_client_event"]

REALTIME = "openai.types.realtime:RealtimeClientEvent"
"""The GA Realtime API's client events (``client.realtime.connect``)."""

LIVE = "openai.types.live:ClientEvent"
"""GPT-Live's client events (``client.live.connect`` / the sideband)."""

TRANSLATION = "openai.types.realtime:RealtimeTranslationClientEvent"
"""The Realtime translation API's client events (``client.realtime.translations.connect``)."""


@cache
def _adapter(union: str) -> pydantic.TypeAdapter[Any]:
    """The union as a pydantic adapter, discriminated by ``type`` (so an error names one model)."""
    module, name = union.split(":")
    sdk_type = getattr(importlib.import_module(module), name)
    if typing.get_origin(sdk_type) is Annotated:  # the SDK's own PropertyInfo(discriminator=...)
        sdk_type = typing.get_args(sdk_type)[0]
    members = typing.get_args(sdk_type)
    try:
        discriminated: Any = Annotated[Union[members], pydantic.Field(discriminator="type")]  # noqa: UP007
        return pydantic.TypeAdapter(discriminated)
    except pydantic.PydanticUserError:  # a member without a literal ``type``: plain union
        return pydantic.TypeAdapter(sdk_type)


def check_client_event(union: str, event: Mapping[str, Any]) -> None:
    """Validate ``event`` (a dict, as sent on the wire) with the SDK's model union ``union``.

    Parameters
    ----------
    union : str
        ``"module:Name"`` of the SDK's client event union: :data:`REALTIME`,
        :data:`LIVE` or :data:`TRANSLATION`.

    Raises
    ------
    ValueError
        Naming the event type and what the SDK's model refuses (a
        ``pydantic.ValidationError`` is a ``ValueError``), or the fields it does not define.
    """
    kind = str(event.get("type"))
    try:
        model = _adapter(union).validate_python(dict(event), strict=True)
    except pydantic.ValidationError as exc:
        raise ValueError(f"the SDK's {union.split(':')[1]} refuses this {kind!r} event: {exc}") from exc
    _no_extras(model, kind)


def _no_extras(model: Any, path: str) -> None:
    if isinstance(model, pydantic.BaseModel):
        if model.model_extra:
            raise ValueError(f"{path} has fields the SDK's models do not define: {sorted(model.model_extra)}")
        for name in type(model).model_fields:
            _no_extras(getattr(model, name), f"{path}.{name}")
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            _no_extras(item, f"{path}[{i}]")
