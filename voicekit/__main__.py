"""Command line: ``python -m voicekit serve [--host 127.0.0.1] [--port 8000]``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voicekit`` console script."""
    parser = argparse.ArgumentParser(prog="voicekit", description="voicekit command line")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the offline OpenAI stand-in server")
    serve_p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    serve_p.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    serve_p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    if args.command == "serve":
        from ._deps import require_standin
        from .errors import MissingDependencyError

        try:
            require_standin()
        except MissingDependencyError as exc:  # a light install: say what to install, no traceback
            print(f"voicekit serve: {exc}", file=sys.stderr)
            return 2
        from .standin import serve

        serve(args.host, args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
