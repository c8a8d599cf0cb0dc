"""Handlers for the Live client events, one module per event family, registered by event type.

- :mod:`.session`: ``session.start``, ``session.update``, ``session.close``;
- :mod:`.audio`: ``session.input_audio.append``, ``.mute``, ``.unmute``;
- :mod:`.context`: ``session.instructions.append``, ``session.commentary.append``,
  ``session.thinking.append``;
- :mod:`.responses`: ``response.item.create``, ``response.create`` (Responses delegation);
- :mod:`.unsupported`: the commands of parts the stand-in does not emulate
  (audio fixtures, Decisions, the Responses backend's commands, forks, SIP),
  each answered with an ``error`` event that names the part.

Each handler is registered with the SDK model its event is checked against
(``openai.types.live``; OpenAI API reference, "Live client events"). A handler
that refuses an event raises :class:`~..errors.LiveError`.
"""

from __future__ import annotations

from . import audio, context, responses, session, unsupported
from .registry import HANDLERS

__all__ = ["HANDLERS", "audio", "context", "responses", "session", "unsupported"]
