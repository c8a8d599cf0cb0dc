"""The offline stand-in: a local server that speaks OpenAI's wire protocol.

Start it with ``python -m voicekit serve`` (or ``voicekit serve``), or from a
notebook with :func:`voicekit.use_standin`.
"""

from __future__ import annotations

from .app import create_app
from .engines import Engines
from .server import StandinServer, serve

__all__ = ["Engines", "StandinServer", "create_app", "serve"]
