"""Responses delegation: the Live session runs the stand-in's own Responses engine.

With ``session.delegation`` of type ``responses``, a delegated request runs
:func:`voicekit.standin.routes.responses.run_response` with the configured backend
settings (``openai.types.live.ResponsesDelegationConfig``: ``model``,
``instructions``, ``tools``, ``tool_choice``, ``max_output_tokens``,
``parallel_tool_calls``, ``reasoning``, ``text``) and the conversation so far
as input. As the "Delegation and tools in GPT-Live" guide describes:

- every Responses stream event reaches the client wrapped in a
  ``response.event`` (``openai.types.live.ResponseEvent``) with the
  ``delegation_id``; ``session.delegation.created`` carries the
  ``response_id``;
- a function call is the client's to complete: the response ends with the
  ``function_call`` item, the client sends ``response.item.create`` with a
  ``function_call_output`` and then ``response.create``, and the backend
  continues (``previous_response_id``) with that result;
- the backend's final text is what the Live model speaks (as commentary).

A continuation after tool results runs with ``tool_choice`` ``auto`` whatever
the configured choice: SmolLM2 under a forced choice would call the tool again
and again.

Only function tools run (the stand-in's Responses engine has no hosted tools);
other tool types are refused at ``session.start``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..errors import OpenAIError
from ..routes.responses import response_store as _store
from ..routes.responses import run_response
from .delegation import Delegation
from .errors import LiveError, error_event, new_id, unsupported
from .replies import cancel_acknowledgements, speak_context
from .state import LiveState

__all__ = ["BACKEND_SETTINGS", "ResponsesBackend", "check_backend"]

log = logging.getLogger("voicekit.standin.live")

BACKEND_SETTINGS = ("instructions", "tools", "tool_choice", "max_output_tokens", "parallel_tool_calls",
                    "reasoning", "text")
"""``ResponsesDelegationConfig`` fields passed through to each Responses request (``service_tier`` is not)."""


def check_backend(config: dict[str, Any]) -> None:
    """Refuse backend settings the stand-in's Responses engine cannot honour.

    Raises
    ------
    LiveError
        ``unsupported`` for a tool that is not a function tool.
    """
    for k, tool in enumerate(config.get("tools") or []):
        if tool.get("type") != "function":
            raise unsupported(f"The Responses backend tool {tool.get('type')!r}",
                              "the stand-in's Responses engine runs only function tools",
                              param=f"session.delegation.responses.tools[{k}]")


class ResponsesBackend:
    """The Responses side of one Live session: the pending function calls and the last response."""

    def __init__(self, conn: LiveState) -> None:
        self.conn = conn
        self.items: list[dict[str, Any]] = []
        """Client items (``response.item.create``) waiting for the next ``response.create``."""
        self.last_response_id: str | None = None
        self.waiting: Delegation | None = None
        """The delegation whose response ended on a function call, until the client continues it."""
        self._streaming = 0
        """Responses requests whose final event has not been forwarded yet."""
        self._settled = asyncio.Event()
        """Set while no request streams: a ``response.create`` waits for it (:meth:`create`)."""
        self._settled.set()

    def _body(self, extra: dict[str, Any]) -> dict[str, Any]:
        assert self.conn.session is not None
        config = self.conn.session["delegation"]["responses"]
        body: dict[str, Any] = {k: config[k] for k in BACKEND_SETTINGS if config.get(k) is not None}
        body.update(model=config["model"], store=True, **extra)
        return body

    def _conversation(self) -> list[dict[str, Any]]:
        items = []
        for e in self.conn.context.entries:
            role = e.role if e.kind == "input" else e.kind
            if role in ("user", "assistant", "developer"):
                kind = "output_text" if role == "assistant" else "input_text"
                items.append({"type": "message", "role": role, "content": [{"type": kind, "text": e.text}]})
        return items

    async def run(self, delegation: Delegation, *, body: dict[str, Any] | None = None) -> None:
        """Run one Responses request for ``delegation`` and forward its events; speak or wait for tools."""
        final = await self._stream(delegation, body or self._body({"input": self._conversation()}))
        if final is None or self.waiting is delegation:
            return
        text = " ".join(p.get("text", "") for o in final.get("output", []) if o.get("type") == "message"
                        for p in o.get("content", []) if p.get("type") == "output_text").strip()
        delegation.answered = True
        cancel_acknowledgements(self.conn)
        self.conn.context.add("commentary", text or "The backend found no answer.", delegation.id)
        await speak_context(self.conn)

    async def _stream(self, delegation: Delegation, body: dict[str, Any]) -> dict[str, Any] | None:
        """Forward the request's events as ``response.event``; its final response, or None if it was refused."""
        conn = self.conn
        self._streaming += 1
        self._settled.clear()
        final: dict[str, Any] | None = None
        try:
            events = await asyncio.to_thread(run_response, conn.engines, body, _store(conn.app_state))
            announced = False
            while (event := await asyncio.to_thread(next, events, None)) is not None:
                if not announced and event.get("type") == "response.created":
                    announced = True
                    self._announce(delegation, event["response"]["id"])
                if event.get("type") in ("response.completed", "response.incomplete", "response.failed"):
                    final = event["response"]
                    # before the client sees the final event: its response.item.create + response.create may
                    # arrive at once, and must continue this response (issue 24, defect 7: a new delegation
                    # without previous_response_id answered "No tool call found for function call output")
                    self.last_response_id = final["id"]
                    if any(o.get("type") == "function_call" for o in final.get("output", [])):
                        self.waiting = delegation
                conn.emit({"type": "response.event", "event": event, "delegation_id": delegation.id})
        except OpenAIError as err:  # refused up front, or while streaming (the generator checks lazily)
            conn.emit(error_event(LiveError(
                f"The Responses backend refused the delegated request: {err.message}", code=err.code or "invalid_value",
                param=f"session.delegation.responses.{err.param}" if err.param else None), None))
            return None
        finally:
            self._streaming -= 1
            if not self._streaming:
                self._settled.set()
        return final

    def _announce(self, delegation: Delegation, response_id: str) -> None:
        if delegation.announced:
            return
        delegation.announced = True
        body = {"id": delegation.id, "target": "responses", "type": "delegation", "response_id": response_id}
        self.conn.emit({"type": "session.delegation.created", "delegation": body,
                        "offset_ms": int(self.conn.now_ms())})

    async def create(self) -> None:
        """``response.create``: continue the waiting delegation with the client's items, or start a new one.

        A client may answer a function call at its ``response.output_item.done``, before the backend's
        ``response.completed``: the continuation then starts once every streaming response has ended,
        so it continues the response that called (``previous_response_id``) instead of starting a new one.
        """
        items, self.items = self.items, []
        self.conn.spawn(self._create(items))

    async def _create(self, items: list[dict[str, Any]]) -> None:
        await self._settled.wait()
        if self.waiting is not None:
            delegation, self.waiting = self.waiting, None
            # after tool results the backend answers (tool_choice auto): a forced choice would call again
            body = self._body({"input": items, "previous_response_id": self.last_response_id, "tool_choice": "auto"})
        else:
            delegation = Delegation(new_id("dlg"), "responses")
            self.conn.delegations[delegation.id] = delegation
            body = self._body({"input": [*self._conversation(), *items]})
        await self.run(delegation, body=body)
