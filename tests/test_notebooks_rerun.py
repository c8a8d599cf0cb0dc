"""Notebooks used the way learners use them: Run All twice in one kernel, then talk.

Each notebook runs top to bottom twice in the same kernel (jupyter_client + nbclient,
the real ipykernel), as a learner who presses Run All again does. Then every voicekit
session or agent left in the notebook's namespace must answer a spoken turn (a
shipped recording), which fails if any cell closed what a later interaction needs, and
no callback may have been registered twice. ``make test`` also runs every notebook
once under ``pytest --nbval-lax``.

The kernels share this test session's stand-in (``OPENAI_BASE_URL``), so each notebook
does not cold-start its own.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))

# Run in the notebook's kernel after the two runs: every live voicekit session or agent
# in the namespace answers one spoken turn; report what each did as JSON.
PROBE = r'''
import json as _json
from voicekit import load_sample as _load
from voicekit.agents import CascadedAgent as _Cascaded, RealtimeAgent as _RtAgent
from voicekit.realtime import RealtimeSession as _RtSession

_report = {}
for _name, _obj in list(globals().items()):
    if _name.startswith("_") or not isinstance(_obj, (_Cascaded, _RtAgent, _RtSession)):
        continue
    if isinstance(_obj, _Cascaded):
        _turn = _obj.run_turn(_load("cards_001.wav"), timeout=180)
        _report[_name] = {"kind": "cascaded", "closed": _obj.closed, "status": _turn.status,
                          "reply_s": _turn.reply.duration if _turn.reply is not None else 0.0}
    else:
        _session = _obj.session if isinstance(_obj, _RtAgent) else _obj
        if not _session.connected:
            _report[_name] = {"kind": "realtime", "closed": _obj.closed, "connected": False}
            continue
        if _session.turn_detection is None:
            _session.update({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}})
        _turn = _session.run_turn(_load("cards_001.wav"), timeout=180)
        _report[_name] = {"kind": "realtime", "closed": _obj.closed, "connected": True, "status": _turn.status,
                          "reply_s": _turn.reply.duration if _turn.reply is not None else 0.0,
                          "user": _turn.user}
print("PROBE" + _json.dumps(_report))
'''

# Callbacks registered on the notebook's Recorders and TalkButtons: each once.
CALLBACKS = r'''
import json as _json
from voicekit.widgets import Recorder as _Rec, TalkButton as _Btn
_counts = {}
for _name, _obj in list(globals().items()):
    if isinstance(_obj, _Rec):
        _counts[_name] = {"chunk": [repr(c) for c in _obj._on_chunk], "clip": [repr(c) for c in _obj._on_clip]}
    elif isinstance(_obj, _Btn):
        _counts[_name] = {"press": len(_obj._on_press), "release": len(_obj._on_release)}
print("CALLBACKS" + _json.dumps(_counts))
'''


def _run(client: NotebookClient, source: str) -> str:
    cell = nbformat.v4.new_code_cell(source)
    client.nb.cells.append(cell)
    client.execute_cell(cell, len(client.nb.cells) - 1)
    out = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    assert not errors, f"{errors[0]['ename']}: {errors[0]['evalue']}"
    return out


def _line(out: str, prefix: str) -> Any:
    line = next(line for line in out.splitlines() if line.startswith(prefix))
    return json.loads(line[len(prefix):])


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_run_all_twice_in_one_kernel_then_every_session_answers(path: Path, standin_server) -> None:
    nb = nbformat.read(path, as_version=4)
    env = {**os.environ, "OPENAI_BASE_URL": standin_server.base_url}
    client = NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    client.km = client.create_kernel_manager()
    with client.setup_kernel(env=env):
        for _ in range(2):
            for i, cell in enumerate(list(nb.cells)):
                cell.outputs = []
                if cell.cell_type == "code":
                    client.execute_cell(cell, i)
        counts = _line(_run(client, CALLBACKS), "CALLBACKS")
        report = _line(_run(client, PROBE), "PROBE")
    for name, got in counts.items():
        for kind, value in got.items():
            registered = value if isinstance(value, int) else len(value)
            assert registered <= 2, f"{path.name}: {name} has {value} {kind} callbacks after two runs"
            if isinstance(value, list):
                assert len(set(value)) == len(value), f"{path.name}: {name}.{kind} registered twice: {value}"
    for name, got in report.items():
        assert not got["closed"], f"{path.name}: {name} was closed by a cell, but a later interaction needs it"
        assert got.get("connected", True), f"{path.name}: {name} lost its connection"
        assert got["status"] in ("completed", "incomplete") and got["reply_s"] > 0.3, (path.name, name, got)
