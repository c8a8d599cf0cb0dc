"""Voice agents: the same assistant built two ways, measured the same way.

::

    agents/
    ├── cascaded.py       CascadedAgent: Transcription -> Chat Completions with tools -> Speech
    ├── cascaded_turn.py  CascadedTurn, the record of one turn, and the TTS worker
    ├── _cascaded_llm.py  one turn's streamed chat requests and tool rounds
    ├── realtime_agent.py RealtimeAgent: the same agent over a RealtimeSession
    ├── realtime_metrics.py RealtimeMeter: TurnMetrics of a RealtimeSession (WebSocket or WebRTC sideband)
    ├── tools.py          tool(fn): typed Python functions as Chat and Realtime tools
    ├── turn_metrics.py   TurnMetrics per turn (stage latencies, voice-to-voice, cost)
    └── pricing.py        the dated OpenAI price table

Import arrows point one way: ``realtime_agent`` -> ``cascaded`` (its default
instructions) -> ``cascaded_turn`` -> ``turn_metrics`` -> ``pricing``; ``realtime_agent``
-> ``realtime_metrics`` -> ``turn_metrics``; ``tools`` stands alone.
"""

from __future__ import annotations

from .cascaded import DEFAULT_INSTRUCTIONS, CascadedAgent
from .cascaded_turn import CascadedTurn
from .pricing import PRICES, PRICES_DATE, Usage
from .realtime_agent import RealtimeAgent
from .realtime_metrics import RealtimeMeter
from .tools import Tool, Toolbox, ToolCallRecord, tool
from .turn_metrics import TurnMetrics, summarize

__all__ = [
    "DEFAULT_INSTRUCTIONS",
    "PRICES",
    "PRICES_DATE",
    "CascadedAgent",
    "CascadedTurn",
    "RealtimeAgent",
    "RealtimeMeter",
    "Tool",
    "ToolCallRecord",
    "Toolbox",
    "TurnMetrics",
    "Usage",
    "summarize",
    "tool",
]
