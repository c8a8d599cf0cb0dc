"""``MetricsTable``: a live table of per-turn agent measurements."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets

if TYPE_CHECKING:
    from ..agents.turn_metrics import TurnMetrics

__all__ = ["MetricsTable"]

COLUMNS = (
    ("agent", "agent"), ("conversation_no", "conversation"), ("turn", "turn"), ("status", "status"),
    ("v2v_ms", "voice→voice ms"), ("vad_silence_ms", "VAD silence ms"),
    ("stt_ms", "STT ms"), ("llm_ttft_ms", "LLM TTFT ms"), ("tts_ttfb_ms", "TTS TTFB ms"),
    ("tools", "tools"), ("tokens", "tokens"), ("audio_in_s", "audio in s"), ("audio_out_s", "audio out s"),
    ("cost_usd", "cost $"),
)


class MetricsTable(ipywidgets.HTML):
    """One row per turn (:class:`~voicekit.agents.TurnMetrics`), updated as turns finish.

    Both agents take it as ``metrics=``; it re-renders on each :meth:`add`.
    Text is HTML-escaped. A figure that does not apply (a stage the agent lacks, no
    VAD window, no audio in) shows as "–".

    Rows are keyed by (agent, conversation id, turn): a turn measured again (a
    Realtime reply truncated after it finished) replaces its row, and a new
    conversation (an agent's ``reset()``, a new session) adds rows, numbered in the
    "conversation" column 1, 2, 3... in the order they appear here.

    Attributes
    ----------
    rows : list of dict
        :meth:`TurnMetrics.row` of each turn, in order, with ``conversation_no``.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []
        self._render()

    def add(self, metrics: TurnMetrics) -> None:
        """Add (or replace, by conversation and turn) the row of ``metrics``."""
        row = metrics.row()
        key = (row["agent"], row["conversation"], row["turn"])
        numbers: dict[str, int] = {}
        for r in self.rows:
            numbers.setdefault(r["conversation"], len(numbers) + 1)
        row["conversation_no"] = numbers.setdefault(row["conversation"], len(numbers) + 1)
        for i, r in enumerate(self.rows):
            if (r["agent"], r["conversation"], r["turn"]) == key:
                self.rows = [*self.rows[:i], row, *self.rows[i + 1:]]
                break
        else:
            self.rows = [*self.rows, row]
        self._render()

    def clear(self) -> None:
        """Remove every row."""
        self.rows = []
        self._render()

    def _render(self) -> None:
        head = "".join(f"<th>{html.escape(title)}</th>" for _, title in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(r.get(key))}</td>" for key, _ in COLUMNS) + "</tr>" for r in self.rows
        )
        self.value = f'<table class="voicekit-metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "–"
    if isinstance(value, float):
        return f"{value:.3g}"  # 0.000123 stays readable; 0.0 reads "0"
    return html.escape(str(value))
