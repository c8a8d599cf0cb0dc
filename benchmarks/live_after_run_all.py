"""Issue 25, item 8: a GPT-Live turn after Run All of notebook 04b, against a fresh session's.

Run ``PYTHONPATH=$PWD .venv/bin/python scripts/with_standin.py .venv/bin/python
benchmarks/live_after_run_all.py`` (a few minutes on 2 cores). It executes
``notebooks/04b_live.ipynb`` top to bottom in a real kernel (nbclient), then, in that
kernel, times three turns of the notebook's ``live`` session, three of a fresh
session with the same instructions (closed after), and three more of ``live``. Each
turn says ``cards_001.wav`` at microphone pace. Prints one JSON object on the last line.

Measured per turn
-----------------
latency_ms
    ``LiveTurn.latency_ms``: end of speech to first reply audio, on the session timeline.
wall_ms
    Client wall clock from the start of sending to the first ``session.output_audio.delta``,
    less the clip's duration and 0.5 s: close to what the learner waits after speaking.
delegated, said_chars
    Whether the turn delegated, and how long the reply was.
load
    ``os.getloadavg()`` at the end (the machine is shared: read the figures with it).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "04b_live.ipynb"

MEASURE = '''
import os, time, json as _json
def _time(session, n=3):
    out = []
    for _ in range(n):
        clip = voicekit.load_sample("cards_001.wav")
        mark = session.mark()
        fut = session.send_clip(clip)
        ev = session.wait_for("session.output_audio.delta", since=mark, timeout=300)
        wall = 1000 * (ev.t - session.events[mark].t) - 1000 * (clip.duration + 0.5)
        t = fut.result()[-1]
        out.append(dict(latency_ms=round(t.latency_ms or -1), wall_ms=round(wall),
                        delegated=bool(t.delegation_ids), said_chars=len(t.assistant_text)))
    return out
after = _time(live)
fresh = LiveSession(client, MODEL)
fresh.start({"instructions": INSTRUCTIONS, "delegation": {"type": "client"}})
first = _time(fresh)
fresh.close()
again = _time(live)
print("RESULT", _json.dumps({"after_run_all": after, "fresh": first, "after_a_second_session": again,
                             "live_turns": len(live.turns), "load": os.getloadavg()}))
'''


def main() -> int:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(MEASURE))
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=900, kernel_name="python3").execute()
    for out in nb.cells[-1].outputs:
        text = out.get("text", "")
        if out.get("name") == "stdout" and "RESULT " in text:
            result = json.loads(text.split("RESULT ", 1)[1])
            result["seconds"] = round(time.perf_counter() - t0)
            print(json.dumps(result))
            return 0
    print(json.dumps({"error": "the measuring cell printed no result"}))
    return 1


if __name__ == "__main__":
    sys.exit(main())
