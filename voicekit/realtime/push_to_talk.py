"""Push-to-talk for a :class:`~voicekit.realtime.RealtimeSession`: manual turns from a button.

With VAD turns the microphone streams all the time and the server decides when a turn
ends; with push-to-talk (``turn_detection: null``) the Recorder's chunks go out only while
the button is held, and release commits the buffer and asks for a response (OpenAI guide
"Realtime conversations", "Voice activity detection").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..audio import Clip
    from .session import RealtimeSession

__all__ = ["PushToTalk"]

logger = logging.getLogger("voicekit.realtime")


class PushToTalk:
    """The held/released state of one session's talk button.

    ``active`` is False until :meth:`RealtimeSession.push_to_talk` switches the session to
    manual turns; a ``session.updated`` with VAD turns switches it off again.
    """

    def __init__(self, session: RealtimeSession) -> None:
        self._session = session
        self.active = False
        self.talking = False
        self.frames = 0

    def passes(self, clip: Clip) -> bool:
        """Whether a microphone chunk goes out (counted when it does)."""
        if self.active and not self.talking:
            return False
        if self.active:
            self.frames += clip.n_frames
        return True

    def begin(self) -> None:
        s = self._session
        if s.turn_detection is not None:
            logger.warning("push-to-talk needs turn_detection null (call push_to_talk()); ignored")
            return
        s.interrupt()
        s.clear_input()
        self.frames = 0
        self.active = self.talking = True

    def end(self) -> None:
        s = self._session
        if s.turn_detection is not None:
            return
        self.talking = False
        if self.frames == 0:
            logger.warning("push-to-talk released with no audio sent; nothing committed")
            return
        s.commit()
        s.create_response()
