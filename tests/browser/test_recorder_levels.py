"""The Recorder's levels with its default settings, its CLIP light, and the Scope's axes,
in a real Chromium (JupyterLab 4) with fake microphones at known levels.

Chromium takes its fake microphone's file at launch, so each level gets its own Chromium
(``Browser.with_mic``) and its own notebook on the browser tests' shared JupyterLab. The files are the
shipped ``voicekit/data/ls_0890.wav`` scaled: peaking at 0.3 (quiet), and 3 times full
scale, hard-clipped (loud).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from browser.conftest import _screenshot, kernel_env, shut_down
from browser.harness import (
    LEAD_SILENCE_S,
    TAIL_SILENCE_S,
    Browser,
    JupyterServer,
    Kernel,
    open_and_run_first_cell,
    write_notebook,
)
from voicekit.audio import Clip

pytestmark = pytest.mark.timeout(300)

SOURCE = Path(__file__).resolve().parents[2] / "voicekit" / "data" / "ls_0890.wav"
QUIET_PEAK = 0.3

SETUP_CELL = """\
from voicekit.widgets import Recorder, Scope

rec = Recorder()  # the defaults under test
scope = Scope()
scope.follow(rec)
clips = []
rec.on_clip(clips.append)
display(rec, scope)
"""


def _mic_wav(out: Path, gain_to_peak: float) -> tuple[Path, float]:
    """ls_0890 at 48 kHz scaled so its peak is ``gain_to_peak`` of full scale, clipped to
    [-1, 1], with the harness's silence around it; (path, speech seconds)."""
    speech = Clip.from_file(SOURCE).to_mono().resample(48_000).to_float32().samples
    x = np.clip(speech / np.abs(speech).max() * gain_to_peak, -1.0, 1.0).astype(np.float32)
    pad = lambda s: np.zeros(int(s * 48_000), np.float32)
    Clip(np.concatenate([pad(LEAD_SILENCE_S), x, pad(TAIL_SILENCE_S)]), 48_000).to_int16().to_file(out)
    return out, x.size / 48_000


class _Page:
    def __init__(self, page: Any, kernel: Kernel, speech_s: float) -> None:
        self.page, self.kernel, self.speech_s = page, kernel, speech_s

    def record(self, on_recording: Any = None) -> None:
        """Click Record, hold for the speech and 0.7 s, click Stop, wait for the clip."""
        self.kernel.run("clips.clear()")
        self.page.get_by_role("button", name="Record", exact=True).click()
        stop = self.page.get_by_role("button", name="Stop", exact=True)
        stop.wait_for(timeout=10_000)
        t0 = time.monotonic()
        if on_recording is not None:
            on_recording()
        time.sleep(max(0.0, LEAD_SILENCE_S + self.speech_s + 0.7 - (time.monotonic() - t0)))
        stop.click()
        self.page.get_by_role("button", name="Record", exact=True).wait_for(timeout=10_000)
        self.kernel.wait_for("len(clips) == 1", timeout=20)

    def state(self) -> dict[str, Any]:
        return self.kernel.eval(
            "dict(peak=int(abs(clips[0].samples.astype(int)).max()), clipped=rec.clipped,"
            " stats_clipped=rec.stats.clipped, settings=rec.track_settings,"
            " asked=rec.constraints, duration=clips[0].duration)")


@pytest.fixture(scope="module")
def level_server(chromium: str, standin_server: Any,
                 jupyter_servers: Callable[..., JupyterServer]) -> JupyterServer:
    return jupyter_servers("lab", kernel_env(standin_server, key=False))


def _level_page(browser: Browser, server: JupyterServer, name: str, gain: float) -> Iterator[_Page]:
    folder, rel = server.folder(f"levels-{name}")
    wav, speech_s = _mic_wav(folder / f"mic_{name}.wav", gain)
    notebook = f"{rel}/levels_{name}.ipynb"
    write_notebook(server.root / notebook, [SETUP_CELL])
    other = browser.with_mic(wav, folder / f"profile-{name}")
    page = other.new_page()
    kernel = None
    try:
        open_and_run_first_cell(page, server, notebook)
        page.get_by_role("button", name="Record", exact=True).wait_for(timeout=60_000)
        kernel = server.kernel_for(notebook)
        yield _Page(page, kernel, speech_s)
    except Exception:
        _screenshot(page, f"levels-{name}")
        print(server.log_tail())
        raise
    finally:
        if kernel is not None:
            kernel.close()
        other.close()
        shut_down(server, notebook)


@pytest.fixture(scope="module")
def quiet(browser: Browser, level_server: JupyterServer) -> Iterator[_Page]:
    yield from _level_page(browser, level_server, "quiet", QUIET_PEAK)


@pytest.fixture(scope="module")
def loud(browser: Browser, level_server: JupyterServer) -> Iterator[_Page]:
    yield from _level_page(browser, level_server, "loud", 3.0)


@pytest.fixture(scope="module")
def quiet_recording(quiet: _Page) -> dict[str, Any]:
    quiet.record()
    return quiet.state()


def test_default_recorder_keeps_a_quiet_source_at_its_level(quiet_recording: dict[str, Any]) -> None:
    r = quiet_recording
    assert r["asked"]["autoGainControl"] is False
    assert r["settings"]["autoGainControl"] is False, r["settings"]  # really applied
    # 0.3 of full scale is 9830; Chromium's echo canceller (on by default) measured 0.35.
    assert 0.2 * 32768 < r["peak"] < 0.5 * 32768, r["peak"] / 32768
    assert r["clipped"] == r["stats_clipped"] == 0


def test_quiet_source_shows_no_clip_light(quiet: _Page, quiet_recording: dict[str, Any]) -> None:
    light = quiet.page.locator(".voicekit-recorder .voicekit-clip")
    assert light.get_attribute("data-samples") == "0"
    assert "voicekit-on" not in (light.get_attribute("class") or "")
    assert light.get_attribute("aria-label") == "Not clipping"


def test_scope_labels_its_axes(quiet: _Page, quiet_recording: dict[str, Any]) -> None:
    page = quiet.page
    scope = page.locator(".voicekit-scope")
    titles = scope.locator(".voicekit-axis-title").all_inner_texts()
    assert {"Time (s)", "Frequency (kHz)", "Level (dBFS)", "dBFS"} <= set(titles), titles
    spec = scope.locator("canvas.voicekit-spectrogram")
    wave = scope.locator("canvas.voicekit-wave").first
    # 24 kHz: 0 to 12 kHz; a 5 s window of whole seconds that ends at the recording's end.
    assert spec.get_attribute("data-yticks") == "0,2,4,6,8,10,12"
    xticks = [float(t.replace("\u2212", "-")) for t in (spec.get_attribute("data-xticks") or "").split(",")]
    duration = quiet_recording["duration"]
    assert len(xticks) >= 4 and xticks == sorted(xticks) and all(t == int(t) for t in xticks), xticks
    assert duration - 5.1 <= xticks[0] <= duration - 4 and xticks[-1] <= duration + 0.01, (xticks, duration)
    assert wave.get_attribute("data-yticks") == "0,-6,-inf,-6,0"
    bar = scope.locator("canvas.voicekit-colourbar")
    assert bar.get_attribute("data-yticks") == "0,\u221220,\u221240,\u221260,\u221280,\u2212100"
    label = spec.get_attribute("aria-label") or ""
    assert "frequency 0 to 12.0 kHz" in label and "dBFS" in label, label
    t = re.search(r"time ([\d.]+) to ([\d.]+) s", label)
    assert t and float(t.group(2)) == pytest.approx(duration, abs=0.1), (label, duration)
    # The tick labels are really drawn: ink in the left margin, beside the plot area.
    ink = page.evaluate(
        """() => {
          const c = document.querySelector('.voicekit-scope canvas.voicekit-spectrogram');
          const d = c.getContext('2d').getImageData(0, 0, 28, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 100) n++;
          return n;
        }""")
    assert ink > 50


def test_browser_processing_would_have_driven_the_quiet_source_up(
    quiet: _Page, quiet_recording: dict[str, Any]
) -> None:
    """The control: the same file with the browser's call processing (gain control on)
    records far louder, so the level above is the switch's doing."""
    quiet.kernel.run("rec.processing = 'browser'")
    try:
        quiet.record()
        r = quiet.state()
    finally:
        quiet.kernel.run("rec.processing = 'echo'")
    assert r["settings"]["autoGainControl"] is True, r["settings"]
    assert r["peak"] > 2 * quiet_recording["peak"], (r["peak"], quiet_recording["peak"])


def test_loud_source_lights_the_clip_indicator(loud: _Page) -> None:
    light = loud.page.locator(".voicekit-recorder .voicekit-clip")
    lit_while_recording: list[bool] = []

    def watch() -> None:  # the light comes on during the recording, not only after it
        loud.page.locator(".voicekit-recorder .voicekit-clip.voicekit-on").wait_for(timeout=10_000)
        lit_while_recording.append(
            loud.page.get_by_role("button", name="Stop", exact=True).is_visible())

    loud.record(on_recording=watch)
    r = loud.state()
    assert lit_while_recording == [True]
    assert r["peak"] >= 32393 and r["clipped"] == r["stats_clipped"] > 100, r
    assert "voicekit-on" in (light.get_attribute("class") or "")  # still on after Stop
    assert int(light.get_attribute("data-samples") or 0) > 100
    assert (light.get_attribute("aria-label") or "").startswith("Clipping:")
    assert light.is_visible() and light.inner_text() == "CLIP"
    meter = loud.page.locator(".voicekit-recorder meter.voicekit-level")
    assert "voicekit-clipping" in (meter.get_attribute("class") or "")
