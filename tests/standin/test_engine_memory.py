"""Issue 26, memory: the engines' sessions keep no memory beyond their models between calls.

Stated by the sessions' own settings and by counts, not by RSS (which other tests move).
"""

from __future__ import annotations

import numpy as np

from voicekit.standin.engines.turn_model import SmartTurn


def test_smart_turn_runs_without_a_memory_arena() -> None:
    # An arena keeps its largest run's buffers for the process's life (about 28 MiB for one
    # 8 s window); without it they are freed after each call and the housekeeping trims them.
    model = SmartTurn()
    options = model._session.get_session_options()
    assert options.enable_cpu_mem_arena is False
    assert options.enable_mem_pattern is False
    p = model.probability(np.zeros(16_000, np.float32))
    assert 0.0 <= p <= 1.0
