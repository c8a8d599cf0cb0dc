"""voicekit's Jupyter Server settings: ``make setup`` copies this file to
``.venv/etc/jupyter/jupyter_server_config.py``, which every Jupyter server of that venv
reads (``make lab``, and the learners' servers on JupyterHub).

Kernels: encrypted. By default a kernel talks to its server over TCP on loopback in
plain text, and ipykernel says so at every start ("Kernel is running over TCP without
encryption", ``ipykernel/kernelapp.py``). Jupyter offers two ways out: IPC transport, or
CurveZMQ keys that the kernel manager provisions (``transport_encryption``, jupyter_client
8.10 and jupyter_server 2.21). voicekit takes CurveZMQ: ``"auto"`` encrypts every kernel
whose kernelspec declares ``"supported_encryption": ["curve"]`` (ipykernel's does) and
leaves other kernels as they were. IPC is not used because it is Unix sockets only (no
Windows), a socket path must fit 107 bytes while Jupyter puts them under the home
directory's runtime folder, and a kernel on another host (JupyterHub spawners) cannot use
it. Older Jupyter (no ``transport_encryption``) or a libzmq without CurveZMQ
(``zmq.has("curve")`` false) keeps the default, and the warning.
"""

import zmq

c = get_config()  # noqa: F821  (Jupyter's config loader provides it)

try:
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
except ImportError:  # not a Jupyter Server process
    MappingKernelManager = None

if (MappingKernelManager is not None and "transport_encryption" in MappingKernelManager.class_trait_names()
        and zmq.has("curve")):
    c.MappingKernelManager.transport_encryption = "auto"
