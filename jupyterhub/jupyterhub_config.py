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

Settings from the environment (all optional):

``VOICEKIT_HUB_URL``
    The hub's public URL, as the learners' kernels reach it (default
    ``http://127.0.0.1:8000``); the hub binds it.
``VOICEKIT_SERVICE_PORT``
    The stand-in's loopback port (default 8010), behind the proxy.
``VOICEKIT_WEBRTC_HOST``, ``VOICEKIT_WEBRTC_PORTS``
    For WebRTC calls from the learners' browsers: the hub host's address that browsers
    reach, and the UDP port range open to them (passed on to the stand-in service; its
    media does not go through the proxy). Default: loopback only, a try-out on one machine.
``VOICEKIT_HUB_DEMO=1``
    A try-out on one machine: any user name logs in (DummyAuthenticator) and servers run
    as the hub's own Unix user (SimpleLocalProcessSpawner, homes under
    ``VOICEKIT_HUB_HOMES``, default ``/tmp/voicekit-hub/{username}``). Never for a real
    class. Without it, the hub's defaults hold: PAM log-in, one Unix account per learner
    (LocalProcessSpawner); set your own Authenticator and Spawner below for anything else.
"""

import os
import sys
from urllib.parse import urlsplit

from voicekit._deps import require_standin
from voicekit._runtime import TOKEN_PREFIX

require_standin()  # the hub stops here, naming the pip commands, if the stand-in's engines are missing

c = get_config()  # noqa: F821  (traitlets defines get_config in config files)

HUB_URL = os.environ.get("VOICEKIT_HUB_URL", "http://127.0.0.1:8000").rstrip("/")
SERVICE_PORT = int(os.environ.get("VOICEKIT_SERVICE_PORT", "8010"))
SERVICE = "voicekit"
ACCESS = f"access:services!service={SERVICE}"

c.JupyterHub.bind_url = HUB_URL + "/"

# The stand-in: one per hub, on loopback, reached through the hub's proxy. Its engines
# load once (~5-10 s) when the hub starts.
c.JupyterHub.services = [
    {
        "name": SERVICE,
        "url": f"http://127.0.0.1:{SERVICE_PORT}",
        "command": [sys.executable, "-m", "voicekit.standin.hub", "--log-level", "warning"],
        "display": False,
        # The stand-in refuses Host names other than loopback ones (DNS rebinding): the
        # proxy passes the learners' Host on, so name the hub's.
        "environment": {"VOICEKIT_ALLOWED_HOSTS": urlsplit(HUB_URL).hostname or "127.0.0.1",
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
    "OPENAI_BASE_URL": f"{HUB_URL}/services/{SERVICE}/v1",
    "OPENAI_API_KEY": lambda spawner: TOKEN_PREFIX + spawner.api_token,
    # use_standin() waits for the hub's stand-in (starting, or restarted by the hub) instead
    # of starting a ~700 MB one of its own for each learner.
    "VOICEKIT_NO_LOCAL_STANDIN": "1",
}
# The single-user servers and their kernels run in this Python environment (voicekit's).
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"

if os.environ.get("VOICEKIT_HUB_DEMO") == "1":
    c.JupyterHub.authenticator_class = "dummy"
    c.Authenticator.allow_all = True
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.environ.get(
        "VOICEKIT_HUB_HOMES", "/tmp/voicekit-hub/{username}")
    if os.geteuid() == 0:  # servers run as the hub's user; Jupyter refuses root without this
        c.Spawner.args = ["--allow-root"]
