"""A speech-to-speech voice agent over the Realtime API, measured like the cascaded one.

:class:`RealtimeAgent` is a :class:`~voicekit.realtime.RealtimeSession` set up
as an agent: the same instructions and :mod:`tools <voicekit.agents.tools>` as
:class:`~voicekit.agents.cascaded.CascadedAgent`, server VAD with the same settings,
tool calls run and answered automatically, barge-in with
``conversation.item.truncate``, and a :class:`~voicekit.agents.turn_metrics.TurnMetrics`
per turn (:class:`~voicekit.agents.realtime_metrics.RealtimeMeter`: voice-to-voice
from ``input_audio_buffer.speech_stopped`` to the first ``response.output_audio.delta``;
tokens from each ``response.done`` usage, plus the input transcription's usage).

One model hears and speaks, so there are no stage latencies: the metrics'
``stt_ms``, ``llm_ttft_ms`` and ``tts_ttfb_ms`` stay None.

Sources: OpenAI guides "Realtime conversations" and "Voice agents"
(speech-to-speech architecture); event shapes from ``openai.types.realtime``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..realtime import DEFAULT_MODEL, DEFAULT_TRANSCRIBE_MODEL, RealtimeEvent, RealtimeSession, Turn
from ..session import Transport, VoiceSession
from ..session.base import in_thread
from ..vad import VadSettings
from .cascaded import DEFAULT_INSTRUCTIONS
from .realtime_metrics import RealtimeMeter
from .tools import Tool, Toolbox
from .turn_metrics import TurnMetrics

if TYPE_CHECKING:
    from openai import AsyncOpenAI, OpenAI

    from ..widgets import EventLog, MetricsTable, Player, Transcript

__all__ = ["RealtimeAgent"]

DEFAULT_VAD = VadSettings()
"""OpenAI's ``server_vad`` defaults, as the cascaded agent uses them."""


class RealtimeAgent(VoiceSession):
    """Talk to one Realtime model, with tools, barge-in and per-turn metrics.

    Parameters
    ----------
    client : openai.OpenAI or openai.AsyncOpenAI
        Any client: OpenAI itself, or the stand-in (``OPENAI_BASE_URL``).
    instructions, tools, voice
        As for :class:`~voicekit.agents.cascaded.CascadedAgent`.
    model : str
        Default ``gpt-realtime-mini``.
    player, transcript, metrics, event_log : widgets, optional
        Where the reply plays, the conversation shows, each turn's
        :class:`TurnMetrics` appears, and the raw events list.
    vad : VadSettings or None
        ``server_vad`` settings (OpenAI's defaults); None for manual turns
        (:meth:`run_turn` commits each clip).
    transcribe : str
        Input transcription model, for the transcript and the user's text.
    transport : Transport, optional
        The session's connection (default: the kernel's WebSocket).

    Attributes
    ----------
    meter : RealtimeMeter
        Makes the :class:`TurnMetrics` of the session's turns.

    Notes
    -----
    A :class:`~voicekit.session.VoiceSession` over its :attr:`session`: ``start``,
    ``close``, ``attach`` and ``send_clip`` are the base's, the audio and the turns are
    the session's.
    """

    def __init__(
        self,
        client: OpenAI | AsyncOpenAI,
        *,
        instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Iterable[Tool | Callable[..., Any]] = (),
        voice: str = "alloy",
        model: str = DEFAULT_MODEL,
        player: Player | None = None,
        transcript: Transcript | None = None,
        metrics: MetricsTable | None = None,
        event_log: EventLog | None = None,
        vad: VadSettings | None = DEFAULT_VAD,
        transcribe: str = DEFAULT_TRANSCRIBE_MODEL,
        max_tokens: int = 120,
        transport: Transport | None = None,
    ) -> None:
        self.instructions, self.voice, self.model, self.vad = instructions, voice, model, vad
        self.toolbox = Toolbox(tools)
        self.max_tokens = max_tokens
        self.session = RealtimeSession(client, model, player=player, transcript=transcript, event_log=event_log,
                                       functions=self.toolbox.functions(), transcribe=transcribe, transport=transport)
        super().__init__(player=player, transcript=transcript, event_log=event_log, metrics=metrics)
        self.transcribe = transcribe
        self.meter = RealtimeMeter(self.session)
        self._restore_tool_choice = False
        self.session.on_event(self._on_event)

    # ------------------------------------------------------------ lifecycle
    def _begin(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Connect and configure the session (instructions, voice, tools, VAD, then
        ``config`` given to ``start``); returns it. A second ``start()`` sends ``config``
        as an update, if any."""
        return self.session.start({**self.session_config(), **config}, timeout=timeout)

    def _restart(self, config: dict[str, Any], timeout: float) -> dict[str, Any]:
        return self.session.start(config, timeout=timeout)

    def session_config(self) -> dict[str, Any]:
        """The ``session.update`` this agent sends (``openai.types.realtime.RealtimeSessionCreateRequestParam``)."""
        td: dict[str, Any] | None = None
        if self.vad is not None:
            td = {"type": "server_vad", "threshold": self.vad.threshold,
                  "prefix_padding_ms": self.vad.prefix_padding_ms,
                  "silence_duration_ms": self.vad.silence_duration_ms}
        return {
            "type": "realtime",
            "instructions": self.instructions,
            "output_modalities": ["audio"],
            "max_output_tokens": self.max_tokens,
            "audio": {"input": {"turn_detection": td}, "output": {"voice": self.voice}},
            "tools": self.toolbox.realtime_tools(),
            "tool_choice": "auto",
        }

    def _release(self, timeout: float) -> None:
        self.session.close(timeout)

    @property
    def connected(self) -> bool:
        return self.session.connected

    # ------------------------------------------------------------ turns
    def run_turn(self, user: Clip | str, *, tool_choice: str | None = None, timeout: float = 120.0) -> Turn:
        """Send one user turn (a recording, or typed text) and wait for the whole answer,
        tool calls included. With server VAD the recording goes as fast as the socket
        takes it, padded with silence so the VAD ends the turn.

        ``tool_choice`` (``"auto"``, ``"required"``, ``"none"``) holds for this
        turn's first response (a ``session.update`` before it); once a tool was
        called the session goes back to ``"auto"``.
        """
        self.lifecycle.check()
        with self._tool_choice(tool_choice):
            return self.session.run_turn(user, timeout=timeout)

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = True,
                  pad_ms: float | None = None, timeout: float = 120.0, barge_in: bool = False,
                  tool_choice: str | None = None) -> Future[list[Turn]]:
        """Stream a recording as a microphone would (paced by default); returns at once a
        Future of the turns it started, answered (tool calls included), as
        :meth:`voicekit.session.VoiceSession.send_clip` (``barge_in`` too). ``tool_choice`` as
        in :meth:`run_turn`.

        Raises
        ------
        ClosedError
            If the agent was closed.
        """
        if tool_choice is None:
            return super().send_clip(clip, chunk_ms=chunk_ms, realtime=realtime, pad_ms=pad_ms, timeout=timeout,
                                     barge_in=barge_in)
        self.lifecycle.check()

        def turns() -> list[Turn]:
            with self._tool_choice(tool_choice):
                return super(RealtimeAgent, self).send_clip(clip, chunk_ms=chunk_ms, realtime=realtime,
                                                            pad_ms=pad_ms, timeout=timeout,
                                                            barge_in=barge_in).result()

        return in_thread(turns, "voicekit-RealtimeAgent-send_clip")

    # the audio and the turns are the session's
    def _hear(self, clip: Clip) -> None:
        self.session._hear(clip)

    def _stream(self, pcm: npt.NDArray[np.int16], step: int, realtime: bool) -> Future[None]:
        return self.session._stream(pcm, step, realtime)

    def _clip_from_code(self, barge_in: bool = False) -> None:
        self.session._clip_from_code(barge_in)

    def _default_pad_ms(self) -> float:
        return self.session._default_pad_ms()

    def _mark_now(self) -> int:
        return self.session._mark_now()

    def _turn_list(self) -> list[Turn]:
        return self.session.turns

    def _settle(self, before: int, mark: int, timeout: float) -> list[Turn]:
        return self.session._settle(before, mark, timeout)

    @contextlib.contextmanager
    def _tool_choice(self, choice: str | None) -> Iterator[None]:
        if choice is None:
            yield
            return
        self.session.update({"tool_choice": choice})
        self._restore_tool_choice = choice != "auto"
        # the response.create that answers the call says "auto" itself: the session.update
        # below is queued behind the clip's audio, and the answer is not (it would call again)
        self.session.follow_up_tool_choice = "auto" if choice != "auto" else None
        try:
            yield
        finally:
            self._restore_tool_choice = False
            self.session.follow_up_tool_choice = None
            if choice != "auto":  # waits for session.updated, so the session reads "auto" after the turn
                self.session.update({"tool_choice": "auto"})

    def interrupt(self) -> int | None:
        """Barge-in by hand: cancel, clear the Player, truncate to what was heard (ms), or None."""
        self.lifecycle.check()
        return self.session.interrupt()

    @property
    def turns(self) -> list[Turn]:
        """The session's :class:`~voicekit.realtime.Turn` records."""
        return self.session.turns

    @property
    def metrics(self) -> list[TurnMetrics]:
        """The :class:`TurnMetrics` of every finished turn, in order (:attr:`meter`)."""
        return self.meter.metrics

    # ------------------------------------------------------------ internals
    def _on_event(self, event: RealtimeEvent) -> None:
        if event.type == "response.function_call_arguments.done" and self._restore_tool_choice:
            # the rest of the clip's turns are not forced either (the follow-up says "auto" itself)
            self._restore_tool_choice = False
            self.session.send({"type": "session.update", "session": {"type": "realtime", "tool_choice": "auto"}})
        self._add_metrics(self.meter.handle(event))
