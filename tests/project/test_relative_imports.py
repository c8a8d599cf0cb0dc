"""Every relative import in the package resolves, including those inside functions.

The stand-in's reorganisation into subpackages moved ``engines.py`` to
``engines/bundle.py``; the imports inside ``Engines.warm_up`` kept their old
depth (``from ..vad``, ``from .engines.llm``), so warming failed at every start
with ``No module named 'voicekit.standin.vad'``, only logged. A module-level
import would have failed at import time; these did not.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import voicekit

PACKAGE = Path(voicekit.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_every_relative_import_names_a_module_that_exists() -> None:
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                target = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
                if importlib.util.find_spec(target) is None:
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {target}")
    assert not missing, missing
