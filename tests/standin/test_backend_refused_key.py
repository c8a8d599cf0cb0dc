"""``use_standin()`` when the stand-in ``OPENAI_BASE_URL`` names refuses the key (401).

A token-protected stand-in (``voicekit serve --token T``, or ``--host 0.0.0.0``,
which always has one) reached with no key (or the no-key placeholder) must not be passed
over for a local stand-in of its own (which would silently replace
``OPENAI_BASE_URL``; in a light install it even asked to install the engines):
``use_standin()`` says the server wants its token as ``OPENAI_API_KEY``. A stale
``vk-standin-`` key (a shared stand-in that was restarted since) still falls
through to finding or starting the shared one. The secured stand-in here reuses
the session stand-in's loaded engines; nothing is started.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from with_upstream import engines_of

import voicekit
from voicekit import _runtime
from voicekit.backend import STANDIN_API_KEY
from voicekit.errors import StandinError
from voicekit.standin import StandinServer

TOKEN = "vk-standin-teacher-5d2c9a71"  # what --host 0.0.0.0 generates looks like this


@pytest.fixture(scope="module")
def secured(standin_server: StandinServer) -> Iterator[StandinServer]:
    engines = engines_of(standin_server)
    with StandinServer(load_engines=lambda: engines, token=TOKEN) as server:
        yield server


class _WouldStart(Exception):
    pass


@pytest.fixture
def no_start(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty runtime dir (no shared stand-in is found) and no start: find_or_start raises _WouldStart."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path))

    def refuse(**_: object) -> tuple[_runtime.Runtime, bool]:
        raise _WouldStart

    monkeypatch.setattr(_runtime, "find_or_start", refuse)


@pytest.mark.parametrize("key", [None, STANDIN_API_KEY])
def test_refused_key_is_said_not_replaced(secured: StandinServer, no_start: None,
                                          monkeypatch: pytest.MonkeyPatch, key: str | None) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", secured.base_url)
    if key is not None:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    with pytest.raises(StandinError, match="OPENAI_API_KEY") as info:
        voicekit.use_standin(quiet=True)
    message = str(info.value)
    assert secured.base_url in message and "401" in message and TOKEN not in message


def test_right_token_is_used(secured: StandinServer, no_start: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", secured.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", TOKEN)
    assert voicekit.use_standin(quiet=True) == "standin"


def test_stale_shared_token_still_finds_the_shared_standin(secured: StandinServer, no_start: None,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", secured.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "vk-standin-stale-from-an-earlier-run")
    with pytest.raises(_WouldStart):
        voicekit.use_standin(quiet=True)


AGENTS_TRACE = r"""
import voicekit
voicekit.use_standin(quiet=True)
from agents import trace
from agents.tracing.traces import NoOpTrace
print("TRACING", "off" if isinstance(trace("voicekit check"), NoOpTrace) else "on")
"""


@pytest.mark.parametrize(("preset", "expected"), [(None, "off"), ("0", "on")])
def test_agents_sdk_tracing_is_off_on_the_standin(secured: StandinServer, tmp_path: Path,
                                                   preset: str | None, expected: str) -> None:
    """On the stand-in the Agents SDK must not export traces (the learners' turns, with the
    stand-in's token as the key) to api.openai.com; an explicit OPENAI_AGENTS_DISABLE_TRACING wins."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "VOICEKIT_"))}
    env.update(OPENAI_BASE_URL=secured.base_url, OPENAI_API_KEY=TOKEN, JUPYTER_RUNTIME_DIR=str(tmp_path))
    if preset is not None:
        env["OPENAI_AGENTS_DISABLE_TRACING"] = preset
    out = subprocess.run([sys.executable, "-c", AGENTS_TRACE], env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"TRACING {expected}" in out.stdout, out.stdout
