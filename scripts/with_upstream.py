"""Run a command against a stand-in whose LLM is an upstream: a second stand-in (issue 17).

``python scripts/with_upstream.py CMD ARGS...`` starts one stand-in (real engines) as the
*upstream* and a second, the *front*, sharing its Whisper and Piper, whose every
text-generation step goes to the upstream over HTTP (``UpstreamLLM``, as with
``voicekit serve --llm-base-url ... --llm-model gpt-4o-mini``). ``CMD`` runs with
``OPENAI_BASE_URL`` pointing at the front. ``VOICEKIT_LLM_TOOLS`` (auto, native, json)
chooses how tools reach the upstream. For example, the notebooks on an upstream::

    .venv/bin/python scripts/with_upstream.py .venv/bin/python -m pytest --nbval-lax notebooks/03_chat_audio.ipynb
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from typing import Any

from voicekit.standin import StandinServer
from voicekit.standin.engines import Engines
from voicekit.standin.engines.llm_config import LLMConfig
from voicekit.standin.engines.upstream import UpstreamLLM


def engines_of(server: StandinServer) -> Engines:
    """The loaded engines of an in-process stand-in (its app's ``state.engines``)."""
    app: Any = server._server.config.app
    while not hasattr(getattr(app, "state", None), "engines"):  # middleware wraps the Starlette app
        app = app.app
    engines: Engines = app.state.engines
    return engines


def front_engines(engines: Engines, llm: UpstreamLLM) -> Engines:
    """``engines`` with ``llm`` as their LLM, for a second stand-in in the same process.

    A copy, not a new :class:`Engines`: the constructor would give the shared Whisper and
    Piper locks a second scheduling activity while the first stand-in's work is counted
    in the other, and batch transcription would then wait forever. The LLM is marked in
    the one activity, as the constructor marks its own; warm-up is off (already warm).
    """
    front = copy.copy(engines)
    front.llm = llm
    activity = getattr(engines, "activity", None)
    if activity is not None:
        activity.mark_model(llm)
    front.warm_up = None  # type: ignore[assignment,method-assign]  # create_app skips a missing warm-up
    return front


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python scripts/with_upstream.py CMD [ARGS...]", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with StandinServer() as upstream:
        e = engines_of(upstream)
        config = LLMConfig.resolve(base_url=upstream.base_url, model="gpt-4o-mini")
        with StandinServer(load_engines=lambda: front_engines(e, UpstreamLLM(config))) as front:
            env["OPENAI_BASE_URL"] = front.base_url
            print(f"with_upstream: front {front.base_url}, LLM {config.describe()}", flush=True)
            return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
