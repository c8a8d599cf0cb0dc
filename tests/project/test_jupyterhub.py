"""A class on JupyterHub: the shipped config, a real hub, three learners, one stand-in service.

The hub (``jupyterhub`` from PyPI) runs ``jupyterhub/jupyterhub_config.py`` in its demo
mode (DummyAuthenticator, SimpleLocalProcessSpawner) on free 127.0.0.1 ports in a tmp
dir, over https as a class needs it (a self-signed certificate for the public name
``hub.test`` and 127.0.0.1; the hub binds 127.0.0.1, its public URL is
``https://hub.test:PORT``), with configurable-http-proxy from npm (``make hub-proxy``, run by ``make test`` and ``make hub``, installs it under
``.venv/node``). The hub starts the stand-in as its managed service. Three users' servers
are spawned through the hub's REST API; each gets a kernel (Jupyter Server's REST API
through the hub's proxy), and all three kernels at once run a transcription and a Realtime
turn with ``voicekit.use_standin()`` and the unchanged ``openai`` SDK, reaching the
stand-in by its internal URL (``http://127.0.0.1:<service port>/v1``: no public
certificate to trust). Clients off the hub reach it at ``/services/voicekit/v1`` through
the proxy (HTTP and WebSocket, over TLS). Each learner finds the notebooks in
``~/voicekit-notebooks`` (the config's pre-spawn hook). And a learner in Chromium opens
the hub at ``https://hub.test:PORT`` (a non-loopback name), logs in, records from the fake
microphone and gets the recording transcribed. Tokens:
none, a bad one and a user's token without the service's scope get OpenAI's 401; a
user's token works.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from tls_cert import self_signed

from voicekit.standin.server import free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "jupyterhub" / "jupyterhub_config.py"
NODE_BIN = ROOT / ".venv" / "node" / "node_modules" / ".bin"
USERS = ("ada", "grace", "alan")
SERVICE = "voicekit"

if os.environ.get("CI") != "true":  # with CI=true a missing jupyterhub fails at the import below
    pytest.importorskip("jupyterhub", reason="jupyterhub is in the dev extra: make setup")
import jupyterhub  # noqa: F401


def _proxy_path() -> str:
    """PATH with configurable-http-proxy on it; skip (fail with CI=true) when it cannot run."""
    path = f"{NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
    missing = None
    if shutil.which("node") is None:
        missing = "node is not installed (Debian: apt-get install nodejs npm)"
    elif shutil.which("configurable-http-proxy", path=path) is None:
        missing = f"configurable-http-proxy is not in {NODE_BIN} nor on PATH (make hub-proxy installs it with npm)"
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the JupyterHub test: {missing}")
        pytest.skip(missing)
    return path


@dataclass
class Hub:
    """A running hub: its public URL, an admin token, the users' tokens."""

    url: str
    admin: httpx.Client
    log: Path
    verify: ssl.SSLContext
    service_port: int
    home: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def kernel_base_url(self) -> str:
        """The stand-in's internal URL, which the kernels get as OPENAI_BASE_URL."""
        return f"http://127.0.0.1:{self.service_port}/v1"

    @property
    def base_url(self) -> str:
        return f"{self.url}/services/{SERVICE}/v1"

    def api(self, method: str, path: str, **kw: Any) -> Any:
        r = self.admin.request(method, f"{self.url}/hub/api{path}", **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}\n{self.tail()}"
        return r.json() if r.content else None

    def tail(self) -> str:
        return "hub log ends:\n" + self.log.read_text(errors="replace")[-4000:]


def _wait(what: str, ok: Any, timeout: float, hub: Hub | None = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = ok()
        except httpx.TransportError:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not within {timeout:.0f} s" + (f"\n{hub.tail()}" if hub else ""))


TEST_CONFIG = """
load_subconfig({shipped!r})
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.db_url = "sqlite:///{tmp}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{tmp}/jupyterhub_cookie_secret"
c.ConfigurableHTTPProxy.pid_file = "{tmp}/jupyterhub-proxy.pid"
c.JupyterHub.services.append({{"name": "test-admin", "api_token": {admin!r}}})
c.JupyterHub.load_roles.append({{"name": "test-admin", "scopes": ["admin:users", "admin:servers", "tokens"],
                                "services": ["test-admin"]}})
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    path = _proxy_path()
    tmp = tmp_path_factory.mktemp("hub")
    port = free_port()
    admin = uuid.uuid4().hex
    cert, key = self_signed(tmp, names=("hub.test",), ips=("127.0.0.1",))
    verify = ssl.create_default_context(cafile=str(cert))
    service_port = free_port()
    (tmp / "test_config.py").write_text(TEST_CONFIG.format(
        shipped=str(CONFIG), hub_port=free_port(), proxy_api_port=free_port(), tmp=tmp, admin=admin))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "JUPYTERHUB_"))}
    env.update(PATH=path, VOICEKIT_HUB_DEMO="1", VOICEKIT_HUB_URL=f"https://hub.test:{port}",
               VOICEKIT_HUB_BIND_URL=f"https://127.0.0.1:{port}", VOICEKIT_HUB_SSL_CERT=str(cert),
               VOICEKIT_HUB_SSL_KEY=str(key), VOICEKIT_SERVICE_PORT=str(service_port),
               VOICEKIT_HUB_HOMES=f"{tmp}/home/{{username}}")
    log = tmp / "hub.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(tmp / "test_config.py")],
                                cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    client = httpx.Client(headers={"Authorization": f"token {admin}"}, timeout=30, verify=verify)
    h = Hub(f"https://127.0.0.1:{port}", client, log, verify, service_port, tmp / "home")
    try:
        _wait("the hub", lambda: proc.poll() is None and client.get(f"{h.url}/hub/api/").status_code == 200
              or proc.poll() is not None, 90, h)
        assert proc.poll() is None, f"the hub exited with {proc.returncode}\n{h.tail()}"
        h.api("POST", "/users", json={"usernames": list(USERS)})
        for name in USERS:  # the hub spawns them concurrently
            h.api("POST", f"/users/{name}/server")
        for name in USERS:
            _wait(f"{name}'s server", lambda n=name: h.api("GET", f"/users/{n}")["servers"].get("", {}).get("ready"),
                  150, h)
            h.tokens[name] = h.api("POST", f"/users/{name}/tokens", json={"note": "test"})["token"]
        first = h.tokens[USERS[0]]
        _wait("the stand-in service", lambda: httpx.get(
            f"{h.base_url}/models", headers={"Authorization": f"Bearer {first}"}, timeout=10,
            verify=verify).status_code == 200, 150, h)
        yield h
    finally:
        client.close()
        proc.send_signal(signal.SIGTERM)  # the hub stops the servers, the service and the proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _errors(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 401, (r.status_code, r.text)
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error"
    return dict(error)


def test_the_service_answers_only_tokens_with_its_scope(hub: Hub) -> None:
    from openai import AuthenticationError, DefaultHttpxClient, OpenAI

    url = f"{hub.base_url}/models"

    def get(url: str, **kw: Any) -> httpx.Response:
        return httpx.get(url, verify=hub.verify, **kw)

    assert _errors(get(url))["code"] is None  # no key: OpenAI's "You didn't provide an API key"
    assert _errors(get(url, headers={"Authorization": "Bearer not-a-hub-token"}))["code"] == "invalid_api_key"
    # A real token of a real user, but without access:services!service=voicekit.
    narrow = hub.api("POST", f"/users/{USERS[0]}/tokens", json={"scopes": ["read:users:name!user"]})["token"]
    assert _errors(get(url, headers={"Authorization": f"Bearer {narrow}"}))["code"] == "invalid_api_key"

    with OpenAI(base_url=hub.base_url, api_key="not-a-hub-token", max_retries=0,
                http_client=DefaultHttpxClient(verify=hub.verify)) as bad:
        with pytest.raises(AuthenticationError) as refused:
            bad.models.list()
        assert refused.value.code == "invalid_api_key"
        with pytest.raises(Exception, match="401"), bad.realtime.connect(
                model="gpt-realtime-mini", websocket_connection_options={"ssl": hub.verify}) as conn:
            conn.recv()  # the WebSocket handshake is refused through the proxy
    for base in (hub.base_url, hub.kernel_base_url):  # through the proxy (TLS), and the kernels' internal URL
        for key in (hub.tokens[USERS[1]], f"vk-standin-{hub.tokens[USERS[2]]}"):  # bare, or as the kernels have it
            with OpenAI(base_url=base, api_key=key, max_retries=0,
                        http_client=DefaultHttpxClient(verify=hub.verify)) as good:
                assert any(m.owned_by == "voicekit-standin" for m in good.models.list())
    assert _errors(get(url, headers={"Authorization": "Bearer vk-standin-"}))["code"] == "invalid_api_key"
    assert _errors(get(f"{hub.kernel_base_url}/models", headers={"Authorization": "Bearer not-a-hub-token"}))[
        "code"] == "invalid_api_key"  # the internal URL asks the hub about tokens too
    # The proxy passes the browser's Host on: a name the config did not allow is refused (DNS rebinding).
    foreign = get(url, headers={"Host": "rebound.example", "Authorization": f"Bearer {hub.tokens[USERS[1]]}"})
    assert foreign.status_code == 400 and foreign.json()["error"]["code"] == "invalid_host", foreign.text


KERNEL_CODE = """
import json, os, threading
import voicekit
from openai import OpenAI
from voicekit.realtime import RealtimeSession

backend = voicekit.use_standin()
client = OpenAI(max_retries=0)
clip = voicekit.load_sample("ls_0880.wav")
out = {"backend": backend, "base_url": str(client.base_url),
       "key_is_server_token": client.api_key == "vk-standin-" + os.environ["JUPYTERHUB_API_TOKEN"]}

def transcribe():
    try:
        out["text"] = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe",
                                                         file=clip.to_file_tuple()).text
    except Exception as exc:
        out["transcription_error"] = repr(exc)

thread = threading.Thread(target=transcribe)
thread.start()  # the transcription and the Realtime turn at the same time
with RealtimeSession(client) as rt:
    rt.start()
    turn = rt.run_turn(clip, timeout=240)
    out.update(status=turn.status, heard=turn.user_transcript, reply=turn.assistant_text, errors=rt.errors,
               reply_s=turn.reply.duration if turn.reply is not None else 0.0)
thread.join()
print("RESULT " + json.dumps(out))
"""


def _run_in_kernel(hub: Hub, name: str, code: str, timeout: float = 300) -> tuple[list[str], dict[str, Any] | None]:
    """Start a kernel on ``name``'s server through the proxy, run ``code``; its stdout and the error, if any."""
    from websockets.sync.client import connect

    auth = {"Authorization": f"token {hub.tokens[name]}"}
    server = f"{hub.url}/user/{name}/api"
    r = httpx.post(f"{server}/kernels", headers=auth, json={"name": "python3"}, timeout=60, verify=hub.verify)
    assert r.status_code == 201, (r.status_code, r.text)
    kernel = r.json()["id"]
    session = uuid.uuid4().hex
    msg_id = uuid.uuid4().hex
    request = {
        "header": {"msg_id": msg_id, "session": session, "username": name, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }
    ws_url = f"{server}/kernels/{kernel}/channels?session_id={session}".replace("https://", "wss://")
    stdout: list[str] = []
    error = None
    try:
        with connect(ws_url, additional_headers=auth, open_timeout=60, max_size=None, ssl=hub.verify) as ws:
            ws.send(json.dumps(request))
            deadline = time.monotonic() + timeout
            while True:
                msg = json.loads(ws.recv(timeout=max(1.0, deadline - time.monotonic())))
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "stream":
                    stdout.append(content["text"])
                elif kind == "error":
                    error = {"ename": content["ename"], "evalue": content["evalue"],
                             "traceback": "\n".join(content["traceback"])[-3000:]}
                elif kind == "status" and content["execution_state"] == "idle":
                    break
    finally:
        httpx.delete(f"{server}/kernels/{kernel}", headers=auth, timeout=30, verify=hub.verify)
    return stdout, error


def test_three_learners_kernels_transcribe_and_talk_at_once(hub: Hub) -> None:
    with ThreadPoolExecutor(len(USERS)) as pool:
        runs = dict(zip(USERS, pool.map(lambda n: _run_in_kernel(hub, n, KERNEL_CODE), USERS), strict=True))
    for name, (stdout, error) in runs.items():
        text = "".join(stdout)
        assert error is None, f"{name}'s kernel: {error}\n{text}"
        result = json.loads(text.split("RESULT ", 1)[1])
        assert result["backend"] == "standin", result
        backend_line = next(line for line in text.splitlines() if line.startswith("Backend:"))
        assert "stand-in" in backend_line and hub.kernel_base_url in backend_line, backend_line
        assert result["base_url"].rstrip("/") == hub.kernel_base_url and result["key_is_server_token"], result
        assert "transcription_error" not in result, result
        assert "young man" in result["text"].lower(), result  # "he was not an ill disposed young man"
        assert result["status"] == "completed" and not result["errors"], result
        assert result["heard"] and result["reply"].strip() and result["reply_s"] > 0.2, result


def test_each_learner_finds_the_notebooks_in_their_home(hub: Hub) -> None:
    kit = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    for name in USERS:
        folder = hub.home / name / "voicekit-notebooks"
        assert sorted(p.name for p in folder.glob("*.ipynb")) == kit, f"{name}: {folder}"


HUB_RECORDING_CELLS = [
    """\
import voicekit
from openai import OpenAI
from voicekit.widgets import Recorder
voicekit.use_standin()
client = OpenAI()
clips = []
rec = Recorder(processing="off")
rec.on_clip(clips.append)
display(rec)""",
    """\
heard = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=clips[-1].to_file_tuple()).text
print("HEARD", heard)""",
]


def test_a_learner_records_through_the_hub_on_its_public_name(hub: Hub, tmp_path: Path) -> None:
    """Issue 25, item 12: Chromium opens the hub at https://hub.test (a non-loopback name,
    mapped to 127.0.0.1 with --host-resolver-rules), logs in, and records from its fake
    microphone in JupyterLab; the kernel transcribes the recording through the stand-in.
    The self-signed certificate is accepted as a learner would accept the class's own
    (``ignore_https_errors``): the page is still https, a secure context."""
    from browser.harness import (
        CHROMIUM_FLAGS,
        fake_mic_wav,
        find_chromium,
        run_cell,
        write_notebook,
    )

    import voicekit

    chromium = find_chromium()
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Chromium for the hub recording test: make browser")
        pytest.skip("no Chromium at /usr/bin/chromium (make browser installs it)")
    from playwright.sync_api import sync_playwright

    name = USERS[0]
    write_notebook(hub.home / name / "hub_recording.ipynb", HUB_RECORDING_CELLS)
    wav, _ = fake_mic_wav(voicekit.sample_path("ls_0880.wav"), tmp_path)  # "he was not an ill disposed young man"
    public = hub.url.replace("127.0.0.1", "hub.test")
    args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={wav}", "--host-resolver-rules=MAP hub.test 127.0.0.1"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=args)
        try:
            page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 900}).new_page()
            page.goto(f"{public}/hub/login", wait_until="domcontentloaded", timeout=60_000)
            page.fill("#username_input", name)
            page.fill("#password_input", "any")  # demo mode: any password
            page.click("#login_submit")
            page.wait_for_url("**/user/**", timeout=120_000)
            page.goto(f"{public}/user/{name}/lab/tree/hub_recording.ipynb", wait_until="domcontentloaded",
                      timeout=60_000)
            assert page.evaluate("window.isSecureContext") is True
            page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(state="visible", timeout=120_000)
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle'], "
                         ".jp-Toolbar-kernelStatus, .jp-KernelStatus").first.wait_for(timeout=60_000)
            run_cell(page, 0, "hub_recording.ipynb")
            record = page.get_by_role("button", name="Record", exact=True)
            record.wait_for(timeout=120_000)
            record.click()
            stop = page.get_by_role("button", name="Stop", exact=True)
            stop.wait_for(timeout=10_000)
            time.sleep(4.5)  # 0.5 s of lead silence, then 3 s of speech
            stop.click()
            alerts = page.locator(".voicekit-recorder [role=alert]")
            assert not alerts.filter(has_text="secure context").count()
            page.get_by_role("button", name="Record", exact=True).wait_for(timeout=20_000)
            time.sleep(1.0)  # the last chunks reach the kernel
            run_cell(page, 1, "hub_recording.ipynb")
            heard = page.locator(".jp-OutputArea-output").filter(has_text="HEARD")
            heard.first.wait_for(timeout=120_000)
            text = heard.first.inner_text().lower()
            assert "young man" in text, text
        finally:
            browser.close()


# ---------------------------------------------------------------- the pieces, without a hub

def test_service_env_is_read_and_required() -> None:
    from voicekit.errors import StandinError
    from voicekit.standin.hub import HubService

    service = HubService.from_env({"JUPYTERHUB_SERVICE_NAME": "voicekit", "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:8010",
                                   "JUPYTERHUB_SERVICE_PREFIX": "/services/voicekit/"})
    assert (service.host, service.port, service.prefix) == ("127.0.0.1", 8010, "/services/voicekit/")
    with pytest.raises(StandinError, match="JUPYTERHUB_SERVICE_URL"):
        HubService.from_env({})


def test_strip_prefix_serves_under_the_service_prefix_and_at_the_root() -> None:
    import asyncio

    from voicekit.standin.hub import strip_prefix

    seen: list[tuple[str, str]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append((scope["type"], scope.get("path", "")))

    wrapped = strip_prefix(app, "/services/voicekit/")
    for kind, path in [("http", "/services/voicekit/v1/models"), ("websocket", "/services/voicekit/v1/realtime"),
                       ("http", "/v1/models"), ("http", "/services/voicekitx/v1"), ("lifespan", "")]:
        asyncio.run(wrapped({"type": kind, "path": path}, None, None))
    assert seen == [("http", "/v1/models"), ("websocket", "/v1/realtime"), ("http", "/v1/models"),
                    ("http", "/services/voicekitx/v1"), ("lifespan", "")]


class FakeHubAuth:
    """What hub_token_check uses of HubAuth: access_scopes and an awaitable user_for_token."""

    def __init__(self, models: dict[str, dict[str, Any] | None]) -> None:
        self.access_scopes = {"access:services!service=voicekit"}
        self.models = models

    async def _lookup(self, token: str) -> dict[str, Any] | None:
        return self.models.get(token)

    def user_for_token(self, token: str, *, sync: bool = True) -> Any:
        assert not sync, "the check must not block the server's event loop"
        return self._lookup(token)


def test_hub_token_check_requires_the_service_scope() -> None:
    import asyncio

    from voicekit.standin.hub import hub_token_check

    check = hub_token_check(FakeHubAuth({
        "scoped": {"name": "ada", "kind": "user", "scopes": ["access:services!service=voicekit", "self"]},
        "all-services": {"name": "admin", "kind": "user", "scopes": ["access:services"]},
        "other-service": {"name": "ada", "kind": "user", "scopes": ["access:services!service=grader"]},
        "no-scope": {"name": "ada", "kind": "user", "scopes": ["read:users:name!user=ada"]},
        "unknown": None,
    }))
    answers = {t: asyncio.run(check(t)) for t in ("scoped", "all-services", "other-service", "no-scope", "unknown")}
    assert answers == {"scoped": True, "all-services": True, "other-service": False, "no-scope": False,
                       "unknown": False}
