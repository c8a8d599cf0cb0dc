"""The stand-in's default executor holds every session's engine work at once (scheduling.worker_pool), with fake engines."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

from voicekit.standin.app import create_app


def test_sixteen_sessions_blocking_work_runs_at_once_in_the_standin():
    """asyncio's default pool (cores + 4 threads) ran 6 of them and left the rest waiting for a whole reply."""
    app = create_app(lambda: SimpleNamespace())  # type: ignore[arg-type,return-value]
    barrier = threading.Barrier(16, timeout=20)  # each waits until all 16 run

    async def main() -> None:
        async with app.router.lifespan_context(app):
            await asyncio.gather(*(asyncio.to_thread(barrier.wait) for _ in range(16)))

    asyncio.run(main())
    assert not barrier.broken
