"""The wire, both ways: serialising the SDK's pydantic models, and checking request fields.

The checks are shared by Chat Completions (:mod:`.chat`) and Responses
(:mod:`.responses`): both take ``temperature``, ``top_p``, the two penalties
and a token cap with the same ranges (OpenAI API reference, "Create chat
completion" and "Create a model response"), and both refuse parameters the
SDK's request ``TypedDict`` does not declare.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from typing import Any

from openai import BaseModel

from ..errors import OpenAIError

__all__ = ["bad", "check_known", "declared_params", "dump", "number", "penalties", "positive_int"]


def dump(model: BaseModel) -> dict[str, Any]:
    """``model`` as a JSON-ready dict under its wire names (aliases such as ``schema``), leaving out unset optional fields."""
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def bad(message: str, param: str | None, code: str | None = "invalid_value") -> OpenAIError:
    """A 400 ``invalid_request_error`` naming ``param``."""
    return OpenAIError(400, message, param=param, code=code)


def declared_params(*typed_dicts: type, extra: Iterable[str] = ()) -> frozenset[str]:
    """The top-level request fields the SDK declares: the keys of ``typed_dicts`` (request ``TypedDict`` s), plus ``extra``."""
    names: set[str] = set(extra)
    for td in typed_dicts:
        names |= set(typing.get_type_hints(td))
    return frozenset(names)


def check_known(body: dict[str, Any], known: frozenset[str], message: str, code: str) -> None:
    """Raise a 400 naming the first field of ``body`` that is not in ``known``.

    ``message`` is formatted with ``{name}``: OpenAI words it differently per
    API ("Unrecognized request argument supplied: X" for Chat Completions,
    "Unknown parameter: 'X'." for Responses).
    """
    for name in body:
        if name not in known:
            raise bad(message.format(name=name), name, code)


@typing.overload
def number(body: dict[str, Any], name: str, lo: float, hi: float, default: float) -> float: ...
@typing.overload
def number(body: dict[str, Any], name: str, lo: float, hi: float, default: None) -> float | None: ...
def number(body: dict[str, Any], name: str, lo: float, hi: float, default: float | None) -> float | None:
    """``body[name]`` as a float in ``[lo, hi]``, or ``default`` when absent or null.

    Raises
    ------
    OpenAIError
        400 naming ``name`` when the value is not a number in range.
    """
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        raise bad(f"Invalid value for '{name}': expected a number from {lo:g} to {hi:g}, got {value!r}.", name)
    return float(value)


def positive_int(body: dict[str, Any], name: str, default: int, cap: int) -> int:
    """``body[name]`` as an integer >= 1 (at most ``cap``), or ``default``.

    Raises
    ------
    OpenAIError
        400 naming ``name`` when the value is not a positive integer.
    """
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad(f"Invalid value for '{name}': expected a positive integer, got {value!r}.", name)
    return min(value, cap)


def penalties(body: dict[str, Any]) -> dict[str, float]:
    """``frequency_penalty`` and ``presence_penalty`` (each -2 to 2) that ``body`` sets.

    llama.cpp takes both under OpenAI's names and meaning (see :mod:`.llm`).
    """
    out: dict[str, float] = {}
    for name in ("frequency_penalty", "presence_penalty"):
        value = number(body, name, -2, 2, None)
        if value is not None:
            out[name] = value
    return out
