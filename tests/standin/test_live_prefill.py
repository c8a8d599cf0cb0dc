"""A GPT-Live session's instructions go through the LLM's prompt pass when the session
starts, so its first answer does not pay for them after the user stopped speaking
(issue 26: the first turn of a new session was the slow one). Checks what is asked of
the LLM, never how long it takes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from voicekit.standin.live.connection import LiveConnection


class _LLM:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Any], dict[str, Any]]] = []

    def respond(self, turns: list[Any], **kwargs: Any) -> Any:
        self.calls.append((list(turns), kwargs))
        return iter(())


def test_session_start_runs_the_prompt_pass_over_its_instructions() -> None:
    llm = _LLM()

    async def main() -> None:
        conn = LiveConnection(SimpleNamespace(llm=llm))  # type: ignore[arg-type]
        conn.start({"instructions": "Speak like a pirate.", "input": [], "delegation": {"type": None}}, False)
        for _ in range(100):
            if llm.calls:
                break
            await asyncio.sleep(0.02)
        conn.closed = True
        await asyncio.sleep(0.15)  # the listener's watch loop ends

    asyncio.run(main())
    assert len(llm.calls) == 1, "expected one prompt pass when the session starts, before any audio"
    turns, kwargs = llm.calls[0]
    assert turns[0].role == "system" and turns[0].content.startswith("Speak like a pirate.")
    assert turns[-1].role == "user" and kwargs["max_tokens"] == 1
