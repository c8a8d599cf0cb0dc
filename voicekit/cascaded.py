"""A cascaded voice agent: speech-to-text, then an LLM with tools, then text-to-speech.

Each user turn goes through three OpenAI APIs, with the stages overlapped:

1. **STT**: ``client.audio.transcriptions.create`` (Transcription API) on the
   turn's audio. With the VAD, the request starts when the user *pauses*
   (while the silence window runs); if they go on speaking it is thrown away.
2. **LLM**: ``client.chat.completions.create(stream=True, tools=...)`` on the
   whole conversation. Tool calls are run (:class:`~voicekit.tools.Toolbox`)
   and answered, and the model asked again, up to ``max_tool_rounds`` times.
3. **TTS**: as soon as the streamed reply has a speakable piece (a sentence;
   for the first, a clause or phrase: :func:`voicekit.phrases.speakable`),
   ``client.audio.speech`` speaks it as a raw PCM16 24 kHz stream into the
   :class:`~voicekit.widgets.Player`, while the LLM goes on writing.

Turn-taking uses the same Silero VAD and the same defaults as OpenAI's
``server_vad`` (:mod:`voicekit.vad`). New speech while the agent is answering
is a **barge-in**: playback stops, the LLM and TTS streams are abandoned, and
only what was already spoken stays in the conversation.

Sources: OpenAI guides "Speech to text", "Text to speech" (streaming raw
``pcm``), "Function calling", and "Voice agents" (the chained architecture).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

from .agent_metrics import TurnMetrics
from .audio import Clip
from .formats import REALTIME_SAMPLE_RATE
from .phrases import speakable
from .pricing import TTS_AUDIO_TOKENS_PER_SECOND, Usage
from .tools import Tool, Toolbox, ToolCallRecord
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

TTS_CHUNK_BYTES = 4800
"""Bytes read from the Speech API stream at a time: 100 ms of 24 kHz PCM16."""

TAIL_MS = 200
"""Silence kept after the last speech in a VAD turn's audio, in ms."""


@dataclass
class CascadedTurn:
    """One user turn and the agent's answer.

    Attributes
    ----------
    index : int
        0, 1, 2... within the conversation.
    user_text : str
        The transcript (or the text typed).
    reply_text : str
        What the LLM answered (all of it, even if a barge-in cut the audio).
    spoken_text : str
        The pieces that reached the Player before any barge-in.
    tool_calls : list of ToolCallRecord
        The tools called, with arguments and outputs.
    audio : Clip or None
        The user's audio (24 kHz PCM16 mono), None for text.
    reply : Clip or None
        The reply audio received (24 kHz PCM16 mono).
    metrics : TurnMetrics
        Stage latencies, voice-to-voice, tokens and cost.
    """

    index: int
    user_text: str = ""
    reply_text: str = ""
    spoken_text: str = ""
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    audio: Clip | None = None
    reply_chunks: list[npt.NDArray[np.int16]] = field(default_factory=list, repr=False)
    metrics: TurnMetrics = field(default_factory=lambda: TurnMetrics("cascaded", 0))
    tool_choice: str | None = None
    done: threading.Event = field(default_factory=threading.Event, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    error: BaseException | None = field(default=None, repr=False)

    @property
    def reply(self) -> Clip | None:
        """The reply audio received so far, or None."""
        if not self.reply_chunks:
            return None
        return Clip(np.concatenate(self.reply_chunks), REALTIME_SAMPLE_RATE)

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``interrupted`` or ``failed``."""
        return self.metrics.status if self.done.is_set() else "running"


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
    speculative_stt : bool
        Start the transcription at a pause, during the silence window (default True).
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
        speculative_stt: bool = True,
    ) -> None:
        self.client = client
        self.instructions = instructions
        self.toolbox = Toolbox(tools)
        self.voice = voice
        self.transcribe_model, self.llm_model, self.tts_model = transcribe_model, llm_model, tts_model
        self.player, self.transcript, self.metrics_table = player, transcript, metrics
        self.vad = vad or VadSettings()
        self.max_tool_rounds, self.tool_choice, self.max_tokens = max_tool_rounds, tool_choice, max_tokens
        self.speculative_stt = speculative_stt
        self.messages: list[dict[str, Any]] = []
        self.turns: list[CascadedTurn] = []
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="voicekit-cascaded")
        self._lock = threading.RLock()  # guards the Player against a barge-in racing an append
        self._current: CascadedTurn | None = None
        self._recorder: Recorder | None = None
        self._detector: TurnDetector[VadSettings]
        self._audio: npt.NDArray[np.int16]
        self._audio_start_ms = 0.0
        self._speech_from_ms = 0.0
        self._speculation: tuple[float, Future[tuple[str, Usage, float]]] | None = None
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
        turn = self._begin(audio, None if isinstance(user, Clip) else user, time.perf_counter(), None, 0.0)
        turn.tool_choice = tool_choice
        return self._finish(turn, timeout)

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

        A pause starts the transcription; the end of a turn starts the answer in
        the background; speech while the agent answers interrupts it (barge-in).
        """
        pcm = _pcm16_24k(audio).samples if isinstance(audio, Clip) else np.asarray(audio, np.int16)
        with self._lock:
            self._audio = np.concatenate([self._audio, pcm])
            for ev in self._detector.feed(pcm):
                if ev.kind == "speech_started":
                    self._speech_from_ms = max(ev.ms - self.vad.prefix_padding_ms, self._audio_start_ms)
                    self._speculation = None
                    if self.speaking:
                        self.interrupt()
                elif ev.kind == "speech_paused" and self.speculative_stt:
                    self._speculate(ev.ms)
                elif ev.kind == "speech_stopped":
                    self._end_of_speech(ev.pause_ms if ev.pause_ms is not None else ev.ms)
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

    def _speculate(self, pause_ms: float) -> None:
        audio = self._turn_audio(pause_ms)
        self._speculation = (pause_ms, self._pool.submit(self._transcribe, audio))

    def _end_of_speech(self, pause_ms: float) -> None:
        t_end = time.perf_counter()
        stt: Future[tuple[str, Usage, float]] | None = None
        if self._speculation is not None and self._speculation[0] == pause_ms:
            stt = self._speculation[1]
        self._speculation = None
        turn = self._begin(self._turn_audio(pause_ms), None, t_end, stt, float(self.vad.silence_duration_ms))
        turn.tool_choice = self._next_tool_choice
        self._pool.submit(self._guarded, turn)

    # ------------------------------------------------------------ one turn
    def _begin(self, audio: Clip | None, text: str | None, t_end: float,
               stt: Future[tuple[str, Usage, float]] | None, silence_ms: float) -> CascadedTurn:
        turn = CascadedTurn(index=len(self.turns), audio=audio, user_text=text or "")
        turn.metrics = TurnMetrics("cascaded", turn.index, conversation=f"{id(self):x}", vad_silence_ms=silence_ms,
                                   input_audio_s=audio.duration if audio is not None else 0.0)
        turn._t_end = t_end  # type: ignore[attr-defined]
        turn._stt = stt  # type: ignore[attr-defined]
        self.turns.append(turn)
        self._current = turn
        return turn

    def _finish(self, turn: CascadedTurn, timeout: float) -> CascadedTurn:
        future = self._pool.submit(self._guarded, turn)
        future.result(timeout)
        if turn.error is not None:
            raise turn.error
        return turn

    def _guarded(self, turn: CascadedTurn) -> None:
        try:
            self._answer(turn)
        except BaseException as exc:  # handed to the caller via turn.error
            logger.exception("cascaded turn %d failed", turn.index)
            turn.error = exc
            turn.metrics.status = "failed"
        finally:
            if turn.metrics.status == "completed" and turn.cancelled.is_set():
                turn.metrics.status = "interrupted"
            turn.done.set()
            if self.metrics_table is not None:
                self.metrics_table.add(turn.metrics)

    def _transcribe(self, audio: Clip) -> tuple[str, Usage, float]:
        t0 = time.perf_counter()
        result = self.client.audio.transcriptions.create(model=self.transcribe_model, file=audio.to_file_tuple())
        ms = 1000 * (time.perf_counter() - t0)
        return result.text.strip(), Usage.from_transcription(self.transcribe_model, getattr(result, "usage", None)), ms

    def _answer(self, turn: CascadedTurn) -> None:
        m = turn.metrics
        if turn.audio is not None:
            stt: Future[tuple[str, Usage, float]] | None = turn._stt  # type: ignore[attr-defined]
            text, usage, m.stt_ms = stt.result() if stt is not None else self._transcribe(turn.audio)
            turn.user_text = m.user_text = text
            m.add_usage(usage)
        m.user_text = turn.user_text
        if self.transcript is not None:
            self.transcript.show(turn.index, "user", turn.user_text)
        if not self.messages:
            self.messages.append({"role": "system", "content": self.instructions})
        self.messages.append({"role": "user", "content": turn.user_text})
        speaker = _Speaker(self, turn)
        try:
            self._chat(turn, speaker)
        finally:
            speaker.close()
        turn.spoken_text = " ".join(speaker.spoken)
        m.reply_text = turn.reply_text
        reply = turn.reply
        m.output_audio_s = reply.duration if reply is not None else 0.0
        # after a barge-in, the conversation keeps only what was spoken
        said = turn.spoken_text if turn.cancelled.is_set() else turn.reply_text
        self.messages.append({"role": "assistant", "content": said})

    def _chat(self, turn: CascadedTurn, speaker: _Speaker) -> None:
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
                model=self.llm_model, messages=self.messages, stream=True,
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
                            if self.transcript is not None:
                                self.transcript.show(turn.index, "assistant", turn.reply_text)
                            pieces, pending = speakable(pending + d.content, first=first_piece)
                            for piece in pieces:
                                speaker.say(piece)
                                first_piece = False
            if turn.cancelled.is_set():
                return
            if not calls:
                break
            self._run_tools(turn, "".join(content), list(calls.values()))
        if pending.strip():
            speaker.say(pending.strip())

    def _run_tools(self, turn: CascadedTurn, content: str, calls: Sequence[dict[str, str]]) -> None:
        self.messages.append({"role": "assistant", "content": content or None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]})
        for c in calls:
            record = self.toolbox.run(c["name"], c["arguments"], c["id"])
            turn.tool_calls.append(record)
            turn.metrics.tool_calls.append(record.name)
            self.messages.append({"role": "tool", "tool_call_id": c["id"], "content": record.output})


class _Speaker:
    """Speaks pieces of the reply in order on one worker thread, while the LLM streams."""

    def __init__(self, agent: CascadedAgent, turn: CascadedTurn) -> None:
        self.agent, self.turn = agent, turn
        self.spoken: list[str] = []
        self._queue: list[str | None] = []
        self._ready = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="voicekit-tts", daemon=True)
        self._thread.start()

    def say(self, text: str) -> None:
        with self._ready:
            self._queue.append(text)
            self._ready.notify()

    def close(self) -> None:
        """Wait until every piece was spoken (or the turn cancelled)."""
        with self._ready:
            self._queue.append(None)
            self._ready.notify()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._queue))
                text = self._queue.pop(0)
            if text is None or self.turn.cancelled.is_set():
                if text is None:
                    return
                continue
            try:
                self._speak(text)
            except Exception as exc:  # surfaced on the turn; the LLM side finishes normally
                logger.exception("TTS failed")
                self.turn.error = self.turn.error or exc

    def _speak(self, text: str) -> None:
        agent, turn, m = self.agent, self.turn, self.turn.metrics
        t_req = time.perf_counter()
        samples = 0
        rest = b""
        with agent.client.audio.speech.with_streaming_response.create(
            model=agent.tts_model, voice=agent.voice, input=text, response_format="pcm",
        ) as response:
            for data in response.iter_bytes(TTS_CHUNK_BYTES):
                now = time.perf_counter()
                data, rest = rest + data, b""
                if len(data) % 2:
                    data, rest = data[:-1], data[-1:]
                if not data:
                    continue
                pcm = np.frombuffer(data, "<i2").astype(np.int16)
                with agent._lock:
                    if turn.cancelled.is_set():
                        return
                    if m.tts_ttfb_ms is None:
                        m.tts_ttfb_ms = 1000 * (now - t_req)
                        m.voice_to_voice_ms = 1000 * (now - turn._t_end)  # type: ignore[attr-defined]
                    turn.reply_chunks.append(pcm)
                    if agent.player is not None:
                        agent.player.append(pcm)
                    if samples == 0:
                        self.spoken.append(text)
                samples += pcm.size
        seconds = samples / REALTIME_SAMPLE_RATE
        m.add_usage(Usage(agent.tts_model, text_in=max(1, len(text) // 4),
                          audio_out=round(seconds * TTS_AUDIO_TOKENS_PER_SECOND), estimated=True))


def _pcm16_24k(audio: Clip) -> Clip:
    if not isinstance(audio, Clip):
        raise TypeError(f"expected a voicekit Clip, got {type(audio).__name__}")
    return audio.to_mono().resample(REALTIME_SAMPLE_RATE).to_int16()
