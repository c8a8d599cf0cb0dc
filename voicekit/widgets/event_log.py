"""``EventLog``: a live, filterable table of Realtime events."""

from __future__ import annotations

from collections import deque
from typing import Any

import anywidget
import traitlets

from ._base import CSS, HERE

__all__ = ["EventLog"]


class EventLog(anywidget.AnyWidget):
    """One row per Realtime event: time, direction, type and key fields.

    A :class:`~voicekit.realtime.RealtimeSession` given ``event_log=`` adds every
    event it sends or receives. Rows travel to the browser in custom messages as
    they come (the table is not saved in the notebook's widget state).

    Parameters
    ----------
    max_rows : int
        Rows kept (default 500); the oldest go first.
    filter : str
        Show only events whose type contains this text (case-insensitive),
        for example ``"response."``; a search box in the widget edits it.
    hide_deltas : bool
        Hide the many ``*.delta`` and ``input_audio_buffer.append`` events
        (default True); a checkbox in the widget edits it.
    """

    _esm = HERE / "event_log.js"
    _css = CSS
    filter = traitlets.Unicode("").tag(sync=True)
    hide_deltas = traitlets.Bool(True).tag(sync=True)
    max_rows = traitlets.Int(500).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._rows: deque[dict[str, Any]] = deque(maxlen=self.max_rows)
        self.on_msg(self._handle)

    def add(self, event: Any) -> None:
        """Add a :class:`~voicekit.realtime.RealtimeEvent` (or anything with ``t``,
        ``source``, ``type`` and ``summary()``)."""
        row = {"t": round(float(event.t), 3), "source": event.source, "type": event.type,
               "summary": event.summary()}
        self._rows.append(row)
        self.send({"type": "rows", "rows": [row]})

    def clear(self) -> None:
        """Remove every row."""
        self._rows.clear()
        self.send({"type": "reset"})

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Every row kept: ``{"t": seconds, "source", "type", "summary"}``."""
        return list(self._rows)

    def visible_rows(self) -> list[dict[str, Any]]:
        """The rows the filter and ``hide_deltas`` let through, as the browser shows them."""
        return [row for row in self._rows if _visible(row["type"], self.filter, self.hide_deltas)]

    def _handle(self, _widget: Any, content: dict[str, Any], _buffers: list[Any]) -> None:
        if content.get("type") == "need":
            self.send({"type": "reset"})
            self.send({"type": "rows", "rows": list(self._rows)})


def _visible(event_type: str, text: str, hide_deltas: bool) -> bool:
    if hide_deltas and (event_type.endswith(".delta") or event_type == "input_audio_buffer.append"):
        return False
    return text.lower() in event_type.lower()
