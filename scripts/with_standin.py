"""Run a command with one stand-in shared by everything it starts.

``python scripts/with_standin.py CMD ARGS...`` starts the stand-in (real engines, a free
127.0.0.1 port) in this process, runs ``CMD`` with ``OPENAI_BASE_URL`` pointing at it,
and exits with the command's exit code. ``make test`` runs the notebooks under it, so
their kernels reuse one warm stand-in (``voicekit.use_standin()`` reuses the server
``OPENAI_BASE_URL`` names) instead of each cold-starting its own.
"""

from __future__ import annotations

import os
import subprocess
import sys

from voicekit.standin import StandinServer


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python scripts/with_standin.py CMD [ARGS...]", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with StandinServer() as server:
        env["OPENAI_BASE_URL"] = server.base_url
        print(f"with_standin: stand-in at {server.base_url}", flush=True)
        return subprocess.call(argv, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
