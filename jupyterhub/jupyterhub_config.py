"""JupyterHub for a class, with one voicekit stand-in for everyone: ``jupyterhub -f jupyterhub/jupyterhub_config.py``.

The stand-in is a hub-managed service (``python -m voicekit.standin.hub``): the hub starts
it, restarts it if it dies, and its proxy routes ``/services/voicekit/`` to it. Each
learner's server gets, through ``c.Spawner.environment``:

- ``OPENAI_BASE_URL`` = ``<hub URL>/services/voicekit/v1`` (HTTP and the Realtime
  WebSocket, through configurable-http-proxy);
- ``OPENAI_API_KEY`` = ``vk-standin-`` + the server's own hub API token
  (``spawner.api_token``, already in the kernel as ``JUPYTERHUB_API_TOKEN``; the prefix
  tells ``use_standin()`` that the key is a stand-in's, not OpenAI's), which carries
  ``access:services!service=voicekit`` (``c.Spawner.server_token_scopes``, granted to every
  user by the ``user`` role below). The stand-in asks the hub about each token and
  answers 401 ``invalid_api_key`` to any other.

So the notebooks run unchanged: ``voicekit.use_standin()`` finds the stand-in at
``OPENAI_BASE_URL`` and ``OpenAI()`` reaches it.

Kernels reach the stand-in by its internal URL, ``http://127.0.0.1:<service port>/v1``
(``VOICEKIT_KERNEL_BASE_URL``), not the hub's public one: they need no public certificate
and no round trip through the proxy. The stand-in itself still answers at
``<hub URL>/services/voicekit/v1`` for clients elsewhere.

Settings from the environment (all optional):

``VOICEKIT_HUB_URL``
    The hub's public URL, as the learners' browsers open it (default
    ``http://127.0.0.1:8000``); the hub binds it unless ``VOICEKIT_HUB_BIND_URL`` is set.
    Browsers give the microphone only to a secure context: a class off this machine needs
    ``https://`` here, with ``VOICEKIT_HUB_SSL_CERT`` and ``VOICEKIT_HUB_SSL_KEY``.
``VOICEKIT_HUB_SSL_CERT``, ``VOICEKIT_HUB_SSL_KEY``
    PEM files of the hub's TLS certificate (full chain) and key: JupyterHub's
    ``ssl_cert``/``ssl_key``, served by its proxy.
``VOICEKIT_HUB_BIND_URL``
    Where the hub listens when that differs from the public URL: behind a TLS-terminating
    proxy (nginx, Caddy) that serves ``https://`` and forwards to ``http://127.0.0.1:8000``.
``VOICEKIT_SERVICE_PORT``
    The stand-in's loopback port (default 8010), behind the proxy.
``VOICEKIT_WEBRTC_HOST``, ``VOICEKIT_WEBRTC_PORTS``
    For WebRTC calls from the learners' browsers: the hub host's address that browsers
    reach, and the UDP port range open to them (passed on to the stand-in service; its
    media does not go through the proxy). Default: loopback only, a try-out on one machine.
``VOICEKIT_KERNEL_BASE_URL``
    The stand-in's URL as the kernels reach it (default ``http://127.0.0.1:<service
    port>/v1``); set it when the servers run elsewhere (containers, other hosts).
``VOICEKIT_HUB_NOTEBOOKS``
    The folder each learner finds the kit's notebooks in, relative to their home (default
    ``voicekit-notebooks``): a pre-spawn hook copies ``notebooks/`` there at a learner's
    first start, and never again (their edits stay); empty: no copy.
``VOICEKIT_HUB_DEMO=1``
    A try-out on one machine: any user name logs in (DummyAuthenticator) and servers run
    as the hub's own Unix user (SimpleLocalProcessSpawner, homes under
    ``VOICEKIT_HUB_HOMES``, default ``/tmp/voicekit-hub/{username}``). Refused unless the
    hub listens on loopback only (the bind URL's host is 127.0.0.1, ::1 or localhost):
    anyone who reached it could log in as anyone, with the hub's rights. Without it, the
    hub's defaults hold: PAM log-in, one Unix account per learner (LocalProcessSpawner),
    the hub run as root; set your own Authenticator and Spawner below for anything else.
"""

import ipaddress
import logging
import os
import shutil
import socket
import sys
from pathlib import Path
from urllib.parse import urlsplit

from voicekit._deps import require_standin
from voicekit._runtime import TOKEN_PREFIX

require_standin()  # the hub stops here, naming the pip commands, if the stand-in's engines are missing

c = get_config()  # noqa: F821  (traitlets defines get_config in config files)

HUB_URL = os.environ.get("VOICEKIT_HUB_URL", "http://127.0.0.1:8000").rstrip("/")
BIND_URL = os.environ.get("VOICEKIT_HUB_BIND_URL", HUB_URL).rstrip("/")
SERVICE_PORT = int(os.environ.get("VOICEKIT_SERVICE_PORT", "8010"))
KERNEL_BASE_URL = os.environ.get("VOICEKIT_KERNEL_BASE_URL", f"http://127.0.0.1:{SERVICE_PORT}/v1").rstrip("/")
SERVICE = "voicekit"
ACCESS = f"access:services!service={SERVICE}"
DEMO = os.environ.get("VOICEKIT_HUB_DEMO") == "1"
KIT_NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS_FOLDER = os.environ.get("VOICEKIT_HUB_NOTEBOOKS", "voicekit-notebooks")


def _is_loopback(host: str | None) -> bool:
    """True if every address ``host`` names is a loopback one (127.0.0.0/8, ::1)."""
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


if DEMO and not _is_loopback(urlsplit(BIND_URL).hostname):
    raise SystemExit(
        f"voicekit: VOICEKIT_HUB_DEMO=1 is refused on {BIND_URL}, which is not a loopback address. Demo mode "
        "lets ANY user name log in WITHOUT a password, and every server runs as the hub's own Unix user "
        f"({os.environ.get('USER') or os.geteuid()}): whoever reaches this address could run code as that "
        "user. For a class, leave VOICEKIT_HUB_DEMO unset (PAM log-in, one Unix account per learner) or set "
        "your own Authenticator in this config. To try the demo, bind loopback: "
        "VOICEKIT_HUB_URL=http://127.0.0.1:8000.")

SSL_CERT, SSL_KEY = os.environ.get("VOICEKIT_HUB_SSL_CERT"), os.environ.get("VOICEKIT_HUB_SSL_KEY")
if SSL_CERT or SSL_KEY:
    if not (SSL_CERT and SSL_KEY):
        raise SystemExit("voicekit: set both VOICEKIT_HUB_SSL_CERT and VOICEKIT_HUB_SSL_KEY (PEM files), or neither")
    if not BIND_URL.startswith("https://"):
        raise SystemExit(f"voicekit: a TLS certificate is given but the hub binds {BIND_URL}: "
                         "make VOICEKIT_HUB_URL https://...")
    c.JupyterHub.ssl_cert = SSL_CERT
    c.JupyterHub.ssl_key = SSL_KEY
elif BIND_URL.startswith("https://"):
    raise SystemExit(
        f"voicekit: the hub binds {BIND_URL} but has no certificate: set VOICEKIT_HUB_SSL_CERT and "
        "VOICEKIT_HUB_SSL_KEY to its PEM files, or, behind a TLS-terminating proxy, set "
        "VOICEKIT_HUB_BIND_URL=http://127.0.0.1:8000 (where that proxy forwards).")
if not HUB_URL.startswith("https://") and not _is_loopback(urlsplit(HUB_URL).hostname):
    print(f"voicekit: WARNING: the learners open {HUB_URL} over plain http, not on loopback: browsers give "
          "no microphone there (not a secure context), so no Recorder works. Serve the hub over https: "
          "VOICEKIT_HUB_URL=https://..., VOICEKIT_HUB_SSL_CERT and VOICEKIT_HUB_SSL_KEY (README, "
          "\"A class on JupyterHub\").", file=sys.stderr)
if DEMO:
    print(f"voicekit: DEMO MODE on {BIND_URL}: any user name logs in without a password; servers run as "
          f"{os.environ.get('USER') or os.geteuid()}. For a try-out on this machine only.", file=sys.stderr)

c.JupyterHub.bind_url = BIND_URL + "/"
if BIND_URL != HUB_URL:
    c.JupyterHub.public_url = HUB_URL + "/"

# The stand-in: one per hub, on loopback, reached through the hub's proxy. Its engines
# load and warm up once when the hub starts, before it answers: 10-20 s on a quiet
# machine, 40 s and more on a busy one. The hub waits SERVICE_START_S for it (JupyterHub
# 6's service "timeout"; its default of 30 s made the hub exit with "Cannot connect to
# voicekit service managed" on a loaded 2-core machine). JupyterHub 5 has no such field
# and waits its own 30 s.
SERVICE_START_S = 300
try:
    from jupyterhub.services.service import Service as _Service

    _WAIT = {"timeout": SERVICE_START_S} if "timeout" in _Service.class_traits(input=True) else {}
except ImportError:  # the config read without JupyterHub (a check of what it sets)
    _WAIT = {}
c.JupyterHub.services = [
    {
        "name": SERVICE,
        "url": f"http://127.0.0.1:{SERVICE_PORT}",
        "command": [sys.executable, "-m", "voicekit.standin.hub", "--log-level", "warning"],
        "display": False,
        **_WAIT,
        # The stand-in refuses Host names other than loopback ones (DNS rebinding): the
        # proxy passes the learners' Host on, so name the hub's (and the kernels' URL's).
        "environment": {"VOICEKIT_ALLOWED_HOSTS": ",".join(sorted({
            urlsplit(url).hostname or "127.0.0.1" for url in (HUB_URL, KERNEL_BASE_URL)})),
                        # WebRTC media bypasses the proxy: UDP straight to this host (README, "WebRTC calls")
                        **{k: os.environ[k] for k in ("VOICEKIT_WEBRTC_HOST", "VOICEKIT_WEBRTC_PORTS")
                           if os.environ.get(k)}},
    },
]

# Every user may use the stand-in (the default "user" role is just "self").
c.JupyterHub.load_roles = [
    {"name": "user", "scopes": ["self", ACCESS]},
]

# The servers' tokens: the default "server" role's scopes, plus the stand-in.
c.Spawner.server_token_scopes = ["access:servers!server", "users:activity!user", ACCESS]
c.Spawner.environment = {
    # The internal URL: no public certificate to trust, no proxy in between.
    "OPENAI_BASE_URL": KERNEL_BASE_URL,
    "OPENAI_API_KEY": lambda spawner: TOKEN_PREFIX + spawner.api_token,
    # use_standin() waits for the hub's stand-in (starting, or restarted by the hub) instead
    # of starting a ~700 MB one of its own for each learner.
    "VOICEKIT_NO_LOCAL_STANDIN": "1",
}
# The single-user servers and their kernels run in this Python environment (voicekit's).
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"



def copy_notebooks(spawner) -> None:  # spawner: a jupyterhub Spawner
    """Pre-spawn hook: copy the kit's notebooks into a learner's home at their first start.

    The folder is ``~/<VOICEKIT_HUB_NOTEBOOKS>`` (default ``voicekit-notebooks``); once it
    exists nothing is copied again, so a learner's edits stay. In demo mode the home is
    ``VOICEKIT_HUB_HOMES`` (created here) and the servers run as the hub's user; otherwise
    it is the learner's Unix home, and the copy is given to the learner (the hub runs as
    root with PAM, so it may chown). A user with no Unix account here (another Spawner:
    containers, remote hosts) gets no copy and the hub logs why; such a setup brings the
    notebooks its own way (nbgitpuller, the image).
    """
    if not NOTEBOOKS_FOLDER:
        return
    if DEMO:
        home, owner = Path(spawner.home_dir), None
    else:
        import pwd

        try:
            entry = pwd.getpwnam(spawner.user.name)
        except KeyError:
            logging.getLogger("JupyterHub").warning(
                "voicekit: no Unix account %r on the hub's machine: its notebooks are not copied", spawner.user.name)
            return
        home, owner = Path(entry.pw_dir), (entry.pw_uid, entry.pw_gid)
    target = home / NOTEBOOKS_FOLDER
    if target.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    shutil.copytree(KIT_NOTEBOOKS, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    if owner is not None and os.geteuid() == 0:
        for path in [target, *target.rglob("*")]:
            os.chown(path, *owner)


c.Spawner.pre_spawn_hook = copy_notebooks

if DEMO:
    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.environ.get(
        "VOICEKIT_HUB_HOMES", "/tmp/voicekit-hub/{username}")
    if os.geteuid() == 0:  # servers run as the hub's user; Jupyter refuses root without this
        c.Spawner.args = ["--allow-root"]
