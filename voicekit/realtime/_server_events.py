"""Server events into session state: the session, errors, reply audio into the Player,
and barge-in: clear the Player, truncate to what was heard.

Private to :mod:`voicekit.realtime`: :class:`ServerEventsMixin` is a base of
``RealtimeSession``. When the user starts speaking over a reply, the Player is cleared
and ``conversation.item.truncate`` tells the server how much was heard
(``audio_end_ms``, clamped to the audio received), as OpenAI's guide "Realtime
conversations" ("Handling interruptions") describes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ..audio import Clip
from ._socket import RACE_EVENT_PREFIX
from .turns import AudioItem, TurnBook

if TYPE_CHECKING:
    from ..widgets import Player
    from ._socket import RealtimeSocket

logger = logging.getLogger("voicekit.realtime")

__all__ = ["ServerEventsMixin"]


class ServerEventsMixin:
    """Handles each server event before it is recorded (on the socket's thread)."""

    player: Player | None
    _book: TurnBook
    _socket: RealtimeSocket
    _interrupted: set[str]

    session: dict[str, Any]
    errors: list[dict[str, Any]]
    functions: dict[str, Any]
    _talking: bool | None

    if TYPE_CHECKING:
        @property
        def turn_detection(self) -> dict[str, Any] | None: ...
        def truncate(self, item_id: str, audio_end_ms: int, content_index: int = 0) -> None: ...
        def _run_tools(self, response: dict[str, Any]) -> None: ...

    def _vad_silence_ms(self) -> float:
        td = self.turn_detection or {}
        if td.get("type") == "semantic_vad":
            return 1000.0
        return float(td.get("silence_duration_ms") or 500)

    def _handle(self, data: dict[str, Any]) -> None:
        kind = data.get("type", "")
        now = self._socket.now()
        if kind in ("session.created", "session.updated"):
            self.session = data["session"]
            if self.turn_detection is not None:
                self._talking = None  # VAD turns: the microphone streams all the time
        elif kind == "error":
            err = data.get("error") or {}
            if str(err.get("event_id") or "").startswith(RACE_EVENT_PREFIX):
                logger.debug("expected race: %s", err.get("message"))
            else:
                self.errors.append(err)
                logger.warning("Realtime error event: %s", err.get("message"))
        elif kind == "input_audio_buffer.speech_started":
            td = self.turn_detection or {}
            if td.get("interrupt_response", True) is not False:
                self._barge_in()
        elif kind == "response.output_audio.delta":
            pcm = Clip.from_base64_pcm16(data["delta"]).samples
            self._book.audio_delta(data, pcm, now, self._player_ms())
            # deltas already on the way when the user barged in are not played
            if self.player is not None and data["response_id"] not in self._interrupted:
                self.player.append(pcm)
        elif kind == "response.done" and self.functions:
            self._run_tools(data["response"])
        self._book.handle(data, now)

    def _player_ms(self) -> float:
        return self.player.duration_ms if self.player is not None else 0.0

    def _barge_in(self) -> int | None:
        item = self._book.playing_item
        if item is None:
            return None
        heard = self._heard_ms(item)
        if heard >= item.received_ms and self._book.active_response != item.response_id:  # the whole reply was already heard
            return None
        self._interrupted.add(item.response_id)
        if self.player is not None:
            self.player.clear()
        end_ms = int(heard)
        item.truncated_at_ms = end_ms
        self.truncate(item.item_id, end_ms)
        return end_ms

    def _heard_ms(self, item: AudioItem) -> float:
        """ms of ``item`` heard: the Player's reported position when a browser plays
        it, else the wall time since its first audio (real-time playback assumed)."""
        player = self.player
        if player is not None and (player.playing or player.played_ms > 0):
            heard = player.played_ms - item.player_offset_ms
        else:
            heard = (self._socket.now() - item.t_first) * 1000.0
        return min(max(heard, 0.0), item.received_ms)
