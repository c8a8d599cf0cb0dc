"""A cascaded voice agent: speech-to-text, then an LLM with tools, then text-to-speech.

Each user turn goes through three OpenAI APIs, with the stages overlapped:

1. **STT**: ``client.audio.transcriptions.create`` (Transcription API) on the
   turn's audio.
2. **LLM**: ``client.chat.completions.create(stream=True, tools=...)`` on the
   whole conversation. Tool calls are run (:class:`~voicekit.agents.tools.Toolbox`)
   and answered, and the model asked again, up to ``max_tool_rounds`` times.
3. **TTS**: as soon as the streamed reply has a speakable piece (a sentence;
   for the first, a clause or phrase: :func:`voicekit.phrases.speakable`),
   ``client.audio.speech`` speaks it as a raw PCM16 24 kHz stream into the
   :class:`~voicekit.widgets.Player`, while the LLM goes on writing.

Turn-taking uses the same Silero VAD and the same defaults as OpenAI's
``server_vad`` (:mod:`voicekit.vad`). **Head start**: the three stages begin
when the user *pauses*, while the VAD's silence window (500 ms) runs; the
answer is held (nothing plays, no tool runs, the conversation is unchanged)
until the silence window ends the turn at that pause, and is abandoned if the
user speaks on. Against OpenAI an abandoned head start still costs its
requests. New speech while the agent is answering is a **barge-in**: playback
stops, the LLM and TTS streams are abandoned, and only what was already spoken
stays in the conversation.

Sources: OpenAI guides "Speech to text", "Text to speech" (streaming raw
``pcm``), "Function calling", and "Voice agents" (the chained architecture).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ..audio import Clip
from ..formats import REALTIME_SAMPLE_RATE
from ..session import VoiceSession, pcm16_24k
from ..session.base import in_thread
from ..vad import VadSettings
from ._cancellable_stt import CancellableTranscriber
from ._cascaded_llm import chat_rounds
from ._cascaded_vad import TurnTaker
from .cascaded_turn import CascadedTurn, Speaker, SttResult
from .pricing import Usage
from .tools import Tool, Toolbox
from .turn_metrics import TurnMetrics

if TYPE_CHECKING:
    from openai import OpenAI

    from ..widgets import MetricsTable, Player, Transcript

__all__ = ["DEFAULT_INSTRUCTIONS", "CascadedAgent", "CascadedTurn"]

logger = logging.getLogger("voicekit.agents.cascaded")

DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice assistant. Answer in one or two short spoken sentences, "
    "with no lists or markdown. Use a tool when the user asks for something it provides."
)
"""Instructions both agents start with unless told otherwise."""



class CascadedAgent(VoiceSession):
    """Talk to an STT → LLM → TTS chain, with tools, barge-in and per-turn metrics.

    Parameters
    ----------
    client : openai.OpenAI
        Any sync client: OpenAI itself, or the stand-in (``OPENAI_BASE_URL``).
    instructions : str
        The system message.
    tools : iterable of callables or Tool
        Typed, documented functions (see :func:`voicekit.agents.tools.tool`).
    voice : str
        Speech API voice, e.g. ``"alloy"``, ``"coral"``; change :attr:`voice` any time.
    transcribe_model, llm_model, tts_model : str
        Defaults ``gpt-4o-mini-transcribe``, ``gpt-4.1-mini``, ``gpt-4o-mini-tts``.
    player, transcript, metrics : widgets, optional
        A streaming :class:`~voicekit.widgets.Player` for the reply, a
        :class:`~voicekit.widgets.Transcript` and a
        :class:`~voicekit.widgets.MetricsTable`, updated as turns run.
    vad : VadSettings
        Turn detection for :meth:`attach` and :meth:`send_clip` (OpenAI's
        ``server_vad`` defaults: threshold 0.5, 300 ms prefix, 500 ms silence).
    max_tool_rounds : int
        Chat requests that may end in tool calls per turn; the next one is sent with
        ``tool_choice="none"``.
    max_tokens : int
        The reply's length limit per chat request (``max_completion_tokens``); a reply
        cut there ends its turn ``incomplete``.
    temperature : float, optional
        The chat request's sampling temperature; None leaves the API's default. 0 makes
        the offline stand-in's replies repeatable (greedy decoding).
    head_start : bool
        Start transcribing, answering and speaking at a pause, during the VAD's
        silence window (default True); False starts at the end of the turn.
    """

    def __init__(
        self,
        client: OpenAI,
        *,
        instructions: str = DEFAULT_INSTRUCTIONS,
        tools: Iterable[Tool | Callable[..., Any]] = (),
        voice: str = "alloy",
        transcribe_model: str = "gpt-4o-mini-transcribe",
        llm_model: str = "gpt-4.1-mini",
        tts_model: str = "gpt-4o-mini-tts",
        player: Player | None = None,
        transcript: Transcript | None = None,
        metrics: MetricsTable | None = None,
        vad: VadSettings | None = None,
        max_tool_rounds: int = 3,
        tool_choice: str = "auto",
        max_tokens: int = 120,
        temperature: float | None = None,
        head_start: bool = True,
    ) -> None:
        super().__init__(player=player, transcript=transcript, metrics=metrics)
        self.client = client
        self.instructions = instructions
        self.toolbox = Toolbox(tools)
        self.voice = voice
        self.transcribe_model, self.llm_model, self.tts_model = transcribe_model, llm_model, tts_model
        self.vad = vad or VadSettings()
        self.max_tool_rounds, self.tool_choice, self.max_tokens = max_tool_rounds, tool_choice, max_tokens
        self.temperature = temperature
        self.head_start = head_start
        self.messages: list[dict[str, Any]] = []
        self.turns: list[CascadedTurn] = []
        self.conversation_id = _new_conversation_id()
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="voicekit-cascaded")
        self._lock = threading.RLock()  # guards the Player against a barge-in racing an append
        self._current: CascadedTurn | None = None
        self._turn_taking = TurnTaker(self)
        self._head_start_stt = CancellableTranscriber(client)

    # ------------------------------------------------------------ public API
    @property
    def metrics(self) -> list[TurnMetrics]:
        """The :class:`TurnMetrics` of every finished turn."""
        return [t.metrics for t in self.turns if t.done.is_set()]

    def reset(self) -> None:
        """Start a new conversation: forget the messages and turns (the instructions, tools
        and voice stay). The new conversation has a new :attr:`conversation_id`, so the
        Transcript and MetricsTable show it as new rows and overwrite nothing.

        Raises
        ------
        ClosedError
            If the agent was closed.
        """
        self.lifecycle.check()
        self.wait()
        with self._lock:
            self._turn_taking.drop_speculation()
            self.messages = []
            self.turns = []
            self._current = None
            self.conversation_id = _new_conversation_id()

    def run_turn(self, user: Clip | str, *, tool_choice: str | None = None, timeout: float = 120.0) -> CascadedTurn:
        """Answer one turn given in code (a recording, or typed text) and wait for it.

        The turn's end of speech is now: voice-to-voice counts from this call.
        ``tool_choice`` (``"auto"``, ``"required"``, ``"none"``) overrides
        :attr:`tool_choice` for this turn's first request; requests after a tool
        result use ``"auto"``.

        Raises
        ------
        TimeoutError
            If the answer is not complete within ``timeout`` seconds.
        openai.APIError
            Passed through from any stage.
        ClosedError
            If the agent was closed.
        """
        self.lifecycle.check()
        self.wait(timeout)
        audio = Clip(pcm16_24k(user), REALTIME_SAMPLE_RATE) if isinstance(user, Clip) else None
        turn = self._new_turn(audio, None if isinstance(user, Clip) else user, 0.0, tool_choice)
        self._adopt(turn, time.perf_counter())
        self._submit(self._guarded, turn).result(timeout)
        if turn.error is not None:
            raise turn.error
        return turn

    def feed(self, audio: Clip | npt.NDArray[np.int16]) -> None:
        """Push microphone audio (a Clip, or int16 samples at 24 kHz) through the VAD.

        A pause starts the answer in the background (held until the turn ends
        there); the end of a turn releases it, or starts it; speech while the
        agent answers interrupts it (barge-in).

        Raises
        ------
        ClosedError
            If the agent was closed.
        """
        self.lifecycle.check()
        self._turn_taking.feed(audio)

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = True,
                  pad_ms: float | None = None, timeout: float = 120.0, barge_in: bool = False,
                  tool_choice: str | None = None) -> Future[list[CascadedTurn]]:
        """Feed a recording through the VAD as a microphone would (see
        :meth:`voicekit.session.VoiceSession.send_clip`; the default padding is the VAD's
        silence window + 500 ms). ``tool_choice`` holds for the turns this clip starts,
        as in :meth:`run_turn`. The Future's result is the turns the VAD found, answered;
        it raises the first turn's error (``openai.APIError`` passed through)."""
        self._turn_taking.next_tool_choice = tool_choice
        return super().send_clip(clip, chunk_ms=chunk_ms, realtime=realtime, pad_ms=pad_ms, timeout=timeout,
                                 barge_in=barge_in)

    def _default_pad_ms(self) -> float:
        return float(self.vad.silence_duration_ms + 500)

    def _turn_list(self) -> list[CascadedTurn]:
        return self.turns

    def _hear(self, clip: Clip) -> None:
        self.feed(clip)

    def _stream(self, pcm: npt.NDArray[np.int16], step: int, realtime: bool) -> Future[None]:
        def feed_all() -> None:
            t0 = time.perf_counter()
            for i in range(0, pcm.size, step):
                if realtime:
                    time.sleep(max(0.0, t0 + i / REALTIME_SAMPLE_RATE - time.perf_counter()))
                self.feed(pcm[i:i + step])
            self._turn_taking.next_tool_choice = None

        return in_thread(feed_all, "voicekit-cascaded-feed")

    def _settle(self, before: int, mark: int, timeout: float) -> list[CascadedTurn]:
        self.wait(timeout)
        for turn in self.turns[before:]:
            if turn.error is not None:
                raise turn.error
        return self.turns[before:]

    @property
    def speaking(self) -> bool:
        """True while a turn is being answered or its audio still plays in the Player."""
        current = self._current
        busy = current is not None and not current.done.is_set()
        return busy or (self.player is not None and bool(self.player.playing))

    def interrupt(self) -> CascadedTurn | None:
        """Barge-in: stop playback now and cancel what remains of the current answer.

        Returns the interrupted turn, or None when nothing was running.
        """
        self.lifecycle.check()
        return self._stop_playback()

    def _stop_playback(self) -> CascadedTurn | None:
        with self._lock:
            if self.player is not None:
                self.player.clear()
            turn = self._current
            if turn is None or turn.done.is_set():
                return None
            turn.cancelled.set()
            return turn

    def wait(self, timeout: float | None = 120.0) -> None:
        """Block until the current turn is answered.

        Raises
        ------
        TimeoutError
            If it is still running after ``timeout`` seconds.
        """
        turn = self._current
        if turn is not None and not turn.done.wait(timeout):
            raise TimeoutError(f"turn {turn.index} still running after {timeout} s")

    def _release(self, timeout: float) -> None:
        """Cancel the current turn and stop the worker threads."""
        with self._lock:
            self._turn_taking.drop_speculation()
        self._stop_playback()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._head_start_stt.close(timeout)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self.lifecycle.check()
        return self._pool.submit(fn, *args)

    # ------------------------------------------------------------ one turn
    def _new_turn(self, audio: Clip | None, text: str | None, silence_ms: float,
                  tool_choice: str | None) -> CascadedTurn:
        turn = CascadedTurn(index=-1, audio=audio, user_text=text or "", tool_choice=tool_choice)
        turn.metrics = TurnMetrics("cascaded", -1, conversation=self.conversation_id, vad_silence_ms=silence_ms,
                                   input_audio_s=audio.duration if audio is not None else None)
        return turn

    def _adopt(self, turn: CascadedTurn, t_end: float) -> None:
        """The user's turn is over: number the turn, open its gate, play what it holds."""
        with self._lock:
            turn.index = turn.metrics.turn = len(self.turns)
            turn.t_end = t_end
            self.turns.append(turn)
            self._current = turn
            turn.gate.set()
            now = time.perf_counter()
            held, turn.held = turn.held, []
            for pcm in held:
                self._play(turn, pcm, now)
        self._show(turn)

    def _play(self, turn: CascadedTurn, pcm: npt.NDArray[np.int16], now: float) -> None:
        """Audio of an adopted turn reaches the Player (called under ``self._lock``)."""
        m = turn.metrics
        if m.voice_to_voice_ms is None and turn.t_end is not None:
            m.voice_to_voice_ms = max(0.0, 1000 * (now - turn.t_end))
        turn.reply_chunks.append(pcm)
        if self.player is not None:
            self.player.append(pcm, turn=f"turn-{turn.index}")  # a new turn flushes an older one's backlog

    def _show(self, turn: CascadedTurn) -> None:
        if self.transcript is None or not turn.gate.is_set():
            return
        if turn.user_text:
            self.transcript.show(turn.index, "user", turn.user_text, turn.metrics.conversation)
        if turn.reply_text:
            self.transcript.show(turn.index, "assistant", turn.reply_text, turn.metrics.conversation)

    def _guarded(self, turn: CascadedTurn) -> None:
        try:
            self._answer(turn)
        except BaseException as exc:  # handed to the caller via turn.error
            if turn.gate.is_set():
                logger.exception("cascaded turn %d failed", turn.index)
            turn.error = exc
            turn.metrics.status = "failed"
        finally:
            if turn.metrics.status in ("completed", "incomplete") and turn.cancelled.is_set():
                turn.metrics.status = "interrupted"
            if turn.gate.is_set():  # before done: a cell that waited for the turn finds its row
                self._add_metrics([turn.metrics])
            turn.done.set()

    def _transcribe(self, audio: Clip, cancelled: threading.Event | None = None) -> SttResult:
        """The transcript of ``audio``; with ``cancelled`` (a head start's), a request that setting
        it calls off on the wire (:mod:`._cancellable_stt`), and then an empty transcript."""
        t0 = time.perf_counter()
        if cancelled is None:
            result: Any = self.client.audio.transcriptions.create(model=self.transcribe_model,
                                                                  file=audio.to_file_tuple())
        else:
            result = self._head_start_stt.transcribe(self.transcribe_model, audio, cancelled)
        ms = 1000 * (time.perf_counter() - t0)
        if result is None:
            return "", Usage.from_transcription(self.transcribe_model, None), ms
        return result.text.strip(), Usage.from_transcription(self.transcribe_model, getattr(result, "usage", None)), ms

    def _history(self, turn: CascadedTurn) -> list[dict[str, Any]]:
        """The conversation before ``turn``, once the turns before it have finished
        (a barge-in cancelled them), led by the current instructions."""
        for t in self.turns:
            if t is not turn:
                t.done.wait(30)
        return [{"role": "system", "content": self.instructions}, *self.messages[1:]]

    def _answer(self, turn: CascadedTurn) -> None:
        m = turn.metrics
        if turn.audio is not None:
            text, usage, m.stt_ms = turn.stt.result() if turn.stt is not None else self._transcribe(turn.audio)
            turn.user_text = text
            m.add_usage(usage)
        m.user_text = turn.user_text
        self._show(turn)
        if turn.cancelled.is_set():
            return
        messages = [*self._history(turn), {"role": "user", "content": turn.user_text}]
        speaker = Speaker(self.client, self.tts_model, self.voice, turn, self._lock, self._play)
        try:
            chat_rounds(self, turn, messages, speaker, self._show)
        finally:
            speaker.close()
        if not turn.wait_gate():
            return  # a head start the user spoke on over: nothing of it stays
        turn.spoken_text = " ".join(speaker.spoken)
        m.reply_text = turn.reply_text
        reply = turn.reply
        m.output_audio_s = reply.duration if reply is not None else 0.0
        # after a barge-in, the conversation keeps only what was spoken
        said = turn.spoken_text if turn.cancelled.is_set() else turn.reply_text
        self.messages = [*messages, {"role": "assistant", "content": said}]


def _new_conversation_id() -> str:
    return f"conv_{uuid.uuid4().hex[:12]}"
