"""Who is this stand-in: the identity probe and the status endpoint (voicekit's own, not OpenAI's).

``GET /v1/voicekit/identity?nonce=N`` answers without a token::

    {"object": "voicekit.identity", "instance_id": "...", "proof": "<hex>"}

where ``proof`` is HMAC-SHA256(token, nonce + ":" + instance_id) in hex (null
when the stand-in has no token). A client that read the token from its 0600
runtime file sends only a fresh random nonce, so a foreign or stale server on
that port can neither answer the proof nor learn the token.

``GET /v1/voicekit/status`` (token required like every other route) answers
pid, start time, uptime (s), resident memory (bytes), how many kernels use it
(``kernels``: distinct ``?kernel=<id>`` values seen in the last
:data:`KERNEL_WINDOW_S` seconds, other than the asker's own; every notebook kernel's
keep-alive sends its id, ``voicekit.backend``), which LLM answers
(``getattr(engines.llm, "description", engines.llm.name)``), and which voicekit
runs: ``version`` and ``source`` (:func:`voicekit._runtime.this_build`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass, field

import psutil
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ... import _runtime
from ..errors import OpenAIError

__all__ = ["IDENTITY_PATH", "KERNEL_WINDOW_S", "STATUS_PATH", "Identity", "llm_description", "proof", "routes"]

IDENTITY_PATH = "/v1/voicekit/identity"
STATUS_PATH = "/v1/voicekit/status"
KERNEL_WINDOW_S = 660.0
"""A kernel counts as using the stand-in for this long after its last status ping: two of
the keep-alive's longest intervals (300 s) and a minute to spare."""


def proof(token: str, nonce: str, instance_id: str) -> str:
    """HMAC-SHA256(token, ``nonce:instance_id``) as 64 hex digits."""
    return hmac.new(token.encode(), f"{nonce}:{instance_id}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Identity:
    """One stand-in process: its random ``instance_id``, its token (or None), pid and start time (Unix s)."""

    token: str | None = field(default=None, repr=False)
    instance_id: str = field(default_factory=lambda: secrets.token_hex(8))
    pid: int = field(default_factory=os.getpid)
    started_at: float = field(default_factory=time.time)
    kernels: dict[str, float] = field(default_factory=dict, repr=False, compare=False)
    """Kernel id -> ``time.monotonic()`` of its last status ping."""

    def kernels_using(self, asker: str = "") -> int:
        """Kernels that pinged in the last :data:`KERNEL_WINDOW_S` s, ``asker`` aside (forgets older ones)."""
        now = time.monotonic()
        for kernel, seen in list(self.kernels.items()):
            if now - seen > KERNEL_WINDOW_S:
                del self.kernels[kernel]
        if asker:
            self.kernels[asker[:64]] = now
        return sum(1 for kernel in self.kernels if kernel != asker[:64])


def llm_description(engines: object) -> str | None:
    """The LLM's description (issue 17's ``description``, else its ``name``), or None if unknown."""
    llm = getattr(engines, "llm", None)
    if llm is None:
        return None
    desc = getattr(llm, "description", None) or getattr(llm, "name", None)
    return str(desc) if desc else None


async def identity(request: Request) -> JSONResponse:
    ident: Identity = request.app.state.identity
    nonce = request.query_params.get("nonce", "")
    if not 16 <= len(nonce) <= 128:
        raise OpenAIError(400, "nonce must be 16 to 128 characters", param="nonce", code="invalid_value")
    answer = proof(ident.token, nonce, ident.instance_id) if ident.token else None
    return JSONResponse({"object": "voicekit.identity", "instance_id": ident.instance_id, "proof": answer})


async def status(request: Request) -> JSONResponse:
    ident: Identity = request.app.state.identity
    engines = getattr(request.app.state, "engines", None)
    kernels = ident.kernels_using(request.query_params.get("kernel", ""))
    return JSONResponse({
        "object": "voicekit.status",
        "instance_id": ident.instance_id,
        "pid": ident.pid,
        "started_at": ident.started_at,
        "uptime_s": round(time.time() - ident.started_at, 1),
        "rss_bytes": psutil.Process(ident.pid).memory_info().rss if ident.pid == os.getpid() else None,
        "llm": llm_description(engines),
        "kernels": kernels,
        **_runtime.this_build(),
    })


routes = [Route(IDENTITY_PATH, identity, methods=["GET"]), Route(STATUS_PATH, status, methods=["GET"])]
