"""scripts/notebooks_twice.py: the twice-run copies ``make test`` runs under nbval.

The copies themselves run in ``make test`` (``pytest --nbval-lax build/notebooks-twice``);
this checks that they hold every cell twice, in order, then the two checks.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from notebooks_twice import main, twice

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


def test_each_copy_holds_the_notebook_twice_then_the_checks(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        copy = nbformat.read(tmp_path / path.name, as_version=4)
        sources = [c.source for c in nb.cells]
        assert [c.source for c in copy.cells[:-2]] == sources + sources, path.name
        assert "no callback registered twice" in copy.cells[-2].source
        assert "answers a spoken turn" in copy.cells[-1].source
        assert all(not c.get("outputs") for c in copy.cells if c.cell_type == "code")
        assert len({c["id"] for c in copy.cells}) == len(copy.cells)


def test_twice_keeps_the_kernelspec() -> None:
    nb = nbformat.read(min(NOTEBOOKS.glob("*.ipynb")), as_version=4)
    assert twice(nb).metadata["kernelspec"]["name"] == "python3"


def test_order_lists_every_copy_once_the_slowest_first(tmp_path: Path) -> None:
    assert main([str(tmp_path)]) == 0
    order = [Path(line) for line in (tmp_path / "order.txt").read_text().splitlines()]
    assert sorted(p.name for p in order) == sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert all(p.exists() for p in order)
    assert order[0].stem == "07_compare"  # the longest in make test: it must not start last
