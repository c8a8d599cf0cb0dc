"""The stand-in's engines, which routes and sessions call: Whisper (STT), Piper (TTS), the LLM and its scheduling.

Modules: :mod:`.bundle` (:class:`Engines`, loaded once per server: Whisper and
Piper wrappers, the LLM), :mod:`.synthesis` (Piper speech in OpenAI's voice
variants, sentence by sentence), :mod:`.llm` (SmolLM2 on llama.cpp),
:mod:`.upstream` (an OpenAI-compatible LLM instead), :mod:`.llm_config`,
:mod:`.llm_types`, :mod:`.tool_choice` (constrained tool decisions),
:mod:`.json_bounds` (length bounds that make a constrained output finish),
:mod:`.carry` (a grammar that makes a reply carry a tool's or a delegation's result),
:mod:`.scheduling` (thread budget, priority locks), :mod:`.multilingual` (the
multilingual Whisper's files and language codes) and :mod:`.languages` (which Whisper
hears a request). Nothing here imports a route or a session.
"""

from .bundle import (
    WHISPER_SAMPLE_RATE,
    Engines,
    PiperEngine,
    SttResult,
    SttSegment,
    SttWord,
    WhisperEngine,
    audio_tokens,
    locked_steps,
)

__all__ = ["WHISPER_SAMPLE_RATE", "Engines", "PiperEngine", "SttResult", "SttSegment", "SttWord", "WhisperEngine",
           "audio_tokens", "locked_steps"]
