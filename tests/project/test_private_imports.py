"""No module imports another subpackage's private module (issue 22, item 1; STYLE "Shape of the package").

A private module (``_name.py``) is its package's own business: only modules of that
package (and of its subpackages) import it. Read with ``ast`` from every module of
``voicekit/``, imports under ``if TYPE_CHECKING:`` included.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "voicekit"


def _module(path: Path) -> tuple[str, ...]:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return parts[:-1] if parts[-1] == "__init__" else parts


def _imported(path: Path) -> list[tuple[int, tuple[str, ...]]]:
    """Every ``voicekit`` module a file imports (and every name imported from one), dotted parts."""
    here = _module(path)
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else ()
            target = base + tuple(node.module.split(".") if node.module else ())
            found.append((node.lineno, target))
            found += [(node.lineno, target + (alias.name,)) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, tuple(alias.name.split("."))) for alias in node.names]
    return [(line, t) for line, t in found if t[:1] == ("voicekit",)]


def _private_module_of_another_package(importer: Path, target: tuple[str, ...]) -> str | None:
    importer_package = _module(importer) if importer.name == "__init__.py" else _module(importer)[:-1]
    for i, part in enumerate(target):
        if not (part.startswith("_") and not part.startswith("__")):
            continue
        module_file = PACKAGE.parent.joinpath(*target[:i + 1]).with_suffix(".py")
        if not module_file.is_file():  # a private *name* (a function, a constant), not a module
            return None
        owner = target[:i]
        if importer_package[:len(owner)] != owner:
            return ".".join(target[:i + 1])
        return None
    return None


def test_the_checker_sees_a_private_module_of_another_package() -> None:
    importer = PACKAGE / "standin" / "live" / "config.py"
    assert _private_module_of_another_package(importer, ("voicekit", "standin", "routes", "responses", "_input"))
    assert not _private_module_of_another_package(importer, ("voicekit", "standin", "live", "errors"))
    own = PACKAGE / "standin" / "routes" / "responses" / "__init__.py"
    assert not _private_module_of_another_package(own, ("voicekit", "standin", "routes", "responses", "_input"))


def test_no_module_imports_another_packages_private_module() -> None:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, target in _imported(path):
            private = _private_module_of_another_package(path, target)
            if private is not None:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {private}")
    assert not bad, "\n".join(sorted(set(bad)))
