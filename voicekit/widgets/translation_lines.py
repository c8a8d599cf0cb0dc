"""``TranslationLines``: a live translation, the source and its translation side by side."""

from __future__ import annotations

from typing import Any

import anywidget
import traitlets

from ._base import CSS, HERE

__all__ = ["TranslationLines"]


class TranslationLines(anywidget.AnyWidget):
    """One row per phrase: what the speaker said beside its translation, and the lag.

    A :class:`~voicekit.realtime.TranslationSession` given ``lines=`` calls :meth:`show`
    as the source and translated transcript deltas arrive, and :meth:`show_error` with
    each ``error`` event. The browser renders the text as text (never as HTML).

    Parameters
    ----------
    source_label, translation_label : str
        The column headings (default ``"Speaker"`` and ``"Translation"``).
    max_rows : int
        Rows kept (default 200); the oldest go first.

    Attributes
    ----------
    rows : list of dict
        ``{"conversation": str, "index": int, "source": str, "translation": str,
        "lag_ms": float | None}`` in the order the phrases began. Synced: text only.
    errors : list of str
        Error messages, shown under the rows in red.
    """

    _esm = HERE / "translation_lines.js"
    _css = CSS
    rows = traitlets.List(traitlets.Dict()).tag(sync=True)
    errors = traitlets.List(traitlets.Unicode()).tag(sync=True)
    source_label = traitlets.Unicode("Speaker").tag(sync=True)
    translation_label = traitlets.Unicode("Translation").tag(sync=True)
    max_rows = traitlets.Int(200).tag(sync=True)

    def show(self, index: int, source: str, translation: str, *, lag_ms: float | None = None,
             conversation: str = "") -> None:
        """Set phrase ``index`` of ``conversation`` (added at the end if new).

        Parameters
        ----------
        index : int
            The phrase's position in its session (0, 1, 2...).
        source, translation : str
            The whole texts so far (not deltas); empty while none arrived.
        lag_ms : float, optional
            ms from the end of the source phrase to its first translated text.
        conversation : str
            The session's id: rows of another session are never overwritten.
        """
        rows = [dict(row) for row in self.rows]
        new = {"conversation": conversation, "index": int(index), "source": source, "translation": translation,
               "lag_ms": None if lag_ms is None else round(float(lag_ms))}
        for i, row in enumerate(rows):
            if row.get("conversation", "") == conversation and row["index"] == index:
                rows[i] = new
                break
        else:
            rows.append(new)
        self.rows = rows[-self.max_rows:]

    def show_error(self, message: str) -> None:
        """Add an error line (an ``error`` event, a connection lost)."""
        self.errors = [*self.errors, str(message)][-20:]

    def clear(self) -> None:
        """Remove every row and error."""
        self.rows, self.errors = [], []

    @property
    def text(self) -> str:
        """The rows as plain text, ``source  ->  translation`` per line, then ``error: ...`` lines."""
        out = [f"{row['source'] or '…'}  ->  {row['translation'] or '…'}" for row in self.rows]
        return "\n".join([*out, *(f"error: {e}" for e in self.errors)])

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(self.text or "(nothing translated yet)")
