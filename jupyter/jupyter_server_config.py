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

Saving: ``git status`` stays clean after Run All. nbstripout's git filter strips a saved
notebook's outputs and kernel metadata (``make setup``), but git compares a file's size
with the size recorded in its index entry *before* it runs any filter: a notebook saved
with outputs has another size, so ``git status`` listed it as modified although ``git
diff`` was empty (issue 25, item 9). After each save of a notebook git tracks, a
post-save hook re-records that index entry with the blob it already has
(``git update-index --cacheinfo``: same content, no size), so git compares the content
through the filter: clean after Run All, modified after a real edit. Nothing is staged.
Outside a git checkout (a JupyterHub learner's home), or without git, it does nothing.
"""

import os
import subprocess
import warnings

import zmq

c = get_config()  # noqa: F821  (Jupyter's config loader provides it)

try:
    from jupyter_server.services.kernels.kernelmanager import MappingKernelManager
except ImportError:  # not a Jupyter Server process
    MappingKernelManager = None

if (MappingKernelManager is not None and "transport_encryption" in MappingKernelManager.class_trait_names()
        and zmq.has("curve")):
    c.MappingKernelManager.transport_encryption = "auto"


def git_sees_the_stripped_notebook(model, os_path, contents_manager, **kwargs):
    """Post-save hook (see the module docstring): make git compare a saved notebook by content."""
    if model.get("type") != "notebook":
        return
    folder, name = os.path.split(os_path)

    def git(*args):
        return subprocess.run(["git", "-C", folder, *args], check=False, capture_output=True, text=True, timeout=30)

    try:
        entry = git("ls-files", "--stage", "--", name).stdout.split(None, 3)
        if len(entry) != 4 or entry[2] != "0":  # untracked, outside a checkout, or mid-merge
            return
        mode, blob = entry[0], entry[1]
        git("update-index", "--cacheinfo", f"{mode},{blob},{name}")
    except (OSError, subprocess.SubprocessError) as exc:  # no git: the learner's status is theirs to read
        contents_manager.log.debug("voicekit: git index not refreshed for %s: %s", os_path, exc)


# jupyter_server applies this config to its contents manager more than once, and warns at the
# second time that the hook replaces itself ("Overriding existing post_save_hook
# (git_sees_the_stripped_notebook) with a new one (git_sees_the_stripped_notebook)"): noise in
# `make lab`'s output. Only that self-replacement is silenced; a different hook still warns.
warnings.filterwarnings("ignore", message=r"Overriding existing post_save_hook \(git_sees_the_stripped_notebook\) "
                        r"with a new one \(git_sees_the_stripped_notebook\)")
c.ContentsManager.post_save_hook = git_sees_the_stripped_notebook
