"""Push-to-talk for a :class:`~voicekit.realtime.RealtimeSession`: manual turns from a button.

With VAD turns the microphone streams all the time and the server decides when a turn
ends; with push-to-talk (``turn_detection: null``) the Recorder's chunks go out only while
the button is held, and release commits the buffer and asks for a response (OpenAI guide
"Realtime conversations", "Voice activity detection").

What the learner sees is said in the button itself (:class:`~voicekit.widgets.TalkButton`'s
``hint`` and ``error`` lines), not only in a log: the button opens the attached Recorder's
microphone when it is not recording, says "say something" while it listens, and says why
when it cannot work (VAD turns, no Recorder, nothing heard).
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..audio import Clip
    from ..widgets import TalkButton
    from .session import RealtimeSession

__all__ = ["LISTENING", "NO_AUDIO", "NO_RECORDER", "STOP_WAIT_S", "VAD_TURNS", "PushToTalk"]

logger = logging.getLogger("voicekit.realtime")

LISTENING = "Listening: say something, then release the button to send it."
VAD_TURNS = ("Push-to-talk is off: the session takes turns by server VAD again (a later cell "
             "switched it back). Run rt.push_to_talk() again to use this button, or just talk: "
             "the VAD ends your turn when you pause.")
NO_RECORDER = ("No microphone is attached to this session: show a Recorder and run "
               "rt.attach(recorder), then hold the button again (or send a recording with rt.talk(clip)).")
NO_AUDIO = ("Nothing was heard while the button was held, so nothing was sent. Check the "
            "Recorder: allow the microphone, and watch its level move while you speak.")
STOP_WAIT_S = 1.5
"""After a release, how long to wait for the Recorder's last chunks (its ``stop``) before committing."""


class PushToTalk:
    """The held/released state of one session's talk button.

    ``active`` is False until :meth:`RealtimeSession.push_to_talk` switches the session to
    manual turns; a ``session.updated`` with VAD turns switches it off again (and the
    button says so). ``button`` is the wired :class:`~voicekit.widgets.TalkButton`, if any.
    """

    def __init__(self, session: RealtimeSession) -> None:
        self._session = session
        self.active = False
        self.talking = False
        self.frames = 0
        self.seconds = 0.0  # of speech sent since the press
        self.button: TalkButton | None = None
        self._opened_mic = False  # the button started the Recorder, and stops it on release
        self._pending: threading.Timer | None = None  # a release waiting for the Recorder's stop
        self._lock = threading.Lock()

    def passes(self, clip: Clip) -> bool:
        """Whether a microphone chunk goes out (counted when it does)."""
        if self.active and not self.talking:
            return False
        if self.active:
            self.frames += clip.n_frames
            self.seconds += clip.duration
        return True

    # ------------------------------------------------------------ the button
    def wire(self, button: TalkButton) -> None:
        """Manual turns are on: ``button`` works, and says nothing yet."""
        self.button = button
        self.active, self.talking = True, False
        button.disabled, button.error, button.hint = False, "", ""

    def closed(self, why: str) -> None:
        """The session was closed (``why``: its ClosedError's message): the button is
        disabled and says so, with what to run for a working one."""
        self.active = self.talking = False
        if self.button is not None:
            self.button.disabled, self.button.hint = True, ""
            self.button.error = f"{why} This button was wired to it: run its push_to_talk() cell again."

    def vad_turns(self) -> None:
        """The session went back to VAD turns: the button is disabled and says why."""
        self.active = self.talking = False
        if self.button is not None:
            self.button.release()
            self.button.disabled, self.button.error, self.button.hint = True, VAD_TURNS, ""

    def press(self) -> None:
        """The button went down: open the microphone if needed, then :meth:`begin`."""
        recorder = self._session.recorder
        if self._session.turn_detection is not None:
            return self._say_error(VAD_TURNS, "push-to-talk needs turn_detection null (call push_to_talk()); ignored")
        if recorder is None:
            return self._say_error(NO_RECORDER, "push-to-talk pressed with no Recorder attached; ignored")
        self.begin()
        self._opened_mic = not recorder.recording
        if self._opened_mic:
            recorder.recording = True  # the page opens the microphone, as its Record button does
        if self.button is not None:
            self.button.error, self.button.hint = "", LISTENING

    def release(self) -> None:
        """The button came up: stop the microphone it opened (its last chunks still go out),
        then :meth:`end`."""
        recorder = self._session.recorder
        if not self.talking:
            return
        if self._opened_mic and recorder is not None and self.frames:
            recorder.recording = False
            with self._lock:  # commit at the Recorder's stop, or after STOP_WAIT_S without one
                self._pending = threading.Timer(STOP_WAIT_S, self.recording_stopped)
                self._pending.daemon = True
                self._pending.start()
            return
        if self._opened_mic and recorder is not None:
            recorder.recording = False
        self.end()

    def recording_stopped(self) -> None:
        """The Recorder stopped (or :data:`STOP_WAIT_S` passed): finish a release that waited for it."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is None:
            return
        pending.cancel()
        self.end()

    # ------------------------------------------------------------ the turn
    def begin(self) -> None:
        s = self._session
        if s.turn_detection is not None:
            logger.warning("push-to-talk needs turn_detection null (call push_to_talk()); ignored")
            return
        s.interrupt()
        s.clear_input()
        self.frames, self.seconds = 0, 0.0
        self.active = self.talking = True

    def end(self) -> None:
        s = self._session
        if s.turn_detection is not None or not self.talking:
            return
        self.talking = False
        if self.frames == 0:
            self._say_error(NO_AUDIO, "push-to-talk released with no audio sent; nothing committed")
            return
        if self.button is not None:
            self.button.hint = f"Sent {self.seconds:.1f} s of your speech; the answer comes next."
        s.commit()
        s.create_response()

    def _say_error(self, message: str, log: str) -> None:
        logger.warning(log)
        if self.button is not None:
            self.button.error, self.button.hint = message, ""
