"""Serialising the SDK's pydantic models for the wire."""

from __future__ import annotations

from typing import Any

from openai import BaseModel

__all__ = ["dump"]


def dump(model: BaseModel) -> dict[str, Any]:
    """``model`` as a JSON-ready dict, leaving out unset optional fields."""
    return model.model_dump(mode="json", exclude_none=True)
