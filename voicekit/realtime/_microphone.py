"""A Recorder streaming into a :class:`~voicekit.realtime.RealtimeSession`, and push-to-talk.

Private to :mod:`voicekit.realtime`: :class:`MicrophoneMixin` is one of the bases of
``RealtimeSession``. With VAD turns the microphone streams all the time and the
server decides when a turn ends; with push-to-talk (``turn_detection: null``) the
chunks go out only while the button is held, and release commits the buffer and
asks for a response (OpenAI guide "Realtime conversations", "Voice activity detection").
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from ..audio import Clip

if TYPE_CHECKING:
    from .._lifecycle import Lifecycle
    from ..widgets import Recorder, TalkButton

__all__ = ["MicrophoneMixin"]

logger = logging.getLogger("voicekit.realtime")


class MicrophoneMixin:
    """Microphone and push-to-talk methods of ``RealtimeSession``."""

    _recorder: Recorder | None = None
    _talking: bool | None = None  # None: not push-to-talk
    _talk_frames: int = 0

    if TYPE_CHECKING:
        lifecycle: Lifecycle

        @property
        def turn_detection(self) -> dict[str, Any] | None: ...
        def update(self, session: Any, *, timeout: float = 30.0) -> dict[str, Any]: ...
        def interrupt(self) -> int | None: ...
        def clear_input(self) -> None: ...
        def commit(self) -> None: ...
        def create_response(self, **response: Any) -> None: ...
        def send_audio(self, audio: Clip) -> Future[None]: ...
        def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = False,
                      pad_ms: float | None = None) -> Future[None]: ...

    def attach(self, recorder: Recorder) -> None:
        """Stream ``recorder``'s chunks (about 100 ms each) into the input buffer.

        Attaching again (a re-run cell) replaces the earlier attachment: each chunk is
        sent once. Chunks that arrive after the session closed raise
        :class:`~voicekit.errors.ClosedError`, shown by the Recorder.
        """
        self.lifecycle.check()
        self.detach()
        recorder.on_chunk(self._on_chunk)
        self._recorder = recorder

    def detach(self) -> None:
        """Stop streaming the attached Recorder."""
        if self._recorder is not None:
            self._recorder.on_chunk(self._on_chunk, remove=True)
            self._recorder = None

    def push_to_talk(self, button: TalkButton | None = None, *, timeout: float = 30.0) -> TalkButton:
        """Switch to manual turns (``turn_detection: null``) and return a button:
        hold it to talk (the Recorder's chunks are sent only while it is held);
        release commits the buffer and asks for a response. Pressing it while a
        reply plays interrupts the reply. Pass ``button`` to wire one already shown."""
        from ..widgets import TalkButton

        self.update({"audio": {"input": {"turn_detection": None}}}, timeout=timeout)
        button = button if button is not None else TalkButton()
        button.on_press(self.begin_talk)
        button.on_release(self.end_talk)
        self._talking = False
        return button

    def begin_talk(self) -> None:
        """Push-to-talk pressed: interrupt any reply, clear the input buffer, open the mic.

        Ignored (with a warning) unless the session has manual turns
        (``turn_detection`` null, as :meth:`push_to_talk` sets)."""
        self.lifecycle.check()
        if self.turn_detection is not None:
            logger.warning("push-to-talk needs turn_detection null (call push_to_talk()); ignored")
            return
        self.interrupt()
        self.clear_input()
        self._talk_frames = 0
        self._talking = True

    def end_talk(self) -> None:
        """Push-to-talk released: commit what was said and ask for a response."""
        self.lifecycle.check()
        if self.turn_detection is not None:
            return
        self._talking = False
        if self._talk_frames == 0:
            logger.warning("push-to-talk released with no audio sent; nothing committed")
            return
        self.commit()
        self.create_response()

    def talk(self, clip: Clip) -> None:
        """Push-to-talk without a microphone: press, send ``clip``, release."""
        self.begin_talk()
        self.send_clip(clip, pad_ms=0)
        self._talk_frames += clip.n_frames
        self.end_talk()

    def _on_chunk(self, chunk: Any) -> None:
        self.lifecycle.check()
        if self._talking is False:
            return
        self._talk_frames += chunk.clip.n_frames
        self.send_audio(chunk.clip)
