"""A cascaded voice agent: speech-to-text, then an LLM with tools, then text-to-speech.

Each user turn goes through three OpenAI APIs, with the stages overlapped:

1. **STT**: ``client.audio.transcriptions.create`` (Transcription API) on the
   turn's audio.
2. **LLM**: ``client.chat.completions.create(stream=True, tools=...)`` on the
   whole conversation. Tool calls are run (:class:`~voicekit.tools.Toolbox`)
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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from ._cascaded_turn import CascadedTurn, Speaker, SttResult
from .agent_metrics import TurnMetrics
from .audio import Clip
from .formats import REALTIME_SAMPLE_RATE
from .phrases import speakable
from .pricing import Usage
from .tools import Tool, Toolbox
from .vad import TurnDetector, VadSettings

if TYPE_CHECKING:
    from openai import OpenAI

    from .widgets import MetricsTable, Player, Recorder, Transcript

__all__ = ["DEFAULT_INSTRUCTIONS", "CascadedAgent", "CascadedTurn"]

logger = logging.getLogger("voicekit.cascaded")

DEFAULT_INSTRUCTIONS = (
    "You are a friendly voice assistant. Answer in one or two short spoken sentences, "
    "with no lists or markdown. Use a tool when the user asks for something it provides."
)
"""Instructions both agents start with unless told otherwise."""

TAIL_MS = 200
"""Silence kept after the last speech in a VAD turn's audio, in ms."""

HEAD_START_PAUSE_MS = 100
"""A pause this long (ms) starts the head start. Shorter ones are mostly gaps between
words, and each false start would queue a transcription ahead of the real one."""
"""Silence kept after the last speech in a VAD turn's audio, in ms."""


class CascadedAgent:
    """Talk to an STT → LLM → TTS chain, with tools, barge-in and per-turn metrics.

    Parameters
    ----------
    client : openai.OpenAI
        Any sync client: OpenAI itself, or the stand-in (``OPENAI_BASE_URL``).
    instructions : str
        The system message.
    tools : iterable of callables or Tool
        Typed, documented functions (see :func:`voicekit.tools.tool`).
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
        head_start: bool = True,
    ) -> None:
        self.client = client
        self.instructions = instructions
        self.toolbox = Toolbox(tools)
        self.voice = voice
        self.transcribe_model, self.llm_model, self.tts_model = transcribe_model, llm_model, tts_model
        self.player, self.transcript, self.metrics_table = player, transcript, metrics
        self.vad = vad or VadSettings()
        self.max_tool_rounds, self.tool_choice, self.max_tokens = max_tool_rounds, tool_choice, max_tokens
        self.head_start = head_start
        self.messages: list[dict[str, Any]] = []
        self.turns: list[CascadedTurn] = []
        self._pool = ThreadPoolExecutor(max_workers=6, thread_name_prefix="voicekit-cascaded")
        self._lock = threading.RLock()  # guards the Player against a barge-in racing an append
        self._current: CascadedTurn | None = None
        self._recorder: Recorder | None = None
        self._detector: TurnDetector[VadSettings]
        self._audio: npt.NDArray[np.int16]
        self._audio_start_ms = 0.0
        self._speech_from_ms = 0.0
        self._speculation: tuple[float, CascadedTurn] | None = None
        self._next_tool_choice: str | None = None
        self._reset_vad()

    # ------------------------------------------------------------ public API
    @property
    def metrics(self) -> list[TurnMetrics]:
        """The :class:`TurnMetrics` of every finished turn."""
        return [t.metrics for t in self.turns if t.done.is_set()]

    def reset(self) -> None:
        """Forget the conversation (the instructions stay)."""
        self.wait()
        self.messages = []
        self.turns = []

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
        """
        self.wait(timeout)
        audio = _pcm16_24k(user) if isinstance(user, Clip) else None
        turn = self._new_turn(audio, None if isinstance(user, Clip) else user, 0.0, tool_choice)
        self._adopt(turn, time.perf_counter())
        self._pool.submit(self._guarded, turn).result(timeout)
        if turn.error is not None:
            raise turn.error
        return turn

    def send_clip(self, clip: Clip, *, chunk_ms: float = 100.0, realtime: bool = True,
                  pad_ms: float | None = None, tool_choice: str | None = None,
                  timeout: float = 120.0) -> list[CascadedTurn]:
        """Feed a recording through the VAD as a microphone would, and wait for the turns it starts.

        Parameters
        ----------
        clip : Clip
            Any rate or channels (mixed to mono, resampled to 24 kHz).
        chunk_ms : float
            Audio per chunk, in ms.
        realtime : bool
            Pace the chunks at the speed of speech (default), so the agent's work
            overlaps the silence window as it would live.
        pad_ms : float, optional
            Silence fed after the clip; default the VAD's silence window + 500 ms.
        tool_choice : str, optional
            For the turns this clip starts, as in :meth:`run_turn`.

        Returns
        -------
        list of CascadedTurn
            The turns the VAD found, finished.
        """
        pcm = _pcm16_24k(clip).samples
        pad = self.vad.silence_duration_ms + 500 if pad_ms is None else pad_ms
        pcm = np.concatenate([pcm, np.zeros(round(pad * REALTIME_SAMPLE_RATE / 1000), np.int16)])
        step = max(1, round(chunk_ms * REALTIME_SAMPLE_RATE / 1000))
        before = len(self.turns)
        self._next_tool_choice = tool_choice
        t0 = time.perf_counter()
        for i in range(0, pcm.size, step):
            if realtime:
                time.sleep(max(0.0, t0 + i / REALTIME_SAMPLE_RATE - time.perf_counter()))
            self.feed(pcm[i:i + step])
        self._next_tool_choice = None
        self.wait(timeout)
        for turn in self.turns[before:]:
            if turn.error is not None:
                raise turn.error
        return self.turns[before:]

    def feed(self, audio: Clip | npt.NDArray[np.int16]) -> None:
        """Push microphone audio (a Clip, or int16 samples at 24 kHz) through the VAD.

        A pause starts the answer in the background (held until the turn ends
        there); the end of a turn releases it, or starts it; speech while the
        agent answers interrupts it (barge-in).
        """
        pcm = _pcm16_24k(audio).samples if isinstance(audio, Clip) else np.asarray(audio, np.int16)
        with self._lock:
            self._audio = np.concatenate([self._audio, pcm])
            for ev in self._detector.feed(pcm):
                if ev.kind == "speech_started":
                    self._speech_from_ms = max(ev.ms - self.vad.prefix_padding_ms, self._audio_start_ms)
                    self._drop_speculation()
                    if self.speaking:
                        self.interrupt()
                elif ev.kind == "speech_stopped":
                    self._end_of_speech(ev.pause_ms if ev.pause_ms is not None else ev.ms)
            pause = self._detector.pause_ms
            fed_ms = self._audio_start_ms + self._audio.size * 1000 / REALTIME_SAMPLE_RATE
            if (self.head_start and pause is not None and fed_ms - pause >= HEAD_START_PAUSE_MS
                    and (self._speculation is None or self._speculation[0] != pause)):
                self._speculate(pause)
            if not self._detector.in_speech:  # keep only the prefix padding before speech
                keep = round((self.vad.prefix_padding_ms + 100) * REALTIME_SAMPLE_RATE / 1000)
                if self._audio.size > keep:
                    self._audio_start_ms += (self._audio.size - keep) * 1000 / REALTIME_SAMPLE_RATE
                    self._audio = self._audio[-keep:]

    def attach(self, recorder: Recorder) -> None:
        """Listen to ``recorder``'s chunks (about 100 ms each) through :meth:`feed`."""
        self.detach()
        recorder.on_chunk(self._on_chunk)
        self._recorder = recorder

    def detach(self) -> None:
        """Stop listening to the attached Recorder."""
        if self._recorder is not None:
            self._recorder.on_chunk(self._on_chunk, remove=True)
            self._recorder = None

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

    def close(self) -> None:
        """Detach the microphone, cancel the current turn and stop the worker threads."""
        self.detach()
        with self._lock:
            self._drop_speculation()
        self.interrupt()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ turn-taking
    def _reset_vad(self) -> None:
        self._detector = TurnDetector(self.vad)
        self._audio = np.zeros(0, np.int16)
        self._audio_start_ms = 0.0
        self._speech_from_ms = 0.0
        self._speculation = None

    def _on_chunk(self, chunk: Any) -> None:
        self.feed(chunk.clip)

    def _turn_audio(self, until_ms: float) -> Clip:
        a = round((self._speech_from_ms - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        b = round((until_ms + TAIL_MS - self._audio_start_ms) * REALTIME_SAMPLE_RATE / 1000)
        return Clip(self._audio[max(a, 0):max(b, 1)].copy(), REALTIME_SAMPLE_RATE)

    def _drop_speculation(self) -> None:
        if self._speculation is not None:
            self._speculation[1].cancelled.set()
            self._speculation = None

    def _speculate(self, pause_ms: float) -> None:
        """Head start at a pause: transcribe, answer and speak, all held behind the turn's gate."""
        self._drop_speculation()
        turn = self._new_turn(self._turn_audio(pause_ms), None, float(self.vad.silence_duration_ms),
                              self._next_tool_choice)
        assert turn.audio is not None
        turn.stt = self._pool.submit(self._transcribe, turn.audio)
        self._speculation = (pause_ms, turn)
        self._pool.submit(self._guarded, turn)

    def _end_of_speech(self, pause_ms: float) -> None:
        t_end = time.perf_counter()
        spec, self._speculation = self._speculation, None
        if spec is not None and spec[0] == pause_ms and not spec[1].cancelled.is_set():
            self._adopt(spec[1], t_end)  # the head start was for exactly this turn
            return
        if spec is not None:
            spec[1].cancelled.set()
        turn = self._new_turn(self._turn_audio(pause_ms), None, float(self.vad.silence_duration_ms),
                              self._next_tool_choice)
        self._adopt(turn, t_end)
        self._pool.submit(self._guarded, turn)

    # ------------------------------------------------------------ one turn
    def _new_turn(self, audio: Clip | None, text: str | None, silence_ms: float,
                  tool_choice: str | None) -> CascadedTurn:
        turn = CascadedTurn(index=-1, audio=audio, user_text=text or "", tool_choice=tool_choice)
        turn.metrics = TurnMetrics("cascaded", -1, conversation=f"{id(self):x}", vad_silence_ms=silence_ms,
                                   input_audio_s=audio.duration if audio is not None else 0.0)
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
            self.player.append(pcm)

    def _show(self, turn: CascadedTurn) -> None:
        if self.transcript is None or not turn.gate.is_set():
            return
        if turn.user_text:
            self.transcript.show(turn.index, "user", turn.user_text)
        if turn.reply_text:
            self.transcript.show(turn.index, "assistant", turn.reply_text)

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
            turn.done.set()
            if self.metrics_table is not None and turn.gate.is_set():
                self.metrics_table.add(turn.metrics)

    def _transcribe(self, audio: Clip) -> SttResult:
        t0 = time.perf_counter()
        result = self.client.audio.transcriptions.create(model=self.transcribe_model, file=audio.to_file_tuple())
        ms = 1000 * (time.perf_counter() - t0)
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
        speaker = Speaker(self, turn)
        try:
            self._chat(turn, messages, speaker)
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

    def _chat(self, turn: CascadedTurn, messages: list[dict[str, Any]], speaker: Speaker) -> None:
        m = turn.metrics
        pending, first_piece = "", True
        for round_ in range(self.max_tool_rounds + 1):
            tools: dict[str, Any] = {}
            if self.toolbox:
                choice = (turn.tool_choice or self.tool_choice) if round_ == 0 else "auto"
                tools = {"tools": self.toolbox.chat_tools(),
                         "tool_choice": choice if round_ < self.max_tool_rounds else "none"}
            t_req = time.perf_counter()
            stream = self.client.chat.completions.create(  # type: ignore[call-overload]
                model=self.llm_model, messages=messages, stream=True,
                stream_options={"include_usage": True}, max_completion_tokens=self.max_tokens, **tools)
            content: list[str] = []
            calls: dict[int, dict[str, str]] = {}
            with stream:
                for chunk in stream:
                    if turn.cancelled.is_set():
                        break
                    if chunk.usage is not None:
                        m.add_usage(Usage.from_chat(self.llm_model, chunk.usage))
                    for choice in chunk.choices:
                        if choice.finish_reason == "length":
                            m.status = "incomplete"  # the reply hit max_tokens, as Realtime reports it
                        d = choice.delta
                        if m.llm_ttft_ms is None and (d.content or d.tool_calls):
                            m.llm_ttft_ms = 1000 * (time.perf_counter() - t_req)
                        for tc in d.tool_calls or ():
                            call = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                            call["id"] = tc.id or call["id"]
                            if tc.function is not None:
                                call["name"] += tc.function.name or ""
                                call["arguments"] += tc.function.arguments or ""
                        if d.content:
                            content.append(d.content)
                            turn.reply_text += d.content
                            self._show(turn)
                            pieces, pending = speakable(pending + d.content, first=first_piece)
                            for piece in pieces:
                                speaker.say(piece)
                                first_piece = False
            if turn.cancelled.is_set() or not calls:
                break
            if not turn.wait_gate() or turn.cancelled.is_set():  # no tool runs for a turn that may not happen
                return
            self._run_tools(turn, messages, "".join(content), list(calls.values()))
        if pending.strip() and not turn.cancelled.is_set():
            speaker.say(pending.strip())

    def _run_tools(self, turn: CascadedTurn, messages: list[dict[str, Any]], content: str,
                   calls: Sequence[dict[str, str]]) -> None:
        messages.append({"role": "assistant", "content": content or None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]})
        for c in calls:
            record = self.toolbox.run(c["name"], c["arguments"], c["id"])
            turn.tool_calls.append(record)
            turn.metrics.tool_calls.append(record.name)
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": record.output})


def _pcm16_24k(audio: Clip) -> Clip:
    if not isinstance(audio, Clip):
        raise TypeError(f"expected a voicekit Clip, got {type(audio).__name__}")
    return audio.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16()
