"""Client events of Live parts the stand-in does not emulate: each answered with an ``error`` naming the part.

Never a silent drop: audio fixtures (``session.output_audio.fixture.play``),
Decisions (``decision.create``, ``decision.item.create``,
``decision.item.delete``), forks (``fork.session.start``) and SIP (``transport.dtmf.send``).
These are registered without an SDK model: the refusal comes first, whatever
the payload (the names are those of ``openai.types.live.ClientEvent``,
``ForkClientEvent`` and ``ConnectClientEvent``).
"""

from __future__ import annotations

from typing import Any

from ..errors import unsupported
from ..state import LiveState
from .registry import handles

__all__: list[str] = []


@handles("session.output_audio.fixture.play", None)
async def fixture_play(conn: LiveState, event: dict[str, Any]) -> None:
    raise unsupported("Audio fixtures (session.output_audio.fixture.play)",
                      "the stand-in plays only the model's own speech")


async def _decisions(conn: LiveState, event: dict[str, Any]) -> None:
    raise unsupported(f"Decisions delegation ({event['type']})",
                      "use client delegation (the default) instead")


for _kind in ("decision.create", "decision.item.create", "decision.item.delete"):
    handles(_kind, None)(_decisions)


@handles("transport.dtmf.send", None)
async def dtmf_send(conn: LiveState, event: dict[str, Any]) -> None:
    raise unsupported("SIP (transport.dtmf.send)", "the stand-in has no telephone transport")


@handles("fork.session.start", None)
async def fork_start(conn: LiveState, event: dict[str, Any]) -> None:
    raise unsupported("Forks (fork.session.start)", "the stand-in stores no session to fork")
