"""The stand-in's lifecycle on the command line: ``serve`` options, ``status``, ``stop``.

``voicekit serve`` on a loopback address registers itself as this user's
stand-in (the runtime file of :mod:`voicekit._runtime`), so every kernel's
``voicekit.use_standin()`` finds and shares it; it then always has a token
(``--token``, ``VOICEKIT_TOKEN``, or a generated one kept only in the 0600
runtime file). Bound beyond loopback without a token, it generates one and
prints it once to stderr. ``voicekit serve --detach`` starts the managed one in
the background (what ``use_standin()`` does) and returns. ``voicekit status``
exits 0 if one runs (1 if not); ``voicekit stop`` stops it. ``voicekit run CMD ...``
runs a program (an SDK example, a script) against it, with ``OPENAI_BASE_URL`` and
``OPENAI_API_KEY`` in that program's environment only. The token is never printed
except that once.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import subprocess
import sys
import time
from typing import Any

from . import _runtime
from .errors import VoiceKitError

__all__ = ["add_serve_arguments", "add_subcommands", "run_subcommand", "serve_options"]


def add_serve_arguments(serve_p: argparse.ArgumentParser) -> None:
    """``--token``, ``--idle-timeout``, ``--no-register``, ``--detach`` (and the internal ``--managed``)."""
    serve_p.add_argument("--token", default=None,
                         help="Bearer token clients must send as OPENAI_API_KEY (default: VOICEKIT_TOKEN; "
                              "generated if unset on a loopback address or beyond)")
    serve_p.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                         help="stop after this long with no request and no open WebSocket (default: "
                              "VOICEKIT_IDLE_TIMEOUT, else off; 1800 with --detach); 0: never")
    serve_p.add_argument("--no-register", action="store_true",
                         help="do not register as this user's stand-in for use_standin() (loopback only)")
    serve_p.add_argument("--detach", action="store_true",
                         help="start (or find) this user's managed stand-in in the background and return")
    serve_p.add_argument("--managed", action="store_true", help=argparse.SUPPRESS)  # started by _runtime


def add_subcommands(sub: Any) -> None:
    """``voicekit status`` and ``voicekit stop``."""
    sub.add_parser("status", help="is this user's stand-in running? (exit code 0 if so, 1 if not)")
    sub.add_parser("stop", help="stop this user's stand-in (the one use_standin() shares)")
    run_p = sub.add_parser("run", help="run a command against this user's stand-in (started if none runs), "
                                       "with OPENAI_BASE_URL and OPENAI_API_KEY set for it only")
    run_p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD ...",
                       help="the command, e.g. python examples/audio.py")


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The token/idle/registration keyword arguments of :func:`voicekit.standin.serve` for ``args``.

    Prints a generated token once to stderr when bound beyond loopback.
    """
    token = args.token or os.environ.get("VOICEKIT_TOKEN") or None
    idle = args.idle_timeout
    if idle is None:
        idle = float(os.environ.get("VOICEKIT_IDLE_TIMEOUT") or 0)
    if args.managed:  # started by _runtime._start, which wrote the runtime file
        return {"token": token, "idle_timeout": idle, "register": "parent",
                "instance_id": os.environ.get("VOICEKIT_INSTANCE_ID")}
    loopback = _is_loopback(args.host)
    register = "self" if loopback and not args.no_register else None
    if token is None and register:
        token = _runtime.new_token()
        print(f"voicekit serve: token generated, kept in {_runtime.runtime_path()} (mode 0600) for "
              "voicekit.use_standin(); pass --token to choose one", file=sys.stderr)
    elif token is None and not loopback:
        token = _runtime.new_token()
        print(f"voicekit serve: binding {args.host} needs a token; generated one (shown only now). Clients set\n"
              f"  OPENAI_API_KEY={token}\n"
              f"  OPENAI_BASE_URL={'https' if getattr(args, 'ssl_certfile', None) else 'http'}://<this machine>:{args.port}/v1",
              file=sys.stderr, flush=True)
    return {"token": token, "idle_timeout": idle, "register": register}


def _describe(rt: _runtime.Runtime) -> str:
    status = _runtime.get_json(rt.base_url + _runtime.STATUS_PATH, rt.token) or {}
    uptime = status.get("uptime_s", time.time() - rt.started_at)
    rss = status.get("rss_bytes")
    return "\n".join([
        f"voicekit stand-in running at {rt.base_url}",
        f"  pid {rt.pid}, up {uptime / 60:.1f} min" + (f", RSS {rss / 2**20:.0f} MiB" if rss else ""),
        f"  LLM: {status.get('llm') or rt.llm or 'unknown'}",
        f"  voicekit {rt.version or '(not recorded: an older voicekit)'} from {rt.source or '(not recorded)'}",
        f"  runtime file: {_runtime.runtime_path()}",
    ])


def _export_llm_flags(args: argparse.Namespace) -> None:
    """``voicekit.standin.engines.llm_config.export_flags`` (issue 17), when that module and its flags exist."""
    if not hasattr(args, "llm_base_url"):
        return
    try:
        from .standin.engines.llm_config import export_flags
    except ImportError:  # a light install: the start itself will say what to install
        return
    export_flags(args)


def run_subcommand(args: argparse.Namespace) -> int:
    """``status``, ``stop``, ``run`` or ``serve --detach``; the exit code."""
    if args.command == "status":
        rt = _runtime.find_running()
        if rt is None:
            print(f"no voicekit stand-in is running for this user (runtime file {_runtime.runtime_path()})")
            return 1
        print(_describe(rt))
        return 0
    if args.command == "stop":
        rt = _runtime.stop()
        if rt is None:
            print("no voicekit stand-in is running for this user: nothing to stop")
            return 1
        print(f"stopped the voicekit stand-in at {rt.base_url} (pid {rt.pid})")
        return 0
    if args.command == "run":
        return _run(args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd)
    # serve --detach
    if not _is_loopback(args.host):
        print("voicekit serve --detach: the managed stand-in listens on 127.0.0.1 only", file=sys.stderr)
        return 2
    try:
        _export_llm_flags(args)  # --llm-* flags reach the new stand-in through its environment
        rt, started = _runtime.find_or_start(port=args.port, idle_timeout=args.idle_timeout)
        replaced = None
        if (differs := rt.differs()) is not None and (
                new := _runtime.replace_if_unused(rt, port=args.port, idle_timeout=args.idle_timeout)) is not None:
            rt, started, replaced = new, True, differs
    except VoiceKitError as exc:  # a light install (MissingDependencyError) or a start that failed
        print(f"voicekit serve --detach: {exc}", file=sys.stderr)
        return 2
    print(("started" if started else "already running:") + " " + _describe(rt).replace("voicekit stand-in running", "voicekit stand-in", 1))
    if replaced is not None:
        print(f"(restarted from this checkout: {replaced.replace('it runs', 'the old one ran', 1)}, and no kernel "
              "used it)")
    elif (differs := rt.differs()) is not None:
        print(f"WARNING: this stand-in is reused (a kernel uses it), but {differs}. To restart it from this "
              f"checkout: `{sys.executable} -m voicekit stop`, then run this command again.", file=sys.stderr)
    return 0


def _run(cmd: list[str]) -> int:
    """``voicekit run CMD ...``: CMD's exit code, with the stand-in's URL and token in its environment.

    A program written for OpenAI (an SDK example, a cookbook script) then reaches the
    stand-in unchanged, and the token never appears on a screen or in a shell history.
    """
    if not cmd:
        print("voicekit run: give a command, e.g. voicekit run python examples/audio.py", file=sys.stderr)
        return 2
    try:
        rt, _ = _runtime.find_or_start()
    except VoiceKitError as exc:  # a light install (MissingDependencyError) or a start that failed
        print(f"voicekit run: {exc}", file=sys.stderr)
        return 2
    env = {**os.environ, "OPENAI_BASE_URL": rt.base_url, "OPENAI_API_KEY": rt.token}
    env.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # the Agents SDK would send traces to OpenAI
    try:
        return subprocess.call(cmd, env=env)
    except FileNotFoundError:
        print(f"voicekit run: no such command: {cmd[0]}", file=sys.stderr)
        return 127
