"""Command line: ``python -m voicekit serve [--host 127.0.0.1] [--port 8000]``, ``voicekit status``, ``voicekit stop``."""

from __future__ import annotations

import argparse
import os
import sys

from . import _cli


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``voicekit`` console script."""
    parser = argparse.ArgumentParser(prog="voicekit", description="voicekit command line")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="run the offline OpenAI stand-in server")
    serve_p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    serve_p.add_argument("--port", type=int, default=None, help="TCP port (default: 8000; with --detach a free one)")
    serve_p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve_p.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                         help="also answer for this Host name (repeatable; also VOICEKIT_ALLOWED_HOSTS, comma-separated; "
                              "loopback names always pass), e.g. the JupyterHub's public name")
    serve_p.add_argument("--allowed-origin", action="append", default=[], metavar="ORIGIN",
                         help="also accept browser pages from this origin, e.g. https://hub.example.org (repeatable; also "
                              "VOICEKIT_ALLOWED_ORIGINS; loopback origins and same-origin pages always pass)")
    serve_p.add_argument("--threads", type=int, metavar="N",
                         help="CPU threads for all the engines together, split among them (default: $VOICEKIT_THREADS, "
                              "else the cores this process may use)")
    rtc_p = serve_p.add_argument_group("WebRTC", "where WebRTC calls' media flows (README, \"WebRTC calls\")")
    rtc_p.add_argument("--webrtc-host", metavar="ADDR",
                       help="address(es) offered as ICE host candidates, comma-separated (default: "
                            "$VOICEKIT_WEBRTC_HOST, else the --host address; 0.0.0.0: every address of the machine)")
    rtc_p.add_argument("--webrtc-ports", metavar="MIN-MAX",
                       help="UDP port range for WebRTC media, e.g. 40000-40100, to open in a firewall "
                            "(default: $VOICEKIT_WEBRTC_PORTS, else any free port)")
    tls_p = serve_p.add_argument_group("TLS", "serve HTTPS and WSS (OpenAI's Node SDK always opens Realtime as wss:); "
                                       "clients must trust the certificate, e.g. NODE_EXTRA_CA_CERTS=cert.pem for Node, "
                                       "SSL_CERT_FILE=cert.pem for Python (README, 'TLS')")
    tls_p.add_argument("--ssl-certfile", metavar="PEM", default=os.environ.get("VOICEKIT_SSL_CERTFILE") or None,
                       help="the server's certificate (chain), PEM (default: $VOICEKIT_SSL_CERTFILE)")
    tls_p.add_argument("--ssl-keyfile", metavar="PEM", default=os.environ.get("VOICEKIT_SSL_KEYFILE") or None,
                       help="its private key, PEM (default: $VOICEKIT_SSL_KEYFILE)")
    llm_p = serve_p.add_argument_group("LLM", "an upstream Chat Completions server (Ollama, llama-server, ...) "
                                       "instead of the bundled model; its key comes from VOICEKIT_LLM_API_KEY only")
    llm_p.add_argument("--llm-base-url", metavar="URL",
                       help="its base URL, e.g. http://127.0.0.1:11434/v1 (default: $VOICEKIT_LLM_BASE_URL)")
    llm_p.add_argument("--llm-model", metavar="NAME", help="its model id (default: $VOICEKIT_LLM_MODEL)")
    llm_p.add_argument("--llm-tools", choices=["auto", "native", "json"],
                       help="tools as native tool calls or a JSON choice (default: $VOICEKIT_LLM_TOOLS or auto)")
    llm_p.add_argument("--llm-timeout", type=float, metavar="S", help="seconds to wait for it (default: 60)")
    _cli.add_serve_arguments(serve_p)
    _cli.add_subcommands(sub)
    args = parser.parse_args(argv)
    if args.command == "serve" and args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads: expected a positive number of CPU threads, got {args.threads}")
        os.environ["VOICEKIT_THREADS"] = str(args.threads)  # read by the engines (standin.engines.scheduling); a --detach child inherits it
    if args.command == "serve":  # the guards read these too, so a --detach child gets the flags
        for values, name in ((args.allowed_host, "VOICEKIT_ALLOWED_HOSTS"), (args.allowed_origin, "VOICEKIT_ALLOWED_ORIGINS")):
            if values:
                os.environ[name] = ",".join([*values, *filter(None, os.environ.get(name, "").split(","))])
    if args.command == "serve":  # read by standin.transport.ice, in this process or a --detach child
        os.environ["VOICEKIT_WEBRTC_HOST"] = args.webrtc_host or os.environ.get("VOICEKIT_WEBRTC_HOST") or args.host
        if args.webrtc_ports:
            low, _, high = args.webrtc_ports.partition("-")
            if not (low.isdigit() and high.isdigit() and 1024 <= int(low) <= int(high) <= 65535):
                parser.error(f"--webrtc-ports: expected a UDP port range MIN-MAX within 1024-65535, such as "
                             f"40000-40100, got {args.webrtc_ports!r}")
            os.environ["VOICEKIT_WEBRTC_PORTS"] = args.webrtc_ports
    if args.command == "serve" and args.detach and (args.ssl_certfile or args.ssl_keyfile):
        parser.error("--detach starts the managed stand-in on loopback over plain HTTP; run 'voicekit serve "
                     "--ssl-certfile ... --ssl-keyfile ...' in the foreground (or under a service manager) for TLS")
    if args.command in ("status", "stop", "run") or (args.command == "serve" and args.detach):
        return _cli.run_subcommand(args)
    if args.command == "serve":
        from ._deps import require_standin
        from .errors import MissingDependencyError

        try:
            require_standin(upstream_llm=bool(args.llm_base_url or os.environ.get("VOICEKIT_LLM_BASE_URL")))
        except MissingDependencyError as exc:  # a light install: say what to install, no traceback
            print(f"voicekit serve: {exc}", file=sys.stderr)
            return 2
        from .errors import StandinError
        from .standin.engines.llm_config import export_flags

        try:
            print(f"voicekit serve: LLM: {export_flags(args)}", file=sys.stderr, flush=True)
        except StandinError as exc:  # a bad --llm-* flag or VOICEKIT_LLM_* variable, said without a traceback
            parser.error(str(exc))
        from .standin import serve
        from .standin.server import check_tls_files

        try:
            check_tls_files(args.ssl_certfile, args.ssl_keyfile)
        except StandinError as exc:
            parser.error(str(exc))
        args.port = args.port or 8000
        serve(args.host, args.port, log_level=args.log_level, ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile,
              allowed_hosts=args.allowed_host, allowed_origins=args.allowed_origin, **_cli.serve_options(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
