"""The handler registry: client event type -> (SDK model it is checked against, handler)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..state import Handler

__all__ = ["HANDLERS", "handles"]

HANDLERS: dict[str, tuple[type[Any] | None, Handler]] = {}
"""Client event type -> (``openai.types.live`` model, or None to skip the check, handler)."""


def handles(event_type: str, model: type[Any] | None) -> Callable[[Handler], Handler]:
    """Register the decorated coroutine as the handler of ``event_type``, checked against ``model``."""

    def register(handler: Handler) -> Handler:
        HANDLERS[event_type] = (model, handler)
        return handler

    return register
