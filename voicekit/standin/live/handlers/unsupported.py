"""Client events of Live parts the stand-in does not emulate: each answered with an ``error`` naming the part.

Never a silent drop: audio fixtures (``session.output_audio.fixture.play``),
Decisions (``decision.create``, ``decision.item.create``,
``decision.item.delete``), the Responses backend's own commands
(``response.create``, ``response.item.create``, which need Responses
delegation), forks (``fork.session.start``) and SIP (``transport.dtmf.send``).
These are registered without an SDK model: the refusal comes first, whatever
the payload (the names are those of ``openai.types.live.ClientEvent``,
``ForkClientEvent`` and ``ConnectClientEvent``).
"""

from __future__ import annotations

from typing import Any

from ..connection import LiveConnection
from ..errors import LiveError, unsupported
from .registry import handles

__all__: list[str] = []


@handles("session.output_audio.fixture.play", None)
async def fixture_play(conn: LiveConnection, event: dict[str, Any]) -> None:
    raise unsupported("Audio fixtures (session.output_audio.fixture.play)",
                      "the stand-in plays only the model's own speech")


async def _decisions(conn: LiveConnection, event: dict[str, Any]) -> None:
    raise unsupported(f"Decisions delegation ({event['type']})",
                      "use client delegation (the default) instead")


for _kind in ("decision.create", "decision.item.create", "decision.item.delete"):
    handles(_kind, None)(_decisions)


async def _responses(conn: LiveConnection, event: dict[str, Any]) -> None:
    assert conn.session is not None
    if conn.session["delegation"]["type"] != "responses":
        raise LiveError(f"{event['type']} requires Responses delegation; this session delegates to "
                        f"{conn.session['delegation']['type']!r}", code="invalid_request", param="type")
    raise unsupported(f"The Responses backend's {event['type']}", "the stand-in does not run it yet")


for _kind in ("response.create", "response.item.create"):
    handles(_kind, None)(_responses)


@handles("transport.dtmf.send", None)
async def dtmf_send(conn: LiveConnection, event: dict[str, Any]) -> None:
    raise unsupported("SIP (transport.dtmf.send)", "the stand-in has no telephone transport")


@handles("fork.session.start", None)
async def fork_start(conn: LiveConnection, event: dict[str, Any]) -> None:
    raise unsupported("Forks (fork.session.start)", "the stand-in stores no session to fork")
