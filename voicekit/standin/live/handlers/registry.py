"""The handler registry: client event type -> (SDK model it is checked against, handler)."""

from __future__ import annotations

from ...transport.wire import Registry

__all__ = ["HANDLERS", "handles"]

HANDLERS = Registry()
"""Client event type -> (``openai.types.live`` model, or None to skip the check, handler)."""

handles = HANDLERS.handles
