"""Client delegation in a Live session: the records, and answering them with a backend.

On ``session.delegation.created`` with target ``client`` the application does the work
and answers with ``session.commentary.append`` carrying that ``delegation_id``; the
model then speaks the result (``openai.types.live.CommentaryAppendEventParam``; guide
"Delegation and tools in GPT-Live"). The answer's ``event_id`` comes back as
``client_event_id`` on ``session.commentary.appended``, which is how a cell waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..realtime.turns import RealtimeEvent

__all__ = ["Delegator", "LiveDelegation", "answer_id", "answers"]

logger = logging.getLogger("voicekit.live")


@dataclass
class LiveDelegation:
    """One ``session.delegation.created`` and what the application answered.

    ``task`` is the user's words the delegation was made on; ``result`` the text sent
    back as commentary (None until answered); ``seconds`` how long the backend took.
    """

    id: str
    target: str
    task: str
    offset_ms: int
    result: str | None = None
    error: str | None = None
    seconds: float | None = None


def answer_id(delegation_id: str) -> str:
    """The ``event_id`` of the commentary that answers ``delegation_id``."""
    return f"evt_vk_{delegation_id}"


def answers(delegation_id: str) -> Callable[[RealtimeEvent], bool]:
    """A ``wait_for`` condition: the ``session.commentary.appended`` of that answer."""
    wanted = answer_id(delegation_id)
    return lambda event: event.data.get("client_event_id") == wanted


class Delegator:
    """Keeps :class:`LiveDelegation` records and runs the backend for client ones.

    Parameters
    ----------
    send : callable
        Sends one client event now (on the session's loop).
    """

    def __init__(self, send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        self.records: list[LiveDelegation] = []
        self._send = send
        self._tasks: set[asyncio.Task[None]] = set()

    def created(self, data: dict[str, Any], task: str, backend: Callable[[str], str] | None) -> LiveDelegation:
        """Record a ``session.delegation.created`` (on the session's loop) and, for a client
        delegation with a ``backend``, start answering it."""
        d = data["delegation"]
        record = LiveDelegation(d["id"], d["target"], task, data.get("offset_ms", 0))
        self.records.append(record)
        if d["target"] == "client" and backend is not None:
            job = asyncio.get_running_loop().create_task(self._answer(record, backend))
            self._tasks.add(job)
            job.add_done_callback(self._tasks.discard)
        return record

    def cancel(self) -> None:
        """Stop answering (the session is closing)."""
        for job in list(self._tasks):
            job.cancel()

    async def _answer(self, record: LiveDelegation, backend: Callable[[str], str]) -> None:
        t0 = time.perf_counter()
        try:
            record.result = str(await asyncio.to_thread(backend, record.task))
        except Exception as exc:  # noqa: BLE001 -- the model hears that it failed
            record.error = f"{type(exc).__name__}: {exc}"
            logger.warning("delegate failed: %s", record.error)
            record.result = f"The backend could not do that ({record.error})."
        record.seconds = time.perf_counter() - t0
        await self._send({"type": "session.commentary.append", "content": record.result,
                          "delegation_id": record.id, "event_id": answer_id(record.id)})
