"""Delegation in a Live session: the records, and the application's part of the work.

- **Client delegation.** On ``session.delegation.created`` with target ``client`` the
  application does the work and answers with ``session.commentary.append`` carrying that
  ``delegation_id``; the model then speaks the result
  (``openai.types.live.CommentaryAppendEventParam``). The answer's ``event_id`` comes
  back as ``client_event_id`` on ``session.commentary.appended``, which is how a cell
  waits for it.
- **Responses delegation.** The session runs the Responses call itself and forwards its
  stream events as ``response.event``. Function calls it cannot run come back to the
  application (a ``response.completed`` whose output holds ``function_call`` items): the
  application runs them, sends ``response.item.create`` with each
  ``function_call_output``, then ``response.create``; the backend's final answer is spoken.

Source: OpenAI guide "Delegation and tools in GPT-Live" (live-delegation).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..session.events import RealtimeEvent

__all__ = ["Delegator", "LiveDelegation", "answer_id", "answers", "final_response"]

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
    calls: list[dict[str, Any]] = field(default_factory=list)
    """Function calls a Responses delegation handed back (``name``, ``arguments``,
    ``output``), in order."""


def answer_id(delegation_id: str) -> str:
    """The ``event_id`` of the commentary that answers ``delegation_id``."""
    return f"evt_vk_{delegation_id}"


def answers(delegation_id: str) -> Callable[[RealtimeEvent], bool]:
    """A ``wait_for`` condition: the ``session.commentary.appended`` of that answer."""
    wanted = answer_id(delegation_id)
    return lambda event: event.data.get("client_event_id") == wanted


def final_response(delegation_id: str) -> Callable[[RealtimeEvent], bool]:
    """A ``wait_for`` condition: the ``response.event`` that completes a Responses
    delegation's last response (one that asks for no more function calls)."""
    def done(event: RealtimeEvent) -> bool:
        inner = event.data.get("event") or {}
        if event.data.get("delegation_id") != delegation_id or inner.get("type") != "response.completed":
            return False
        output = (inner.get("response") or {}).get("output") or []
        return not any(item.get("type") == "function_call" for item in output)
    return done


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

    def response_event(self, data: dict[str, Any], functions: Mapping[str, Callable[..., Any]]) -> None:
        """A ``response.event`` of a Responses delegation: once a response has completed
        with function calls, run them and answer (a call may only be answered once the
        response that made it is over: its ``previous_response_id`` must exist)."""
        inner = data.get("event") or {}
        if inner.get("type") != "response.completed":
            return
        calls = [dict(o) for o in (inner.get("response") or {}).get("output") or [] if o.get("type") == "function_call"]
        if not calls:
            return
        record = next((r for r in self.records if r.id == data.get("delegation_id")), None)
        job = asyncio.get_running_loop().create_task(self._run_calls(record, calls, functions))
        self._tasks.add(job)
        job.add_done_callback(self._tasks.discard)

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

    async def _run_calls(self, record: LiveDelegation | None, calls: list[dict[str, Any]],
                         functions: Mapping[str, Callable[..., Any]]) -> None:
        for item in calls:
            fn = functions.get(item.get("name", ""))
            try:
                if fn is None:
                    raise KeyError(f"no function named {item.get('name')!r} in LiveSession.functions")
                result = await asyncio.to_thread(fn, **json.loads(item.get("arguments") or "{}"))
                output = result if isinstance(result, str) else json.dumps(result)
            except Exception as exc:  # noqa: BLE001 -- the backend hears the error and can say so
                logger.warning("function %s failed: %s", item.get("name"), exc)
                output = json.dumps({"error": f"{type(exc).__name__}: {exc}"})
            if record is not None:
                record.calls.append({"name": item.get("name"), "arguments": item.get("arguments"), "output": output})
                record.result = output
            await self._send({"type": "response.item.create", "item": {
                "type": "function_call_output", "call_id": item["call_id"], "output": output}})
        await self._send({"type": "response.create"})
