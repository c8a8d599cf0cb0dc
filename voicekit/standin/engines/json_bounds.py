"""Length bounds on a JSON schema, so that grammar-constrained output always finishes.

llama.cpp turns a JSON schema into a grammar (its ``json_schema`` request field),
and every token the model then writes keeps the output a prefix of a valid
document. A grammar does not make the document *end*, though: SmolLM2-135M can
loop inside a free string (``"amount": "); 1.25g, 1.25ml, 100g..."``) or repeat
one array item (``"columns": ["id", "id", "id", ...``) until its token budget
runs out, and the cut-off output is not JSON. Measured on SmolLM2-135M with a
pydantic ``Recipe`` (title, ingredients, steps) and a 512-token budget: 3 of 3
replies ran to the budget inside an ever-growing ``ingredients`` array.

:func:`bounded` adds ``maxLength`` to every free string and ``maxItems`` to
every array that has none, which llama.cpp's schema-to-grammar conversion
honours; once a bound is reached the only tokens the grammar allows close the
string or the array, so the document always completes. Numbers need no bound:
llama.cpp's grammar already allows at most 16 digits on either side of the point.

A schema's own bounds are kept. Only the grammar sees the bounded copy; the
schema a client sent (and gets echoed) is unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MAX_ARRAY_ITEMS", "MAX_STRING_CHARS", "bounded"]

MAX_STRING_CHARS = 120
"""The longest free string (no ``enum``, ``const``, ``format``, ``pattern`` or own ``maxLength``)
the grammar lets the model write: two sentences, more than a name, a place or an amount needs."""

MAX_ARRAY_ITEMS = 8
"""The most items the grammar lets an array without its own ``maxItems`` hold; an array of
enum values holds at most as many items as the enum has values (fewer than 8)."""

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
"""Keywords whose value maps names to subschemas."""

_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
"""Keywords whose value is a list of subschemas."""

_SCHEMA_ONE = ("items", "additionalProperties", "not", "if", "then", "else", "contains", "propertyNames")
"""Keywords whose value is one subschema."""

_STRING_SHAPES = {"enum", "const", "format", "pattern", "maxLength"}
"""A string schema with any of these is already bounded (or shaped) by its author."""


def _is(schema: dict[str, Any], kind: str) -> bool:
    t = schema.get("type")
    return t == kind or (isinstance(t, list) and kind in t)


def _enum_size(items: Any) -> int | None:
    """How many values an array's ``items`` schema admits, when it is a plain enum."""
    if isinstance(items, dict) and isinstance(items.get("enum"), list):
        return len(items["enum"])
    return None


def bounded(schema: Any, *, max_chars: int = MAX_STRING_CHARS, max_items: int = MAX_ARRAY_ITEMS) -> Any:
    """A copy of ``schema`` whose every free string and array has a length bound.

    Parameters
    ----------
    schema : dict
        A JSON schema (draft 2020-12 keywords, as OpenAI's structured outputs and
        function tools use them); walked through ``properties``, ``items``,
        ``anyOf`` and the other subschema keywords, ``$defs`` included.
    max_chars : int
        ``maxLength`` given to a string with no ``enum``, ``const``, ``format``,
        ``pattern`` or ``maxLength`` of its own.
    max_items : int
        ``maxItems`` given to an array with none; an array of enum values gets
        at most the number of values (and at least ``minItems``, if higher).

    Returns
    -------
    dict
        The bounded copy; ``schema`` itself is not changed.
    """
    if isinstance(schema, list):
        return [bounded(s, max_chars=max_chars, max_items=max_items) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = dict(schema)

    def sub(value: Any) -> Any:
        return bounded(value, max_chars=max_chars, max_items=max_items)

    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), dict):
            out[key] = {name: sub(s) for name, s in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [sub(s) for s in out[key]]
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), dict):
            out[key] = sub(out[key])
    if _is(out, "string") and not _STRING_SHAPES & set(out):
        out["maxLength"] = max_chars
    if _is(out, "array") and "maxItems" not in out:
        limit = min(max_items, _enum_size(out.get("items")) or max_items)
        minimum = out.get("minItems")
        out["maxItems"] = max(limit, minimum) if isinstance(minimum, int) else limit
    return out
