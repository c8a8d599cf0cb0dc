"""``make lab`` is quiet, with a line per step, and installs only what a learner needs (issue 25, item 11).

The real Makefile runs against a stand-in virtualenv whose programs are shims that log
their arguments (python, pip, nbstripout, voicekit, jupyter) and an ``npm`` shim on PATH,
so what a learner sees on the terminal is checked without installing anything.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPENDENCY_FILES = ["Makefile", "pyproject.toml", "requirements-nodeps.txt", "jupyter/overrides.json",
                    "jupyter/jupyter_server_config.py"]


def _shim(path: Path, log: Path) -> None:
    path.write_text(f'#!/bin/sh\necho "{path.name} $*" >> "{log}"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def kit(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A copy of the kit's build files with a shim venv (``.venv/bin/*``) and a shim npm on PATH."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for name in DEPENDENCY_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    log = tmp_path / "calls.log"
    log.touch()
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name in ("python", "nbstripout", "voicekit", "jupyter"):
        _shim(bin_dir / name, log)
    tools = tmp_path / "tools"
    tools.mkdir()
    _shim(tools / "npm", log)
    env = {**os.environ, "PATH": f"{tools}{os.pathsep}{os.environ['PATH']}", "MAKEFLAGS": ""}
    env.pop("OPENAI_API_KEY", None)
    return tmp_path, log, env


def _make(kit: tuple[Path, Path, dict[str, str]], target: str) -> tuple[list[str], str]:
    root, log, env = kit
    done = subprocess.run(["make", target], cwd=root, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines(), log.read_text()


def test_make_lab_shows_a_line_per_step_and_no_makefile_comments(kit) -> None:
    lines, calls = _make(kit, "lab")
    assert [line for line in lines if line.lstrip().startswith("#")] == [], lines
    steps = [line for line in lines if line.startswith("voicekit setup [")]
    assert [s.split("]")[0] for s in steps] == [f"voicekit setup [{i}/4" for i in range(1, 5)], lines
    assert not [line for line in lines if ".venv/bin/" in line], f"commands are echoed: {lines}"
    assert "pip install --quiet -e .[standin,dev]" in calls  # the install itself did run
    assert "jupyter lab" in calls


def test_make_lab_installs_no_jupyterhub_proxy(kit) -> None:
    lines, calls = _make(kit, "lab")
    assert "npm" not in calls and not [line for line in lines if "npm" in line], (lines, calls)


def test_the_hub_proxy_is_installed_for_the_hub_and_the_tests(kit) -> None:
    _, calls = _make(kit, "hub-proxy")
    assert "npm install" in calls and "configurable-http-proxy" in calls


def test_setup_installs_the_jupyter_server_settings(kit) -> None:
    _make(kit, "setup")
    root = kit[0]
    assert (root / ".venv/etc/jupyter/jupyter_server_config.py").read_text() == (
        ROOT / "jupyter/jupyter_server_config.py").read_text()
