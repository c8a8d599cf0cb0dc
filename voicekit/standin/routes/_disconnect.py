"""An event set when a request's client goes away, for work nobody waits for any more.

A client that gives up on a request closes its connection: the cascaded agent
dropping the transcription of a pause after which the user spoke on (its head start,
:mod:`voicekit.agents._cascaded_vad`), an SDK whose timeout ran out before it retries.
A non-streaming endpoint's work would otherwise run to its end on the CPU the next
request needs, and on Whisper's lock ahead of it. With :func:`client_gone`, the
transcription endpoints hand Whisper the event as its ``abandon``
(:mod:`..engines.abandon`): the run stops at its next encoder or decoder call.

Streamed responses need none of this: :class:`..engines.scheduling.ClosingStreamingResponse`
closes their generator when the client leaves.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from starlette.requests import Request

__all__ = ["client_gone"]


@contextlib.asynccontextmanager
async def client_gone(request: Request) -> AsyncIterator[threading.Event]:
    """Within the block, an event that is set once the client disconnects.

    Call it after the request body was read (the form parsed): the watch then reads the
    ASGI ``receive`` channel, which (uvicorn) gives ``http.disconnect`` when the connection
    closes and nothing until then. The watch ends with the block.
    """
    gone = threading.Event()

    async def watch() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        gone.set()

    task = asyncio.ensure_future(watch())
    try:
        yield gone
    finally:
        task.cancel()  # not awaited: awaiting it here could swallow a cancellation of the request itself
