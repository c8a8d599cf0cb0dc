"""Where a spoken turn's latency goes: per-turn stage times, kept on the server.

A Realtime or GPT-Live turn runs through stages on several threads: speculative
Whisper during the silence window, the reply's head start (the LLM and Piper's
first piece), the end of the window, the response, its first audio delta. Each
turn gets a :class:`TurnClock`; the code that reaches a stage marks it once with
``time.monotonic()``. Nothing of it goes on the wire: OpenAI's events have no
place for it, and clients must see exactly OpenAI's protocol.

The clocks of the last :data:`KEEP` turns (process-wide, oldest evicted first)
are read over HTTP, voicekit's own endpoint beside ``/v1/voicekit/status``::

    GET /v1/voicekit/timings?session_id=sess_...

answers ``{"object": "list", "data": [turn, ...]}``, oldest first, where each
turn is ``{"object": "voicekit.turn_timing", "session_id", "item_id",
"response_id", "created_at" (Unix s), "marks_ms": {...}, "after_speech_ms":
{...}, "after_window_ms": {...}}``. ``marks_ms`` are ms on the server's
monotonic clock; ``after_speech_ms`` and ``after_window_ms`` give each stage in
ms relative to the end of speech (when the audio at ``audio_end_ms`` had
arrived) and to the end of the VAD window (when ``speech_stopped`` was
emitted); negative values happened before. The stages (absent when a turn never
reached them, for example a head start that was not made):

``speech_end``
    The audio where the speech ended (where the silence window began) arrived.
``stt_start``, ``stt_done``
    Whisper started on the turn (speculatively, during the window) and its
    transcript was ready.
``head_start``
    The LLM started on the reply while the window still ran (:mod:`.realtime.headstart`).
``tool_decision_start``, ``tool_decision_done``
    A session with tools: the LLM's constrained tool decision pass (:mod:`.engines.tool_choice`)
    began and ended; the reply (or the call) comes after it.
``llm_first_token``, ``llm_first_phrase``
    The LLM's first text, and the first piece Piper can speak.
``tts_first_chunk``
    Piper's first audio of that piece.
``window_end``
    The turn was judged over (``input_audio_buffer.speech_stopped``; on GPT-Live,
    where the model decides, the end of its silence window).
``response_start``
    The response began (``response.created``; on Live, the reply started).
``first_delta_sent``
    The first audio delta was queued for the client.
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["KEEP", "STAGES", "TIMINGS_PATH", "TurnClock", "recent", "record", "routes"]

TIMINGS_PATH = "/v1/voicekit/timings"
KEEP = 256
"""Turn clocks kept (about 60 KB); older ones are evicted."""

STAGES = ("speech_end", "stt_start", "stt_done", "head_start", "tool_decision_start", "tool_decision_done",
          "llm_first_token", "llm_first_phrase", "tts_first_chunk", "window_end", "response_start", "first_delta_sent")

_lock = threading.Lock()
_recent: collections.deque[TurnClock] = collections.deque(maxlen=KEEP)


class TurnClock:
    """The stage times of one turn; :meth:`mark` is thread-safe and keeps the first time."""

    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id
        self.item_id: str | None = None
        self.response_id: str | None = None
        self.created_at = time.time()
        self.marks: dict[str, float] = {}

    def mark(self, stage: str, at: float | None = None) -> None:
        """Record ``stage`` (one of :data:`STAGES`) at ``at`` (``time.monotonic()`` s; default now), once."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; expected one of {STAGES}")
        self.marks.setdefault(stage, time.monotonic() if at is None else at)

    def wire(self) -> dict[str, Any]:
        """The JSON shape described in the module docstring."""
        marks = dict(self.marks)

        def relative(origin: str) -> dict[str, float]:
            if origin not in marks:
                return {}
            return {k: round(1000 * (v - marks[origin]), 1) for k, v in marks.items()}

        return {"object": "voicekit.turn_timing", "session_id": self.session_id, "item_id": self.item_id,
                "response_id": self.response_id, "created_at": round(self.created_at, 3),
                "marks_ms": {k: round(1000 * v, 1) for k, v in marks.items()},
                "after_speech_ms": relative("speech_end"), "after_window_ms": relative("window_end")}


def record(clock: TurnClock) -> None:
    """Keep ``clock`` among the recent turns (marks added later still show)."""
    with _lock:
        _recent.append(clock)


def recent(session_id: str | None = None) -> list[dict[str, Any]]:
    """The kept turns (of ``session_id`` only, if given), oldest first, in :meth:`TurnClock.wire` shape."""
    with _lock:
        clocks = list(_recent)
    return [c.wire() for c in clocks if session_id is None or c.session_id == session_id]


async def _timings(request: Request) -> JSONResponse:
    return JSONResponse({"object": "list", "data": recent(request.query_params.get("session_id"))})


routes = [Route(TIMINGS_PATH, _timings, methods=["GET"])]
