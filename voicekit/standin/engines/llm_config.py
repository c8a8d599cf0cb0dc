"""Which LLM answers for the stand-in: the bundled GGUF model, or an upstream server.

An *upstream* is any server speaking OpenAI's Chat Completions (Ollama,
llama.cpp's ``llama-server``, LM Studio, vLLM, another stand-in). It is chosen
by command-line flags of ``voicekit serve`` or by environment variables; a flag
wins over its variable:

=========================  ==========================  ==================================
flag                       variable                    meaning
=========================  ==========================  ==================================
``--llm-base-url URL``     ``VOICEKIT_LLM_BASE_URL``   the upstream's ``.../v1`` base URL
``--llm-model NAME``       ``VOICEKIT_LLM_MODEL``      the upstream's model id (required)
(none: keep keys off       ``VOICEKIT_LLM_API_KEY``    its API key; most local servers
the command line)                                      need none
``--llm-tools MODE``       ``VOICEKIT_LLM_TOOLS``      ``auto`` (default), ``native`` or
                                                       ``json`` (see :mod:`.upstream`)
``--llm-timeout S``        ``VOICEKIT_LLM_TIMEOUT``    seconds to wait for the upstream
                                                       (default 60)
=========================  ==========================  ==================================

With no base URL the stand-in runs its own model (``VOICEKIT_LLM_GGUF`` or
SmolLM2-135M, :mod:`.llm`). The key is never part of :meth:`LLMConfig.describe`
or of any message.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from ...errors import StandinError

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "DEFAULT_TIMEOUT_S", "MODEL_ENV", "TIMEOUT_ENV", "TOOLS_ENV", "TOOL_MODES",
           "LLMConfig", "export_flags"]

BASE_URL_ENV = "VOICEKIT_LLM_BASE_URL"
MODEL_ENV = "VOICEKIT_LLM_MODEL"
API_KEY_ENV = "VOICEKIT_LLM_API_KEY"
TOOLS_ENV = "VOICEKIT_LLM_TOOLS"
TIMEOUT_ENV = "VOICEKIT_LLM_TIMEOUT"

TOOL_MODES = ("auto", "native", "json")
"""How tools reach the upstream: ``native`` passes ``tools``; ``json`` asks for a constrained
JSON choice with ``response_format``; ``auto`` tries native once and falls back to json."""

DEFAULT_TIMEOUT_S = 60.0
"""Seconds the stand-in waits for the upstream (connect, and between streamed chunks)."""

NO_KEY = "no-key"
"""The key sent when none is configured (the ``openai`` SDK needs a non-empty one; local servers ignore it)."""


@dataclass(frozen=True)
class LLMConfig:
    """The resolved LLM choice. ``base_url`` None means the local GGUF model.

    Attributes
    ----------
    base_url : str or None
        The upstream's base URL, without a trailing slash (``http://127.0.0.1:11434/v1``).
    model : str or None
        The upstream's model id.
    api_key : str
        The upstream's key (:data:`NO_KEY` when none is set). Never printed.
    tools : str
        One of :data:`TOOL_MODES`.
    timeout_s : float
        Seconds, > 0.
    """

    base_url: str | None = None
    model: str | None = None
    api_key: str = NO_KEY
    tools: str = "auto"
    timeout_s: float = DEFAULT_TIMEOUT_S

    @property
    def upstream(self) -> bool:
        return self.base_url is not None

    def describe(self) -> str:
        """``"llama3.2 at http://127.0.0.1:11434/v1 (upstream)"``, or ``"local GGUF model"``; no key."""
        return f"{self.model} at {self.base_url} (upstream)" if self.upstream else "local GGUF model"

    @classmethod
    def resolve(
        cls, *, base_url: str | None = None, model: str | None = None, tools: str | None = None,
        timeout_s: float | None = None, env: Mapping[str, str] | None = None,
    ) -> LLMConfig:
        """Flags (the keyword arguments) over environment variables, checked.

        Raises
        ------
        StandinError
            If the URL is not ``http(s)://host[:port]/...``, the model is missing while a URL
            is set, the tools mode or timeout is invalid, or ``VOICEKIT_LLM_GGUF`` is set too.
        """
        env = os.environ if env is None else env
        url = (base_url or env.get(BASE_URL_ENV) or "").strip() or None
        name = (model or env.get(MODEL_ENV) or "").strip() or None
        mode = (tools or env.get(TOOLS_ENV) or "auto").strip().lower()
        if mode not in TOOL_MODES:
            raise StandinError(f"LLM tools mode: expected one of {', '.join(TOOL_MODES)}, got {mode!r}")
        raw_timeout = timeout_s if timeout_s is not None else env.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S
        try:
            timeout = float(raw_timeout)
        except ValueError:
            timeout = -1.0
        if not timeout > 0:
            raise StandinError(f"LLM timeout: expected a positive number of seconds, got {raw_timeout!r}")
        if url is None:
            if name is not None:
                raise StandinError(f"--llm-model / {MODEL_ENV} is {name!r} but no upstream is set: "
                                   f"give --llm-base-url / {BASE_URL_ENV} too (e.g. http://127.0.0.1:11434/v1)")
            return cls(tools=mode, timeout_s=timeout)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StandinError(f"--llm-base-url / {BASE_URL_ENV}: expected an http(s) URL such as "
                               f"http://127.0.0.1:11434/v1, got {url!r}")
        if parts.username or parts.password:
            raise StandinError(f"--llm-base-url / {BASE_URL_ENV}: put credentials in {API_KEY_ENV}, not in the URL")
        if name is None:
            raise StandinError(f"an upstream LLM at {url} needs a model id: give --llm-model / {MODEL_ENV} "
                               f"(the upstream lists its ids at {url.rstrip('/')}/models)")
        if env.get("VOICEKIT_LLM_GGUF"):
            raise StandinError(f"both VOICEKIT_LLM_GGUF and an upstream LLM ({url}) are set: expected one of them")
        key = (env.get(API_KEY_ENV) or "").strip() or NO_KEY
        return cls(base_url=url.rstrip("/"), model=name, api_key=key, tools=mode, timeout_s=timeout)


def export_flags(args: argparse.Namespace, env: MutableMapping[str, str] | None = None) -> str:
    """Check ``voicekit serve``'s ``--llm-*`` flags (with the environment) and put them in ``env``.

    ``env`` defaults to ``os.environ``, where :meth:`.engines.Engines.load` reads the choice, so
    the server needs no new parameter. Returns :meth:`LLMConfig.describe` (no key).

    Raises
    ------
    StandinError
        As :meth:`LLMConfig.resolve`.
    """
    env = os.environ if env is None else env
    config = LLMConfig.resolve(base_url=args.llm_base_url, model=args.llm_model, tools=args.llm_tools,
                               timeout_s=args.llm_timeout, env=env)
    if config.upstream:
        assert config.base_url is not None and config.model is not None
        env[BASE_URL_ENV], env[MODEL_ENV] = config.base_url, config.model
    env[TOOLS_ENV], env[TIMEOUT_ENV] = config.tools, f"{config.timeout_s:g}"
    return config.describe()
