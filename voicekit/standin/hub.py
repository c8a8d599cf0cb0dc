"""The stand-in as a JupyterHub-managed service: ``python -m voicekit.standin.hub``.

One stand-in per hub, for a whole class: the hub starts it (``c.JupyterHub.services``,
see ``jupyterhub/jupyterhub_config.py``), restarts it if it dies, and routes
``/services/<name>/`` on its proxy to it. Each learner's kernel reaches it at its
internal URL, ``http://127.0.0.1:<service port>/v1`` (``OPENAI_BASE_URL``; no public
certificate, no proxy), clients elsewhere through the hub's proxy at
``<hub URL>/services/<name>/v1``, each with its own server's API token as
``OPENAI_API_KEY``; the stand-in asks the hub who owns each token
presented (``Authorization: Bearer ...``, HTTP and the Realtime WebSocket handshake;
``vk-standin-<hub token>`` or the bare hub token) and lets it in only with the
``access:services!service=<name>`` scope.

Environment (what the hub gives a managed service; JupyterHub's docs, "Services",
"Properties of a Service" and "Hub-Managed Services"):

``JUPYTERHUB_SERVICE_NAME``
    The service's name (``voicekit``): the scope required is
    ``access:services!service=<name>`` (``HubAuth.access_scopes``, which reads
    ``JUPYTERHUB_OAUTH_ACCESS_SCOPES`` first).
``JUPYTERHUB_SERVICE_URL``
    Where to listen, ``http://127.0.0.1:PORT`` (the service's ``url``).
``JUPYTERHUB_SERVICE_PREFIX``
    ``/services/<name>/``: configurable-http-proxy forwards the path unchanged, so
    the app answers under it (and, for a direct client, without it too).
``JUPYTERHUB_API_URL``, ``JUPYTERHUB_API_TOKEN``
    The hub's REST API and this service's token, used by
    :class:`jupyterhub.services.auth.HubAuth` (which caches each token's answer
    for ``cache_max_age`` s, 300 by default).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from .._runtime import TOKEN_PREFIX
from ..errors import MissingDependencyError, StandinError
from .access.guards import WS_MAX_FRAME_BYTES

if TYPE_CHECKING:
    from jupyterhub.services.auth import HubAuth

    from .access.auth import TokenCheck
    from .engines import Engines

__all__ = ["HUB_INSTALL", "HubService", "hub_token_check", "main", "strip_prefix"]

log = logging.getLogger("voicekit.standin")

HUB_INSTALL = "pip install 'jupyterhub>=5.2,<7'"
"""The command that adds JupyterHub (``HubAuth``) when it is missing."""


def _hub_auth() -> HubAuth:
    try:
        from jupyterhub.services.auth import HubAuth
    except ImportError as exc:
        raise MissingDependencyError(
            f"the stand-in as a JupyterHub service needs jupyterhub: {HUB_INSTALL}",
            missing=("jupyterhub",), commands=(HUB_INSTALL,)) from exc
    return HubAuth()


def hub_token_check(auth: HubAuth | None = None) -> TokenCheck:
    """A token check that asks the hub: the token's owner must hold the service's access scope.

    Parameters
    ----------
    auth : HubAuth, optional
        Configured from the service's environment by default. A token may carry
        voicekit's stand-in prefix (``vk-standin-<hub token>``, what
        ``jupyterhub_config.py`` gives the kernels as ``OPENAI_API_KEY`` so that
        ``use_standin()`` knows it for a stand-in's); the prefix is dropped before
        the hub is asked. Its
        ``access_scopes`` (``{"access:services!service=<name>"}`` for a managed
        service) are the scopes required; a token with none of them is refused, as
        is a token the hub does not know (``GET /hub/api/user`` answers 403).

    Returns
    -------
    async callable ``(token: str) -> bool``
        Awaits ``HubAuth.user_for_token(token, sync=False)`` on the server's event
        loop (no thread blocks; answers are cached by ``HubAuth``).

    Raises
    ------
    StandinError
        If there is no scope to require (not run by a hub: no
        ``JUPYTERHUB_SERVICE_NAME`` nor ``JUPYTERHUB_OAUTH_ACCESS_SCOPES``).
    """
    from jupyterhub.services.auth import check_scopes

    auth = auth if auth is not None else _hub_auth()
    required = set(auth.access_scopes)
    if not required:
        raise StandinError("no access scope to require: run this as a JupyterHub-managed service "
                           "(JUPYTERHUB_SERVICE_NAME is not set)")

    async def check(token: str) -> bool:
        token = token.removeprefix(TOKEN_PREFIX)  # the kernels' OPENAI_API_KEY: vk-standin-<server token>
        if not token:
            return False
        model = await auth.user_for_token(token, sync=False)
        if not model:
            return False
        allowed = bool(check_scopes(required, set(model.get("scopes", ()))))
        if not allowed:
            log.warning("hub %s %r lacks the scope %s", model.get("kind", "user"), model.get("name"),
                        " or ".join(sorted(required)))
        return allowed

    return check


def strip_prefix(app: ASGIApp, prefix: str) -> ASGIApp:
    """Serve ``app`` under ``prefix`` (``/services/voicekit``) as well as at the root.

    configurable-http-proxy forwards ``/services/voicekit/v1/models`` unchanged; the
    app's routes are ``/v1/...``. HTTP and WebSocket paths starting with the prefix
    lose it; other paths (a client on the service URL directly) pass unchanged, and the
    lifespan passes through (Starlette's ``Mount`` would not run the app's lifespan).
    """
    prefix = "/" + prefix.strip("/")
    if prefix == "/":
        return app

    async def prefixed(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] in ("http", "websocket") and (path == prefix or path.startswith(prefix + "/")):
            scope = dict(scope)
            scope["path"] = path[len(prefix):] or "/"
            raw = scope.get("raw_path")
            if isinstance(raw, bytes) and raw.startswith(prefix.encode()):
                scope["raw_path"] = raw[len(prefix):] or b"/"
        await app(scope, receive, send)

    return prefixed


@dataclass(frozen=True)
class HubService:
    """Where the hub wants the service: parsed from the managed service's environment.

    Attributes
    ----------
    name : str
        ``JUPYTERHUB_SERVICE_NAME``.
    host, port : str, int
        From ``JUPYTERHUB_SERVICE_URL``; port 80 when the URL names none.
    prefix : str
        ``JUPYTERHUB_SERVICE_PREFIX``, ``/services/<name>/``.
    """

    name: str
    host: str
    port: int
    prefix: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> HubService:
        """Read the environment; raises :class:`StandinError` naming what is missing."""
        url = env.get("JUPYTERHUB_SERVICE_URL", "")
        name = env.get("JUPYTERHUB_SERVICE_NAME", "")
        if not url or not name:
            raise StandinError(
                "JUPYTERHUB_SERVICE_URL and JUPYTERHUB_SERVICE_NAME are not set: this runs as a "
                "JupyterHub-managed service, started by the hub (c.JupyterHub.services, with a 'url'); "
                "see jupyterhub/jupyterhub_config.py")
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise StandinError(f"expected JUPYTERHUB_SERVICE_URL like http://127.0.0.1:PORT, got {url!r}")
        return cls(name=name, host=parts.hostname, port=parts.port or 80,
                   prefix=env.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{name}/"))

    def app(self, load_engines: Callable[[], Engines] | None = None,
            token_check: TokenCheck | None = None) -> ASGIApp:
        """The stand-in behind the hub's token check (default :func:`hub_token_check`), under
        :attr:`prefix`; ``load_engines`` defaults to ``Engines.load``."""
        from .app import create_app
        from .engines import Engines

        check = token_check if token_check is not None else hub_token_check()
        app = create_app(load_engines or Engines.load, token_check=check)
        return strip_prefix(app, self.prefix)


def main(argv: list[str] | None = None) -> int:
    """Run the service until the hub stops it (SIGTERM); the hub restarts it if it dies."""
    parser = argparse.ArgumentParser(prog="python -m voicekit.standin.hub",
                                     description="the voicekit stand-in as a JupyterHub-managed service")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    from .._deps import require_standin

    try:
        require_standin()  # before any engine loads
    except MissingDependencyError as exc:  # a light install: the exact pip commands, no traceback
        print(f"voicekit.standin.hub: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="[voicekit %(levelname)s %(asctime)s] %(message)s")
    import uvicorn

    service = HubService.from_env()
    log.info("voicekit stand-in for JupyterHub: %s on %s:%d under %s",
             service.name, service.host, service.port, service.prefix)
    uvicorn.run(service.app(), host=service.host, port=service.port, log_level=args.log_level,
                ws="websockets-sansio", ws_max_size=WS_MAX_FRAME_BYTES, lifespan="on")
    return 0


if __name__ == "__main__":
    sys.exit(main())
