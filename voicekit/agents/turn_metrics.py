"""Per-turn measurements of a voice agent, the same fields for both agents.

Times are milliseconds on the client's clock (``time.perf_counter``):

- **voice-to-voice**: from the moment the agent knows the user stopped
  speaking (the VAD's ``speech_stopped``, a push-to-talk release, or a clip
  handed over in code) to the first reply audio received (on a WebRTC call's
  sideband, which receives no audio: to ``output_audio_buffer.started``, see
  :mod:`voicekit.agents.realtime_metrics`). The VAD's silence
  window (``silence_duration_ms``), which passes *before* that moment, is not
  in it; it is reported beside it as ``vad_silence_ms``. For a head-start turn
  that moment is placed on the microphone's clock (the pause's arrival plus the
  rest of the silence window), so microphone audio that reaches the kernel late
  does not hide the wait behind a reply that was ready and held.
- **STT**: the Transcription API call, request to transcript.
- **LLM TTFT**: the first Chat Completions request of the turn, request to the
  first streamed token (text or a tool call).
- **TTS TTFB**: the Speech API call for the first sentence, request to its
  first audio bytes.

The Realtime agent has one model and no separate stages: its stage fields stay
``None``.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .pricing import Usage, usage_cost

__all__ = ["TurnMetrics", "percentile", "summarize"]


@dataclass
class TurnMetrics:
    """What one turn took: latency, tokens, audio seconds and estimated cost.

    Attributes
    ----------
    agent : str
        ``"cascaded"``, ``"realtime"`` or ``"live"``.
    turn : int
        0, 1, 2... within the agent's conversation.
    voice_to_voice_ms : float or None
        End of user speech (as the agent learned it) to first reply audio, ms.
    vad_silence_ms : float
        The VAD silence window before the end of speech was known, ms (0 for
        clips and push-to-talk, shown as "–"); not counted in ``voice_to_voice_ms``.
    stt_ms, llm_ttft_ms, tts_ttfb_ms : float or None
        Stage latencies of the cascaded agent, ms.
    input_audio_s : float or None
        Seconds of user audio in; None for a typed turn (no audio: does not apply).
    output_audio_s : float or None
        Seconds of reply audio out; None when the kernel never had the reply's audio
        (a WebRTC call's sideband: the audio went to the page over the peer).
    usage : list of Usage
        Tokens per model (cached input counted inside input).
    tool_calls : list of str
        Names of the tools the model called, in order.
    status : str
        ``completed``, ``incomplete`` (the reply hit its token limit: Realtime
        ``response.done`` status), ``interrupted`` (barge-in) or ``failed``.
    duration_cost_usd : float
        Cost that is not from tokens: GPT-Live bills its voice session by duration
        (:func:`voicekit.agents.pricing.live_session_cost`), shared out over its turns.
    conversation : str
        The conversation's id (a cascaded agent's ``conversation_id``, new at each
        ``reset()``; a Realtime session's id): turn numbers restart with each.
    """

    agent: str
    turn: int
    user_text: str = ""
    reply_text: str = ""
    voice_to_voice_ms: float | None = None
    vad_silence_ms: float = 0.0
    stt_ms: float | None = None
    llm_ttft_ms: float | None = None
    tts_ttfb_ms: float | None = None
    input_audio_s: float | None = 0.0
    output_audio_s: float | None = 0.0
    usage: list[Usage] = field(default_factory=list)
    tool_calls: list[str] = field(default_factory=list)
    status: str = "completed"
    conversation: str = ""
    duration_cost_usd: float = 0.0

    def add_usage(self, usage: Usage) -> None:
        """Add ``usage`` to the entry for its model (one entry per model; ``usage`` itself is not kept)."""
        for u in self.usage:
            if u.model == usage.model:
                u.add(usage)
                return
        self.usage.append(dataclasses.replace(usage))

    @property
    def tokens(self) -> int:
        """All tokens in and out, over every model."""
        return sum(u.total for u in self.usage)

    @property
    def cost_usd(self) -> float:
        """Estimated dollars at :data:`voicekit.agents.pricing.PRICES` (models not in the table count 0)."""
        return sum(usage_cost(u) or 0.0 for u in self.usage) + self.duration_cost_usd

    def row(self) -> dict[str, Any]:
        """A flat dict for a table: times rounded to ms, cost in dollars; None where a
        figure does not apply (no VAD window, no audio in, a stage this agent lacks)."""
        def ms(v: float | None) -> int | None:
            return None if v is None else round(v)

        return {
            "agent": self.agent, "conversation": self.conversation, "turn": self.turn, "status": self.status,
            "user": self.user_text, "reply": self.reply_text,
            "v2v_ms": ms(self.voice_to_voice_ms), "vad_silence_ms": ms(self.vad_silence_ms) or None,
            "stt_ms": ms(self.stt_ms), "llm_ttft_ms": ms(self.llm_ttft_ms), "tts_ttfb_ms": ms(self.tts_ttfb_ms),
            "tools": ", ".join(self.tool_calls), "tokens": self.tokens,
            "audio_in_s": None if self.input_audio_s is None else round(self.input_audio_s, 2),
            "audio_out_s": None if self.output_audio_s is None else round(self.output_audio_s, 2),
            "cost_usd": round(self.cost_usd, 6),
        }


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between ranks (numpy's default)."""
    if not values:
        return math.nan
    xs = sorted(values)
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarize(turns: Iterable[TurnMetrics]) -> dict[str, Any]:
    """p10, median and p90 (ms) of voice-to-voice and of each stage, over the turns that have them.

    Returns ``{"n", "p10_ms", "median_ms", "p90_ms", "stages": {stage: {"p10_ms", "median_ms", "p90_ms"}}}``;
    stages absent from every turn are left out.
    """
    turns = list(turns)
    v2v = [t.voice_to_voice_ms for t in turns if t.voice_to_voice_ms is not None]
    out: dict[str, Any] = {"n": len(v2v), "p10_ms": _r(percentile(v2v, 10)) if v2v else None,
                           "median_ms": _r(statistics.median(v2v)) if v2v else None,
                           "p90_ms": _r(percentile(v2v, 90)) if v2v else None, "stages": {}}
    for stage in ("stt_ms", "llm_ttft_ms", "tts_ttfb_ms"):
        xs = [getattr(t, stage) for t in turns if getattr(t, stage) is not None]
        if xs:
            out["stages"][stage] = {"p10_ms": _r(percentile(xs, 10)), "median_ms": _r(statistics.median(xs)),
                                    "p90_ms": _r(percentile(xs, 90))}
    return out


def _r(x: float) -> float:
    return round(x, 1)
