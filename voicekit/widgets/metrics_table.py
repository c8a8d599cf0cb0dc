"""``MetricsTable``: a live table of per-turn agent measurements."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets

if TYPE_CHECKING:
    from ..agent_metrics import TurnMetrics

__all__ = ["MetricsTable"]

COLUMNS = (
    ("agent", "agent"), ("turn", "turn"), ("status", "status"),
    ("v2v_ms", "voice→voice ms"), ("vad_silence_ms", "VAD silence ms"),
    ("stt_ms", "STT ms"), ("llm_ttft_ms", "LLM TTFT ms"), ("tts_ttfb_ms", "TTS TTFB ms"),
    ("tools", "tools"), ("tokens", "tokens"), ("audio_in_s", "audio in s"), ("audio_out_s", "audio out s"),
    ("cost_usd", "cost $"),
)


class MetricsTable(ipywidgets.HTML):
    """One row per turn (:class:`~voicekit.agent_metrics.TurnMetrics`), updated as turns finish.

    Both agents take it as ``metrics=``; it re-renders on each :meth:`add`.
    Text is HTML-escaped. A missing stage shows as "–".

    Attributes
    ----------
    rows : list of dict
        :meth:`TurnMetrics.row` of each turn, in order.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []
        self._render()

    def add(self, metrics: TurnMetrics) -> None:
        """Add (or replace, by conversation and turn) the row of ``metrics``."""
        row = metrics.row()
        key = (row["agent"], row["conversation"], row["turn"])
        self.rows = [r for r in self.rows if (r["agent"], r["conversation"], r["turn"]) != key] + [row]
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
        return f"{value:.6f}" if value < 0.01 else f"{value:g}"
    return html.escape(str(value))
