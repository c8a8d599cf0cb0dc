"""A real Jupyter server, a real Chromium with a fake microphone, and the page's kernel.

Used by the browser tests (``tests/browser/``) and by ``benchmarks/widgets.py``; it
needs no pytest. Pieces:

- :func:`find_chromium`: Debian's ``/usr/bin/chromium`` (Playwright cannot download its
  own browser here).
- :func:`fake_mic_wav`: a 48 kHz PCM16 WAV made from a real recording, padded with
  silence so Chromium's looping fake device does not repeat it within one recording.
- :class:`JupyterServer`: ``jupyter lab`` or ``jupyter notebook`` (Notebook 7) on
  127.0.0.1, a temp root dir and runtime dir, a fixed token.
- :class:`Browser`: Playwright driving Chromium with the launch flags
  :data:`CHROMIUM_FLAGS` and a fresh user-data dir.
- :class:`Kernel`: a ``jupyter_client`` connection to the kernel the page started,
  through its connection file, to read widget state between cells.
"""

from __future__ import annotations

import ast
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from voicekit.audio import Clip

CHROMIUM = "/usr/bin/chromium"

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
]
"""Launch flags; ``--use-file-for-fake-audio-capture=<wav>`` is added per launch."""

LEAD_SILENCE_S = 0.5
TAIL_SILENCE_S = 10.0


def find_chromium() -> str | None:
    """Path of Debian's Chromium, or None."""
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    return shutil.which("chromium")


def fake_mic_wav(source: Path, out_dir: Path) -> tuple[Path, Clip]:
    """Write ``source`` as a 48 kHz mono PCM16 WAV with silence around it.

    Returns the path and the speech itself (the source clip, unpadded).
    Chromium loops the file (``--use-file-for-fake-audio-capture``); the
    :data:`TAIL_SILENCE_S` seconds of silence keep one recording from hearing it twice.
    """
    speech = Clip.from_file(source).to_mono()
    at48 = speech.resample(48_000).to_int16().samples
    pad = lambda s: np.zeros(int(s * 48_000), np.int16)
    out = out_dir / f"fake_mic_{source.stem}_48k.wav"
    Clip(np.concatenate([pad(LEAD_SILENCE_S), at48, pad(TAIL_SILENCE_S)]), 48_000).to_file(out)
    return out, speech


def one_line_mic(source: Path, out_dir: Path, lead_s: float = 1.0) -> Path:
    """A 48 kHz fake-microphone WAV: ``lead_s`` of silence, ``source`` once, then a minute of
    silence. Chromium loops the file; a second line during a WebRTC reply would be a barge-in."""
    speech = Clip.from_file(source).to_mono().resample(48_000).to_int16().samples
    out = out_dir / "mic.wav"
    Clip(np.concatenate([np.zeros(int(lead_s * 48_000), np.int16), speech, np.zeros(60 * 48_000, np.int16)]),
         48_000).to_file(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def is_session_of(session: dict[str, Any], notebook: str) -> bool:
    """Whether a session of ``/api/sessions`` is ``notebook``'s (its path from the root, exactly:
    a shared server holds other tests' notebooks of the same name in other folders)."""
    return str(session.get("path", "")).lstrip("/") == notebook.lstrip("/")


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class JupyterServer:
    """``jupyter lab`` or ``jupyter notebook`` on 127.0.0.1 with a temp root dir.

    Parameters
    ----------
    app : "lab" or "notebook"
        JupyterLab 4, or Notebook 7 (the ``notebook`` package).
    root : Path
        The server's root dir (notebooks go here); ``root / ".runtime"`` holds kernel
        connection files, ``root / "server.log"`` the server's log.
    env : dict, optional
        Extra environment variables for the server and its kernels.
    """

    def __init__(self, app: str, root: Path, env: dict[str, str] | None = None) -> None:
        self.app = app
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.runtime = root / ".runtime"
        self.log_path = root / "server.log"
        self._env = env or {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def folder(self, prefix: str) -> tuple[Path, str]:
        """A new empty folder under the server's root, for one test's notebooks on a server
        that several tests share: (its path, its path relative to the root, for
        :meth:`notebook_url` and the kernel look-ups as ``f"{rel}/{name}"``)."""
        path = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=self.root))
        return path, path.name

    def notebook_url(self, name: str) -> str:
        """The page of notebook ``name`` (a path relative to the root). In JupyterLab each
        notebook path gets a workspace of its own, so a second page does not restore
        another page's tabs (and start their kernels)."""
        if self.app == "lab":
            workspace = "".join(c if c.isalnum() else "-" for c in str(Path(name).with_suffix("")))
            return f"{self.url}/lab/workspaces/{workspace}/tree/{name}?token={self.token}"
        return f"{self.url}/notebooks/{name}?token={self.token}"

    def start(self, timeout: float = 90.0) -> JupyterServer:
        self.runtime.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "jupyterlab" if self.app == "lab" else "notebook",
            "--ip=127.0.0.1", f"--port={self.port}", "--no-browser",
            f"--ServerApp.root_dir={self.root}", f"--IdentityProvider.token={self.token}",
            "--ServerApp.disable_check_xsrf=False",
            # JupyterLab's "news" and update checks would try the internet.
            "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]
        if _is_root():
            cmd.append("--allow-root")
        env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(self.runtime), **self._env}
        env.pop("JUPYTER_TOKEN", None)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                      cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                tail = self.log_tail()
                self.stop()
                raise RuntimeError(f"jupyter {self.app} exited: {tail}")
            try:
                self.api("status", timeout=5)
                return self
            except OSError:
                time.sleep(0.3)
        tail = self.log_tail()
        self.stop()
        raise RuntimeError(f"jupyter {self.app} did not answer in {timeout} s: {tail}")

    def api(self, path: str, method: str = "GET", timeout: float = 30.0) -> Any:
        """The JSON answer of the server's REST API at ``/api/{path}``; raises OSError."""
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = resp.read()
            return json.loads(body) if body else None

    def shutdown_session(self, notebook: str) -> None:
        """End ``notebook``'s session and its kernel (what closing it with "Shut Down" does)."""
        for session in self.api("sessions"):
            if is_session_of(session, notebook):  # waits for the kernel to exit
                self.api(f"sessions/{session['id']}", method="DELETE", timeout=120)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def kernel_for(self, notebook: str, timeout: float = 60.0) -> Kernel:
        """A client of the kernel the page started for ``notebook`` (waits for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("sessions"):
                if is_session_of(session, notebook) and session.get("kernel"):
                    cf = self.runtime / f"kernel-{session['kernel']['id']}.json"
                    if cf.is_file():
                        return Kernel(cf)
            time.sleep(0.3)
        raise RuntimeError(f"no kernel for {notebook} after {timeout} s")

    def wait_kernel_connected(self, notebook: str, timeout: float = 60.0) -> None:
        """Wait until ``notebook``'s kernel is idle with at least one websocket connected."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("sessions"):
                kernel = session.get("kernel") or {}
                if (is_session_of(session, notebook)
                        and kernel.get("execution_state") == "idle"
                        and kernel.get("connections", 0) >= 1):
                    return
            time.sleep(0.3)
        raise RuntimeError(f"the kernel of {notebook} was not connected and idle in {timeout} s")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None


class Kernel:
    """Run code in the page's kernel and read a value back.

    The kernel handles the widgets' comm messages between execute requests, so a
    value read here reflects every message the browser sent before the request.
    """

    def __init__(self, connection_file: Path) -> None:
        from jupyter_client import BlockingKernelClient

        self.client = BlockingKernelClient(connection_file=str(connection_file))
        self.client.load_connection_file()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60.0) -> None:
        """Execute ``code``; raise RuntimeError with the traceback if it fails."""
        reply = self.client.execute_interactive(code, timeout=timeout, store_history=False,
                                                output_hook=lambda msg: None)
        content = reply["content"]
        if content["status"] != "ok":
            raise RuntimeError(f"kernel error running {code!r}: {content.get('ename')}: "
                               f"{content.get('evalue')}\n" + "\n".join(content.get("traceback", [])))

    def eval(self, expr: str, timeout: float = 60.0) -> Any:
        """The value of ``expr`` in the kernel, which must be JSON-serialisable."""
        reply = self.client.execute_interactive(
            "", timeout=timeout, store_history=False, output_hook=lambda msg: None,
            user_expressions={"v": f"__import__('json').dumps({expr})"},
        )
        result = reply["content"]["user_expressions"]["v"]
        if result["status"] != "ok":
            raise RuntimeError(f"kernel error evaluating {expr!r}: {result.get('ename')}: "
                               f"{result.get('evalue')}")
        return json.loads(ast.literal_eval(result["data"]["text/plain"]))

    def wait_for(self, expr: str, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll ``expr`` until it is truthy; return it. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.eval(expr)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"{expr!r} still {value!r} after {timeout} s")

    def close(self) -> None:
        self.client.stop_channels()


def write_notebook(path: Path, cells: list[str]) -> Path:
    """Write a notebook of code ``cells`` (nbformat 4, python3 kernel)."""
    nb = {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                    "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None,
                   "outputs": [], "source": src} for i, src in enumerate(cells)],
    }
    path.write_text(json.dumps(nb, indent=1))
    return path


class Browser:
    """Chromium through Playwright's sync API, with a fake microphone playing ``mic_wav``.

    Chromium takes the fake microphone's file at launch, so another file needs another
    Chromium: :meth:`with_mic` launches one on the same Playwright (Playwright's sync
    API runs once per thread).
    """

    def __init__(self, executable: str, mic_wav: Path, user_data_dir: Path,
                 playwright: Any = None) -> None:
        from playwright.sync_api import sync_playwright

        self._owns_pw = playwright is None
        self._pw = sync_playwright().start() if playwright is None else playwright
        self.executable = executable
        args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}"]
        try:
            self.context = self._pw.chromium.launch_persistent_context(
                str(user_data_dir), executable_path=executable, headless=True, args=args,
                viewport={"width": 1280, "height": 900},
            )
        except Exception:
            if self._owns_pw:
                self._pw.stop()
            raise

    def launch(self, mic_wav: Path, user_data_dir: Path, *extra_args: str) -> Any:
        """Another Chromium context on this Playwright (its sync API runs once per thread), its
        fake microphone playing ``mic_wav``, with ``extra_args`` (e.g. WebRTC's
        ``--allow-loopback-in-peer-connection``); the caller closes it."""
        args = [*CHROMIUM_FLAGS, f"--use-file-for-fake-audio-capture={mic_wav}", *extra_args]
        return self._pw.chromium.launch_persistent_context(
            str(user_data_dir), executable_path=self.executable, headless=True, args=args,
            viewport={"width": 1280, "height": 900})

    def with_mic(self, mic_wav: Path, user_data_dir: Path) -> Browser:
        """Another Chromium, its fake microphone playing ``mic_wav``; close it first."""
        return Browser(self.executable, mic_wav, user_data_dir, playwright=self._pw)

    def new_page(self) -> Any:
        return self.context.new_page()

    def close(self) -> None:
        try:
            self.context.close()
        finally:
            if self._owns_pw:
                self._pw.stop()


def open_notebook(page: Any, server: JupyterServer, notebook: str,
                  timeout: float = 90.0) -> None:
    """Open ``notebook`` and wait until the page's kernel is connected and idle.

    Works in JupyterLab 4 and Notebook 7 (both are built from JupyterLab's notebook
    panel).
    """
    page.goto(server.notebook_url(notebook), wait_until="domcontentloaded",
              timeout=timeout * 1000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(state="visible",
                                                          timeout=timeout * 1000)
    server.wait_kernel_connected(notebook, timeout)


def open_and_run_first_cell(page: Any, server: JupyterServer, notebook: str,
                            timeout: float = 90.0) -> None:
    """Open ``notebook`` (see :func:`open_notebook`) and run its first code cell."""
    open_notebook(page, server, notebook, timeout)
    run_cell(page, 0, notebook)


def code_cell_index(notebook: Path, needle: str) -> int:
    """Index (counting code cells only) of the first code cell of ``notebook`` whose
    source contains ``needle``. Raises LookupError."""
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    for i, src in enumerate(code):
        if needle in src:
            return i
    raise LookupError(f"no code cell of {notebook.name} contains {needle!r}")


def run_all(page: Any) -> None:
    """Run > Run All Cells from the menu bar (the same menu in JupyterLab 4 and Notebook 7)."""
    page.locator(".lm-MenuBar-item").filter(
        has=page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$"))).click()
    page.locator(".lm-Menu-item").filter(
        has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$"))).click()


# textContent, not innerText: JupyterLab skips rendering cells out of view (content-visibility).
_PROMPTS = "() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]" \
    ".map((p) => p.textContent.trim())"
_ERRORS = """() => [...document.querySelectorAll('.jp-Notebook .jp-CodeCell')].map((c) =>
  [...c.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
    .map((o) => o.textContent).filter((t) => /Traceback|Error: /.test(t)).join('\\n'))"""


def wait_run_all(page: Any, server: JupyterServer, notebook: str, timeout: float) -> list[str]:
    """Wait until the cells that Run All queued have run; return the prompts.

    Raises RuntimeError naming the first cell whose output shows an error, or
    TimeoutError with the prompts when the run takes longer than ``timeout`` s.
    """
    deadline = time.monotonic() + timeout
    prompts: list[str] = []
    settled = 0
    while time.monotonic() < deadline:
        prompts = page.evaluate(_PROMPTS)
        busy = any("*" in p for p in prompts)
        idle = any(is_session_of(s, notebook)
                   and (s.get("kernel") or {}).get("execution_state") == "idle"
                   for s in server.api("sessions"))
        started = any(re.search(r"\d", p) for p in prompts)
        settled = settled + 1 if (started and idle and not busy) else 0
        if settled >= 3:  # idle three polls in a row: not between two cells
            errors = page.evaluate(_ERRORS)
            for i, text in enumerate(errors):
                if text:
                    raise RuntimeError(f"code cell {i} of {notebook} failed in Run All:\n{text}")
            not_run = [i for i, p in enumerate(prompts) if not re.search(r"\d", p)]
            if not_run:
                raise RuntimeError(f"code cells {not_run} of {notebook} did not run: {prompts}")
            return prompts
        time.sleep(0.5)
    raise TimeoutError(f"Run All of {notebook} still running after {timeout} s: {prompts}")


def run_cell(page: Any, index: int, notebook: str = "the notebook") -> None:
    """Run code cell ``index`` (counting code cells only) from the UI: click its
    editor, Shift+Enter, and check that it was queued or ran.

    The cell is run again if its prompt still shows no execution after 10 s (a
    Shift+Enter that came before the kernel connection is dropped).
    """
    cell = page.locator(".jp-Notebook .jp-CodeCell").nth(index)
    prompt = cell.locator(".jp-InputPrompt")
    before = prompt.inner_text().strip()
    for _ in range(3):
        cell.locator(".jp-InputArea-editor").click()
        page.keyboard.press("Shift+Enter")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = prompt.inner_text().strip()
            if now not in ("[ ]:", "", before):
                return
            time.sleep(0.2)
    raise RuntimeError(f"cell {index} of {notebook} never ran")
