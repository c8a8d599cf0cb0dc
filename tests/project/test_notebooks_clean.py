"""Notebook hygiene: committed without outputs or widget state, and self-checking.

Notebooks are committed clean (``nbstripout notebooks/*.ipynb``) so that no output,
execution count or widget state (which can hold recorded audio, or a printed key)
lands in git. Each notebook starts with a markdown cell that says what it teaches,
and checks itself with at least one ``assert`` cell, which ``pytest --nbval-lax``
runs (``make test``).

What is checked is what git would commit: each notebook's blob in git's index (the
staged version, or the committed one when nothing is staged), not the working copy.
JupyterLab autosaves outputs into the working copies while a learner works, and
git's ``nbstripout`` clean filter (``.gitattributes``, installed by ``make setup``)
strips them on ``git add``; so a used working copy is fine, and a separate test checks
that the filter is installed. Outside a git checkout the working copies are read.

The blobs are read as plain JSON, so a notebook that ``nbformat`` would repair or
warn about still fails here with a clear message.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
"""The one kernelspec every notebook carries (what ipykernel's own kernelspec says)."""
EXPECTED = {
    "00_setup.ipynb", "01_transcription.ipynb", "01b_record_and_play.ipynb", "02_speech.ipynb",
    "03_chat_audio.ipynb", "04_realtime.ipynb", "04b_live.ipynb", "04c_webrtc.ipynb", "04d_translation.ipynb", "05_cascaded_agent.ipynb", "06_realtime_agent.ipynb", "07_compare.ipynb",
    "08_agents_sdk.ipynb",
}
_ASSERT_LINE = re.compile(r"^\s*assert\b", re.MULTILINE)


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def problems(nb: dict[str, Any]) -> list[str]:
    """Everything wrong with one notebook's JSON; empty when it is clean."""
    found: list[str] = []
    if nb.get("nbformat") != 4:
        found.append(f"expected nbformat 4, got {nb.get('nbformat')!r}")
    metadata = nb.get("metadata", {})
    if "widgets" in metadata:
        found.append("notebook metadata holds widget state (metadata.widgets)")
    kernel = metadata.get("kernelspec", {})
    if kernel.get("name") != "python3":
        found.append(f"expected kernelspec name 'python3', got {kernel.get('name')!r}")
    elif kernel.get("display_name") != KERNELSPEC["display_name"]:
        found.append(f"expected kernelspec display_name {KERNELSPEC['display_name']!r}, "
                     f"got {kernel.get('display_name')!r}")
    cells = nb.get("cells", [])
    if not cells:
        return [*found, "expected cells, got none"]
    if cells[0].get("cell_type") != "markdown":
        found.append(f"expected the first cell to be markdown, got {cells[0].get('cell_type')!r}")
    for i, cell in enumerate(cells):
        if "widgets" in cell.get("metadata", {}):
            found.append(f"cell {i} metadata holds widget state (metadata.widgets)")
        if cell.get("cell_type") != "code":
            continue
        if cell.get("outputs"):
            found.append(f"cell {i} has {len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            found.append(f"cell {i} has execution_count {cell['execution_count']}")
    if not any(
        c.get("cell_type") == "code" and _ASSERT_LINE.search(_source(c)) for c in cells
    ):
        found.append("expected at least one code cell with an assert (a self-check), got none")
    return found


def _notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _in_git() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], check=False, cwd=ROOT, capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == "true"


def committed_text(path: Path) -> str:
    """What git would commit for ``path``: its blob in the index (staged, else committed);
    the working copy outside a git checkout or for a file git does not know yet."""
    if _in_git():
        rel = path.relative_to(ROOT).as_posix()
        done = subprocess.run(["git", "show", f":{rel}"], check=False, cwd=ROOT, capture_output=True)
        if done.returncode == 0:
            return done.stdout.decode("utf-8")
    return path.read_text(encoding="utf-8")


def test_the_expected_notebooks_exist() -> None:
    names = {p.name for p in _notebook_paths()}
    assert EXPECTED <= names, f"missing notebooks: {sorted(EXPECTED - names)}"


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda p: p.name)
def test_notebook_is_clean_and_self_checking(path: Path) -> None:
    nb = json.loads(committed_text(path))
    found = problems(nb)
    assert not found, (
        f"{path.name}: " + "; ".join(found)
        + ". Strip outputs with: .venv/bin/nbstripout notebooks/*.ipynb"
    )


def test_git_strips_outputs_on_add() -> None:
    """The nbstripout clean filter is declared for notebooks and installed in this clone,
    so a working copy full of outputs is committed clean."""
    if not _in_git():
        pytest.skip("not a git checkout: nothing is committed from here")
    attr = subprocess.run(["git", "check-attr", "filter", "--", "notebooks/00_setup.ipynb"], check=False, cwd=ROOT,
                          capture_output=True, text=True).stdout
    assert attr.strip().endswith("nbstripout"), f"expected .gitattributes to give notebooks the nbstripout filter: {attr!r}"
    clean = subprocess.run(["git", "config", "filter.nbstripout.clean"], check=False, cwd=ROOT, capture_output=True, text=True)
    assert clean.returncode == 0 and "nbstripout" in clean.stdout, (
        "the nbstripout git filter is not installed in this clone: run `make setup` "
        "(it runs `nbstripout --install --attributes .gitattributes`)")


def test_a_working_copy_with_outputs_is_judged_by_its_index_blob(tmp_path: Path) -> None:
    """A notebook saved with outputs, as JupyterLab autosaves it, passes when git's blob is clean."""
    if not _in_git():
        pytest.skip("not a git checkout")
    path = _notebook_paths()[0]
    used = json.loads(path.read_text(encoding="utf-8"))
    code = next(c for c in used["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["hi\n"]}]
    code["execution_count"] = 1
    assert problems(used), "the spoiled copy itself must fail"
    assert not problems(json.loads(committed_text(path)))


def _as_saved_after_run_all(committed: str) -> str:
    """The committed notebook as JupyterLab saves it after Run All: outputs, execution counts,
    widget state, and the kernel's ``language_info`` (ipykernel's kernel_info reply, Python version
    included) in the metadata."""
    from ipykernel.ipkernel import IPythonKernel

    nb = json.loads(committed)
    nb["metadata"]["language_info"] = dict(IPythonKernel.language_info)
    nb["metadata"]["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}, "version_major": 2,
                                                                               "version_minor": 0}}
    count = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            count += 1
            cell["execution_count"] = count
            cell["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["ran\n"]}]
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("path", _notebook_paths(), ids=lambda p: p.name)
def test_git_status_stays_clean_after_run_all(path: Path) -> None:
    """Issue 25, item 9: after Run All, git's clean filter turns the saved notebook back into
    exactly the committed blob (``git hash-object --path`` applies the filter). ``make setup``
    installs the extra keys. That ``git status`` then runs the filter at all (a saved notebook's
    size differs) is the kit's Jupyter settings' part: tests/project/test_jupyter_config.py."""
    if not _in_git():
        pytest.skip("not a git checkout")
    rel = path.relative_to(ROOT).as_posix()
    saved = _as_saved_after_run_all(committed_text(path))
    hashed = subprocess.run(["git", "hash-object", f"--path={rel}", "--stdin"], input=saved.encode(), cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().strip()
    index = subprocess.run(["git", "rev-parse", f":{rel}"], cwd=ROOT, capture_output=True, check=True,
                           text=True).stdout.strip()
    keys = subprocess.run(["git", "config", "filter.nbstripout.extrakeys"], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout.split()
    assert hashed == index, (
        f"git status would show {rel} as modified after Run All: its clean filter leaves a difference. "
        f"This clone's filter.nbstripout.extrakeys: {keys or 'none'}; run `make setup` to install the project's")


# The checker itself: a notebook with each problem must be caught.
def _clean_notebook() -> dict[str, Any]:
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {"kernelspec": dict(KERNELSPEC)},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Title"]},
            {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
             "source": ["x = 1\n", "assert x == 1"]},
        ],
    }


def test_checker_accepts_a_clean_notebook() -> None:
    assert problems(_clean_notebook()) == []


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda nb: nb["cells"][1].update(outputs=[{"output_type": "stream", "name": "stdout",
                                                    "text": "1\n"}]), "output"),
        (lambda nb: nb["cells"][1].update(execution_count=3), "execution_count"),
        (lambda nb: nb["metadata"].update(widgets={"application/vnd.jupyter.widget-state+json": {}}),
         "widget"),
        (lambda nb: nb["cells"][1]["metadata"].update(widgets={}), "widget"),
        (lambda nb: nb["cells"].reverse(), "first cell"),
        (lambda nb: nb["cells"][1].update(source="x = 1  # assert nothing"), "assert"),
        (lambda nb: nb["metadata"].update(kernelspec={"name": "julia"}), "kernelspec"),
        (lambda nb: nb["metadata"]["kernelspec"].update(display_name="Python 3"), "display_name"),
    ],
    ids=["outputs", "execution_count", "notebook widgets", "cell widgets", "markdown first",
         "no assert", "kernel", "kernel display name"],
)
def test_checker_catches(spoil: Any, message: str) -> None:
    nb = _clean_notebook()
    spoil(nb)
    assert any(message in p for p in problems(nb)), problems(nb)
