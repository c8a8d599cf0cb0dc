"""Fixtures for the browser tests: Chromium, a fake microphone, shared Jupyter servers.

Chromium is Debian's ``/usr/bin/chromium`` (``make browser`` installs it as root).
On CI (``CI=true``) a missing Chromium fails the run; elsewhere the tests are skipped
with the reason. Each failing test leaves a screenshot in ``tests/browser/artifacts/``.

The tests share one Jupyter server per app and kernel environment (``jupyter_servers``):
each test still writes its own notebook copy, in a folder of its own, opens it in its own
page (so its own kernel) and shuts that kernel down at its end.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from browser.harness import (
    Browser,
    JupyterServer,
    Kernel,
    fake_mic_wav,
    find_chromium,
    one_line_mic,
    open_and_run_first_cell,
    write_notebook,
)
from voicekit.audio import Clip
from voicekit.samples import sample_path

ARTIFACTS = Path(__file__).parent / "artifacts"
SPEECH_FILE = "ls_0890.wav"  # 5.3 s; the stand-in's Whisper tiny.en gets it word for word
NOTEBOOK = "widgets_test.ipynb"
PROJECT_KEY = "test-proj-call-widget-browser-key"
"""``OPENAI_API_KEY`` of the kernels that are given one (:func:`kernel_env`): a key that is not
a stand-in's, so ``use_standin()`` would leave it be; the call widget tests check that it
never reaches the page."""

SETUP_CELL = """\
import voicekit
from ipywebrtc import AudioRecorder, CameraStream
from voicekit.widgets import Player, Recorder, Scope, clip_from_ipywebrtc

# The tests record what the fake microphone's file holds: all processing off.
RAW = {"autoGainControl": False, "echoCancellation": False, "noiseSuppression": False}
rec = Recorder(processing="off")
chunk_seqs, chunk_frames, clips, errors = [], [], [], []
rec.on_chunk(lambda c: (chunk_seqs.append(c.seq), chunk_frames.append(c.clip.n_frames)))
rec.on_clip(clips.append)
rec.on_error(errors.append)
player = Player()
scope = Scope()
scope.follow(rec)
display(rec, player, scope)
"""

# Run only by the ipywebrtc test: while ipywebrtc's stream is open, Chromium applies
# its audio processing (gain control on) to every track of the same microphone.
WEBRTC_CELL = """\
mic_stream = CameraStream(constraints={"audio": RAW, "video": False})
webrtc_rec = AudioRecorder(stream=mic_stream)
display(webrtc_rec)
"""


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def chromium() -> str:
    path = find_chromium()
    if path is None:
        reason = ("Chromium not found at /usr/bin/chromium; install it with `make browser` "
                  "(apt-get install chromium, as root on Debian)")
        if _on_ci():
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.fail("playwright is missing: .venv/bin/pip install -e '.[dev]'", pytrace=False)
    return path


@pytest.fixture(scope="session")
def speech(shared_audio: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Clip, str]:
    """(48 kHz fake-microphone WAV, the speech clip, its reference transcript)."""
    from voicekit.samples import sample_transcripts

    wav, clip = fake_mic_wav(shared_audio / SPEECH_FILE, tmp_path_factory.mktemp("mic"))
    return wav, clip, sample_transcripts()[SPEECH_FILE]


# Package scope: Playwright's sync API keeps an asyncio loop running on the main thread
# while it is started, and tests outside this package call asyncio.run().
@pytest.fixture(scope="package")
def browser(chromium: str, speech: tuple[Path, Clip, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    b = Browser(chromium, speech[0], tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def kernel_env(standin_server: Any, *, key: bool) -> dict[str, str]:
    """The environment of a shared server's kernels: ``OPENAI_BASE_URL`` names the test
    session's stand-in (``use_standin()`` reuses it), and with ``key`` ``OPENAI_API_KEY`` is
    :data:`PROJECT_KEY` (without, a notebook's ``use_standin()`` sets the stand-in's own)."""
    env = {"OPENAI_BASE_URL": standin_server.base_url}
    if key:
        env["OPENAI_API_KEY"] = PROJECT_KEY
    return env


@pytest.fixture(scope="package")
def jupyter_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., JupyterServer]]:
    """``jupyter_servers(app, env)``: the one running Jupyter server of ``app`` ("lab" for
    JupyterLab 4, "notebook" for Notebook 7) whose kernels get ``env``, started on first use
    and shared by every browser test asking for the same pair (a server's start took 15 to
    30 s of each test file's setup on CI's 2 cores). A test puts its notebook in a folder of
    its own (:meth:`JupyterServer.folder`) and shuts its kernel down
    (:meth:`JupyterServer.shutdown_session`). All stop at the end of the browser tests."""
    servers: dict[tuple[str, tuple[tuple[str, str], ...]], JupyterServer] = {}

    def get(app: str, env: dict[str, str] | None = None) -> JupyterServer:
        key = (app, tuple(sorted((env or {}).items())))
        if key not in servers:
            servers[key] = JupyterServer(app, tmp_path_factory.mktemp(f"jupyter-{app}"), env=env).start()
        return servers[key]

    yield get
    for server in servers.values():
        server.stop()


def shut_down(server: JupyterServer, notebook: str) -> None:
    """Shut ``notebook``'s kernel down at the end of a test (its server runs on, shared): the
    test's own result matters more than a server too busy to answer, so that is printed."""
    try:
        server.shutdown_session(notebook)
    except OSError as exc:
        print(f"could not shut down the kernel of {notebook}: {exc}")


@dataclass
class Session:
    """One app's server, its page showing the test notebook, and that page's kernel.

    ``tmp`` is the notebook's own folder (the kernel's working directory), ``notebook`` its
    path relative to the server's root."""

    app: str
    server: JupyterServer
    page: Any
    kernel: Kernel
    tmp: Path
    notebook: str


@contextmanager
def notebook_session(browser: Browser, server: JupyterServer, name: str, cells: list[str], *,
                     ready: str | None = None, before_close: str | None = None,
                     button: str | None = "Record") -> Iterator[Session]:
    """A notebook of ``cells`` in a new folder ``name-*`` on the (shared) ``server``, open
    in a new page and its first cell run (until the page shows a ``button`` button, the
    Recorder's by default, and the kernel expression ``ready`` is true); ``before_close``
    runs in the kernel at the end, then the page closes and the kernel shuts down."""
    folder, rel = server.folder(name)
    notebook = f"{rel}/{NOTEBOOK}"
    write_notebook(folder / NOTEBOOK, cells)
    page = browser.new_page()
    kernel = None
    try:
        open_and_run_first_cell(page, server, notebook)
        if button is not None:
            page.get_by_role("button", name=button, exact=True).wait_for(timeout=60_000)
        kernel = server.kernel_for(notebook)
        if ready is not None:
            kernel.wait_for(ready, timeout=60)
        yield Session(server.app, server, page, kernel, folder, notebook)
    except Exception:
        _screenshot(page, f"{name}-{server.app}-setup")
        print(server.log_tail())
        raise
    finally:
        try:
            if kernel is not None:
                if before_close is not None:
                    kernel.run(before_close)
                kernel.close()
            page.close()
        finally:
            shut_down(server, notebook)


@pytest.fixture(scope="package", params=["lab", "notebook"], ids=["lab4", "notebook7"])
def jupyter(request: pytest.FixtureRequest, browser: Browser, standin_server: Any,
            jupyter_servers: Callable[..., JupyterServer]) -> Iterator[Session]:
    """JupyterLab 4 or Notebook 7 with the test notebook open and its first cell run."""
    server = jupyter_servers(request.param, kernel_env(standin_server, key=False))
    with notebook_session(browser, server, "widgets", [SETUP_CELL, WEBRTC_CELL]) as session:
        yield session


def _screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except PlaywrightError as exc:  # the page may be gone; the failure itself matters more
        print(f"no screenshot for {name}: {exc}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        funcargs = getattr(item, "funcargs", {})
        session = funcargs.get("jupyter")
        if isinstance(session, Session):
            _screenshot(session.page, item.name.replace("/", "_"))
        for i, page in enumerate(getattr(funcargs.get("run_all_of"), "pages", [])):
            _screenshot(page, f"{item.name.replace('/', '_')}-{i}")
    return report


@pytest.fixture(scope="session", autouse=True)
def _fresh_artifacts() -> None:
    shutil.rmtree(ARTIFACTS, ignore_errors=True)


@pytest.fixture(scope="module")
def call_browser(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium whose fake microphone says one line after 1 s, then a minute of silence
    (Chromium loops the file; a second line during the reply would be a barge-in)."""
    with one_line_call_browser(browser, tmp_path_factory.mktemp("call-mic")) as context:
        yield context


@contextmanager
def one_line_call_browser(browser: Browser, out: Path, lead_s: float = 1.0) -> Iterator[Any]:
    """A Chromium context for WebRTC calls on 127.0.0.1 (loopback candidates, autoplay) whose
    fake microphone says ``ls_0880.wav`` once after ``lead_s`` of silence, then a minute of
    silence (:func:`browser.harness.one_line_mic`); closed on exit."""
    wav = one_line_mic(sample_path("ls_0880.wav"), out, lead_s=lead_s)
    context = browser.launch(wav, out / "profile", "--allow-loopback-in-peer-connection",
                             "--autoplay-policy=no-user-gesture-required")
    try:
        yield context
    finally:
        context.close()
