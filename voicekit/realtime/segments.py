"""The segments of a Realtime transcription session, built from its server events.

One :class:`Segment` per committed item (``input_audio_buffer.committed``), filled by
``conversation.item.input_audio_transcription.delta`` events and closed by ``.completed``
(or ``.failed``), as ``openai.types.realtime`` defines them
(``ConversationItemInputAudioTranscriptionDeltaEvent``, ``...CompletedEvent``,
``...FailedEvent``). :class:`SegmentBook` keeps them in commit order and shows each one in
a :class:`~voicekit.widgets.Transcript` as its text grows. Used by
:class:`~voicekit.realtime.Captions`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..widgets import Transcript

__all__ = ["COMPLETED", "DELTA", "FAILED", "Segment", "SegmentBook"]

logger = logging.getLogger("voicekit.realtime")

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"
FAILED = "conversation.item.input_audio_transcription.failed"


@dataclass
class Segment:
    """The transcript of one committed piece of audio (one conversation item).

    Attributes
    ----------
    item_id : str
        The server's item id (``input_audio_buffer.committed``'s ``item_id``).
    index : int
        Position in :attr:`Captions.segments` (commit order).
    text : str
        The deltas joined so far; the whole transcript once :attr:`done`.
    deltas : list of str
        Each ``...transcription.delta``'s ``delta``, in arrival order.
    logprobs : list of dict or None
        ``{"token", "logprob", "bytes"}`` per token (from ``.completed``, or gathered
        from the deltas), when the session was asked for logprobs; else None.
    done : bool
        True once ``.completed`` (or ``.failed``) arrived.
    error : dict or None
        The ``error`` of a ``...transcription.failed`` event.
    usage : dict or None
        ``.completed``'s ``usage`` (tokens or seconds).
    committed_s, first_delta_s, completed_s : float or None
        When the commit, the first delta and the completion arrived, in s since the
        socket opened.
    """

    item_id: str
    index: int
    text: str = ""
    deltas: list[str] = field(default_factory=list)
    logprobs: list[dict[str, Any]] | None = None
    done: bool = False
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    committed_s: float | None = None
    first_delta_s: float | None = None
    completed_s: float | None = None


class SegmentBook:
    """Segments by item id, in commit order, mirrored into a Transcript.

    Parameters
    ----------
    transcript : Transcript, optional
        Each segment is its ``"user"`` line (turn = the segment's index), keyed by
        :attr:`conversation` (the session id).
    """

    def __init__(self, transcript: Transcript | None = None) -> None:
        self.transcript = transcript
        self.segments: list[Segment] = []
        self.conversation = ""
        self._by_item: dict[str, Segment] = {}

    def get(self, item_id: str) -> Segment:
        """The segment of ``item_id``, added at the end if new."""
        segment = self._by_item.get(item_id)
        if segment is None:
            segment = Segment(item_id, len(self.segments))
            self._by_item[item_id] = segment
            self.segments.append(segment)
        return segment

    def handle(self, data: dict[str, Any], now: float) -> Segment | None:
        """Apply one server event (JSON) received at ``now`` s; returns the segment it
        completed (or failed), else None. Other event types are ignored."""
        kind = data.get("type", "")
        if kind == "input_audio_buffer.committed":
            self.get(data["item_id"]).committed_s = now
        elif kind == DELTA:
            segment = self.get(data["item_id"])
            if segment.first_delta_s is None:
                segment.first_delta_s = now
            segment.deltas.append(data.get("delta") or "")
            segment.text = "".join(segment.deltas)
            if data.get("logprobs") is not None:
                segment.logprobs = [*(segment.logprobs or []), *data["logprobs"]]
            self._show(segment)
        elif kind in (COMPLETED, FAILED):
            segment = self.get(data["item_id"])
            segment.done, segment.completed_s = True, now
            if kind == COMPLETED:
                segment.text = data.get("transcript") or ""
                segment.usage = data.get("usage")
                if data.get("logprobs") is not None:
                    segment.logprobs = list(data["logprobs"])
            else:
                segment.error = data.get("error") or {}
            self._show(segment)
            return segment
        return None

    def _show(self, segment: Segment) -> None:
        if self.transcript is None:
            return
        try:
            self.transcript.show(segment.index, "user", segment.text.strip() or "…", self.conversation)
        except Exception:  # a failing widget must not end the session
            logger.exception("Transcript.show failed")
