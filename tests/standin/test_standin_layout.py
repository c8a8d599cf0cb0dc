"""The stand-in's layers (issue 21 item 5): sessions and transports call the engines, never an HTTP route.

``standin/routes/`` holds the HTTP routes; ``standin/realtime/``, ``standin/live/``
and ``standin/transport/`` the sessions and what carries them; ``standin/engines/``
the STT, TTS and LLM they share. A session that imports from the speech *route*
pulls Starlette's request handling into the reply pipeline and makes the route
the owner of what is the engine's (``PiperEngine``, ``synthesize_pcm``).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import voicekit

STANDIN = Path(voicekit.__file__).parent / "standin"
SESSION_LAYERS = ("realtime", "live", "transport", "engines")


def _imports(path: Path) -> list[tuple[int, str]]:
    parts = path.relative_to(STANDIN.parent.parent).with_suffix("").parts
    package = ".".join(parts if path.name == "__init__.py" else parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            name = (importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                    if node.level else node.module or "")
            out.append((node.lineno, name))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
    return out


def test_no_session_or_engine_imports_the_speech_route() -> None:
    offenders = [f"{path.relative_to(STANDIN)}:{line}: {name}"
                 for layer in SESSION_LAYERS for path in sorted((STANDIN / layer).rglob("*.py"))
                 for line, name in _imports(path) if name.startswith("voicekit.standin.routes.speech")]
    assert not offenders, offenders


def test_no_module_imports_another_subpackages_private_module() -> None:
    """STYLE.md: a private ``_module`` is its package's own; GPT-Live's config took the Responses route's
    ``_input`` for the model list (now ``standin/models.py``'s ``RESPONSES_MODELS``)."""
    package_root = STANDIN.parent
    offenders = []
    for path in sorted(package_root.rglob("*.py")):
        parts = path.relative_to(package_root.parent).with_suffix("").parts
        importer = ".".join(parts if path.name == "__init__.py" else parts[:-1])
        for line, name in _imports(path):
            owner, _, leaf = name.rpartition(".")
            if leaf.startswith("_") and not leaf.startswith("__") and owner.startswith("voicekit") and not (
                    importer == owner or importer.startswith(owner + ".")):
                offenders.append(f"{path.relative_to(package_root.parent)}:{line}: {name}")
    assert not offenders, offenders
