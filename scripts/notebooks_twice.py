"""Each notebook as a learner who presses Run All twice, then talks, would run it.

``python scripts/notebooks_twice.py OUTDIR`` writes, for every notebook in
``notebooks/``, a copy whose cells appear twice in a row, followed by two check cells,
so that ``pytest --nbval-lax OUTDIR`` runs each notebook twice in one kernel (the real
ipykernel, under nbval, which fails on any error or failing ``assert``) and then checks:

1. no Recorder or TalkButton has a callback registered twice;
2. every voicekit session or agent left in the notebook's namespace answers a spoken
   turn (a shipped recording; live captions transcribe it, a translation session still
   open translates it), which fails if a cell closed what a later interaction needs, or
   if a session lost its connection. Each session is asked once, all at once (a thread
   each).

``make test`` runs it instead of a plain single nbval pass, so the notebooks run twice,
not three times. The copies carry no outputs and are not committed (``build/``).

It also writes ``OUTDIR/order.txt``: the copies' paths, the slowest notebooks first, for
``pytest -n 2 --dist loadfile`` (pytest-xdist hands whole files to its workers in that
order, so the longest notebook does not start last and set the whole run's time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SLOWEST_FIRST = ("07_compare", "04b_live", "04c_webrtc", "06_realtime_agent", "05_cascaded_agent",
                 "04d_translation", "04_realtime")
"""Notebooks by their time in ``make test`` (2 cores, 2026-12-06), longest first; the rest follow by name."""

CALLBACKS_CHECK = '''# check (added by scripts/notebooks_twice.py): no callback registered twice
from voicekit.widgets import Recorder as _Rec, TalkButton as _Btn
for _name, _obj in list(globals().items()):
    if isinstance(_obj, _Rec):
        for _hooks in (_obj._on_chunk, _obj._on_clip):
            _keys = [repr(_cb) for _cb in _hooks]
            assert len(_keys) == len(set(_keys)) and len(_keys) <= 2, (_name, _keys)
    elif isinstance(_obj, _Btn):
        assert len(_obj._on_press) <= 1 and len(_obj._on_release) <= 1, _name
'''

SESSIONS_CHECK = '''# check (added by scripts/notebooks_twice.py): every session or agent left answers a spoken turn
from concurrent.futures import ThreadPoolExecutor as _Pool

from voicekit import load_sample as _load
from voicekit.agents import CascadedAgent as _Cascaded, RealtimeAgent as _RtAgent
from voicekit.live import LiveSession as _Live
from voicekit.realtime import Captions as _Captions, RealtimeSession as _RtSession, TranslationSession as _Tr

_kinds = (_Cascaded, _RtAgent, _RtSession, _Live, _Captions, _Tr)
_left, _seen = {}, set()
for _name, _obj in list(globals().items()):
    _key = id(_obj.session if isinstance(_obj, _RtAgent) else _obj)
    if not _name.startswith("_") and isinstance(_obj, _kinds) and _key not in _seen:
        _seen.add(_key)
        _left[_name] = _obj


def _answers(_name, _obj):
    assert not _obj.closed, f"{_name} was closed by a cell, but a later interaction needs it"
    if isinstance(_obj, _Tr):  # translations answer in speech; one ended by session.close is over by design
        if any(_e.type == "session.closed" for _e in _obj.events):
            return None
        assert _obj.connected, f"{_name} lost its connection"
        _phrases = _obj.translate(_load("ls_0880.wav"), realtime=False, timeout=180)
        assert any(_p.audio is not None for _p in _phrases), f"{_name} translated nothing"
        return _obj.translation
    if isinstance(_obj, _Captions):  # captions answer with text, not speech
        assert _obj.connected, f"{_name} lost its connection"
        _segment = _obj.transcribe(_load("cards_001.wav"), timeout=180)
        assert _segment.text.strip(), f"{_name} transcribed nothing"
        return _segment.text
    if isinstance(_obj, _Cascaded):
        _turn = _obj.run_turn(_load("cards_001.wav"), timeout=180)
        _reply = _turn.reply
    elif isinstance(_obj, _Live):
        assert _obj.connected, f"{_name} lost its connection"
        _reply = _obj.run_turn(_load("cards_001.wav"), timeout=180).reply
    else:
        _session = _obj.session if isinstance(_obj, _RtAgent) else _obj
        assert _session.connected, f"{_name} lost its connection"
        if _session.turn_detection is None:
            _session.update({"audio": {"input": {"turn_detection": {"type": "server_vad"}}}})
        _reply = _session.run_turn(_load("cards_001.wav"), timeout=180).reply
    assert _reply is not None and _reply.duration > 0.3, f"{_name} gave no spoken answer"
    return round(_reply.duration, 2)


# one thread per session, as a learner with several sessions open; each session is asked once
with _Pool(max(1, len(_left))) as _pool:
    _answered = dict(zip(_left, _pool.map(_answers, _left, _left.values())))
print("answered:", _answered)
'''


def twice(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb`` with its cells twice, then the two checks; outputs dropped."""
    cells = []
    for run in range(2):
        for cell in nb.cells:
            copy = nbformat.from_dict(dict(cell))
            copy["id"] = f"run{run}-{cell.get('id', len(cells))}"
            if copy.cell_type == "code":
                copy.outputs, copy.execution_count = [], None
            cells.append(copy)
    for i, source in enumerate((CALLBACKS_CHECK, SESSIONS_CHECK)):
        check = nbformat.v4.new_code_cell(source)
        check["id"] = f"check-{i}"
        cells.append(check)
    out = nbformat.from_dict(dict(nb))
    out.cells = cells
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python scripts/notebooks_twice.py OUTDIR", file=sys.stderr)
        return 2
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.ipynb"):
        old.unlink()
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    for path in paths:
        nbformat.write(twice(nbformat.read(path, as_version=4)), out / path.name)
    rank = {stem: i for i, stem in enumerate(SLOWEST_FIRST)}
    ordered = sorted(paths, key=lambda p: (rank.get(p.stem, len(rank)), p.name))
    (out / "order.txt").write_text("".join(f"{out / p.name}\n" for p in ordered), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
