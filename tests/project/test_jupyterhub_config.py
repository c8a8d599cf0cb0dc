"""``jupyterhub/jupyterhub_config.py`` read without a hub: what it sets, refuses and copies.

The config is run as JupyterHub runs it (``get_config()`` gives a traitlets ``Config``)
with the teacher's environment variables (issue 25, items 12, 13, 14 and 16). The hub
itself, three learners and their kernels run in test_jupyterhub.py.
"""

from __future__ import annotations

import os
import runpy
import types
from pathlib import Path
from typing import Any

import pytest
from tls_cert import self_signed

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "jupyterhub" / "jupyterhub_config.py"

pytest.importorskip("traitlets")
pytest.importorskip("cryptography", reason="the self-signed certificates are made with cryptography")


def _load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Any:
    from traitlets.config import Config

    for name in list(os.environ):
        if name.startswith(("VOICEKIT_HUB", "VOICEKIT_SERVICE", "VOICEKIT_KERNEL")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config()
    runpy.run_path(str(CONFIG), init_globals={"get_config": lambda: config})
    return config


def test_demo_mode_is_refused_off_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    for url in ("http://192.0.2.10:8000", "http://0.0.0.0:8000", "https://192.0.2.10:8443"):
        with pytest.raises(SystemExit) as refused:
            _load(monkeypatch, VOICEKIT_HUB_DEMO="1", VOICEKIT_HUB_URL=url, VOICEKIT_HUB_SSL_CERT=str(cert),
                  VOICEKIT_HUB_SSL_KEY=str(key))
        message = str(refused.value)
        assert "refused" in message and "without a password" in message.lower() and url in message


def test_demo_mode_on_loopback_says_what_it_means(monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config = _load(monkeypatch, VOICEKIT_HUB_DEMO="1", VOICEKIT_HUB_URL="http://127.0.0.1:8000")
    assert config.JupyterHub.authenticator_class == "dummy"
    assert "DEMO MODE" in capsys.readouterr().err


def test_demo_mode_behind_a_public_name_binds_loopback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A public https name with the hub itself on loopback (a tunnel, a test) is loopback-bound."""
    cert, key = self_signed(tmp_path)
    config = _load(monkeypatch, VOICEKIT_HUB_DEMO="1", VOICEKIT_HUB_URL="https://hub.test:8443",
                   VOICEKIT_HUB_BIND_URL="https://127.0.0.1:8443", VOICEKIT_HUB_SSL_CERT=str(cert),
                   VOICEKIT_HUB_SSL_KEY=str(key))
    assert config.JupyterHub.bind_url == "https://127.0.0.1:8443/"
    assert config.JupyterHub.public_url == "https://hub.test:8443/"


def test_https_takes_the_certificate(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = _load(monkeypatch, VOICEKIT_HUB_URL="https://hub.example.org:8443", VOICEKIT_HUB_SSL_CERT=str(cert),
                   VOICEKIT_HUB_SSL_KEY=str(key))
    assert (config.JupyterHub.ssl_cert, config.JupyterHub.ssl_key) == (str(cert), str(key))
    assert config.JupyterHub.bind_url == "https://hub.example.org:8443/"


def test_https_without_a_certificate_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SystemExit, match="VOICEKIT_HUB_SSL_CERT"):
        _load(monkeypatch, VOICEKIT_HUB_URL="https://hub.example.org:8443")


def test_plain_http_off_loopback_warns_that_no_microphone_works(monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _load(monkeypatch, VOICEKIT_HUB_URL="http://192.0.2.10:8000")
    err = capsys.readouterr().err
    assert "no microphone" in err and "https" in err


def test_the_hub_waits_for_the_stand_in_to_warm_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in warms its engines before it answers (40 s and more on a busy 2-core machine);
    with JupyterHub's default 30 s wait the hub exited: "Cannot connect to voicekit service managed"."""
    service_class = pytest.importorskip("jupyterhub.services.service").Service
    config = _load(monkeypatch)
    (service,) = [s for s in config.JupyterHub.services if s["name"] == "voicekit"]
    fields = service_class.class_traits(input=True)
    assert set(service) <= set(fields), f"fields this JupyterHub does not take: {set(service) - set(fields)}"
    if "timeout" in fields:  # JupyterHub 6 and later
        assert service["timeout"] >= 300, service


def test_kernels_reach_the_stand_in_by_its_internal_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    config = _load(monkeypatch, VOICEKIT_HUB_URL="https://hub.example.org:8443", VOICEKIT_HUB_SSL_CERT=str(cert),
                   VOICEKIT_HUB_SSL_KEY=str(key), VOICEKIT_SERVICE_PORT="8123")
    env = config.Spawner.environment
    assert env["OPENAI_BASE_URL"] == "http://127.0.0.1:8123/v1"  # no public certificate to trust
    (service,) = [s for s in config.JupyterHub.services if s["name"] == "voicekit"]
    assert service["url"] == "http://127.0.0.1:8123"
    assert set(service["environment"]["VOICEKIT_ALLOWED_HOSTS"].split(",")) == {"hub.example.org", "127.0.0.1"}


def test_a_new_learner_finds_the_notebooks_in_their_home_and_keeps_their_edits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    config = _load(monkeypatch, VOICEKIT_HUB_DEMO="1", VOICEKIT_HUB_HOMES=f"{tmp_path}/home/{{username}}")
    home = tmp_path / "home" / "ada"
    spawner = types.SimpleNamespace(home_dir=str(home), user=types.SimpleNamespace(name="ada"))
    config.Spawner.pre_spawn_hook(spawner)  # the first start: the home does not exist yet
    copied = home / "voicekit-notebooks"
    assert sorted(p.name for p in copied.glob("*.ipynb")) == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    mine = copied / "01_transcription.ipynb"
    mine.write_text("{}")
    config.Spawner.pre_spawn_hook(spawner)  # later starts copy nothing
    assert mine.read_text() == "{}"


def test_a_user_without_a_unix_account_gets_no_copy_and_no_failed_spawn(monkeypatch: pytest.MonkeyPatch,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    config = _load(monkeypatch)  # PAM mode: homes are the users' Unix homes
    spawner = types.SimpleNamespace(user=types.SimpleNamespace(name="no-such-user-voicekit-test"))
    config.Spawner.pre_spawn_hook(spawner)
    assert "no Unix account" in caplog.text
