"""A closed session's audio is freed when it closes (issue 26, "Memory"), through the SDK.

A session's objects refer to each other (cycles), so before, the audio a Realtime
conversation or a Live listener held stayed until Python's cyclic garbage collector
ran. The collector is switched off here, as it may not have run yet on a busy server.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from voicekit.formats import REALTIME_SAMPLE_RATE
from voicekit.standin.live.connection import LiveConnection
from voicekit.standin.realtime.connection import RealtimeConnection

ONE_SECOND = base64.b64encode((np.sin(np.arange(REALTIME_SAMPLE_RATE) / 7) * 8000).astype(np.int16).tobytes()).decode()


@pytest.fixture
def no_gc() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _held(kind: type, audio_of: Callable[[object], int], session_id: str, wait_s: float = 20.0) -> int:
    """Samples of audio the closed session ``session_id`` of ``kind`` still holds after up to ``wait_s`` s
    (its shutdown runs after the client's close; a session gone altogether holds none)."""
    deadline = time.monotonic() + wait_s
    while True:
        found = [o for o in gc.get_objects() if type(o) is kind and o.session.get("id") == session_id]  # type: ignore[attr-defined]
        held = sum(audio_of(o) for o in found)
        if held == 0 or time.monotonic() > deadline:
            return held
        time.sleep(0.1)


def test_a_closed_realtime_sessions_audio_is_freed(client, no_gc):
    with client.realtime.connect(model="gpt-realtime-mini") as conn:
        session_id = conn.recv().session.id  # type: ignore[union-attr]
        conn.session.update(session={"type": "realtime", "output_modalities": ["text"],
                                     "audio": {"input": {"turn_detection": None}}})
        for _ in range(2):
            conn.input_audio_buffer.append(audio=ONE_SECOND)
            conn.input_audio_buffer.commit()
        conn.input_audio_buffer.append(audio=ONE_SECOND)  # left in the buffer
        added = 0
        while added < 2:
            event = conn.recv()
            assert event.type != "error", event
            added += event.type == "conversation.item.added"

    def audio(c: object) -> int:
        assert isinstance(c, RealtimeConnection)
        return int(c.buffer.size) + sum(int(i.audio.size) for i in c.conversation.items() if i.audio is not None)

    assert _held(RealtimeConnection, audio, session_id) == 0


def test_a_closed_live_sessions_audio_is_freed(client, no_gc):
    from openai import AsyncOpenAI

    async def main() -> str:
        async with AsyncOpenAI(base_url=str(client.base_url), api_key="test-no-key", max_retries=0) as aclient, \
                aclient.live.connect(max_retries=0) as conn:
            await conn.session.start(session={"model": "gpt-live-1"})
            while (event := await conn.recv()).type != "session.started":
                assert event.type != "error", event
            for _ in range(2):
                await conn.session.input_audio.append(audio=ONE_SECOND)
            await asyncio.sleep(0.5)
            return str(event.session.id)  # type: ignore[union-attr]

    session_id = asyncio.run(asyncio.wait_for(main(), 60))

    def audio(c: object) -> int:
        assert isinstance(c, LiveConnection)
        listener = c.listener
        return int(listener.audio.size) if listener is not None else 0  # type: ignore[attr-defined]

    assert _held(LiveConnection, audio, session_id) == 0
