"""voicekit._lifecycle installs its cell hooks at the first session a kernel makes, which
is inside a cell: that cell must be keyed too, or re-running it leaves the first session
(a call holding the microphone) open beside its replacement."""

from __future__ import annotations

from typing import Any

import voicekit._lifecycle as lifecycle


class Thing:
    def __init__(self) -> None:
        self.lifecycle = lifecycle.Lifecycle("Thing")
        self.shut = 0
        lifecycle.track(self)

    def _shutdown(self) -> None:
        self.shut += 1


class FakeKernel:
    """ipykernel's ``get_parent``: the execute request being run."""

    def get_parent(self, channel: str = "shell") -> dict[str, Any]:
        return {"header": {"msg_type": "execute_request"}, "metadata": {"cellId": "cell-1"},
                "content": {"code": "t = Thing()"}}


def test_the_cell_that_installs_the_hooks_is_keyed_too() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    InteractiveShell.clear_instance()
    sh = InteractiveShell.instance()
    installed = lifecycle._installed
    lifecycle._installed = False
    sh.kernel = FakeKernel()
    sh.user_ns.update(Thing=Thing)
    try:
        sh.run_cell("t = Thing()", cell_id="cell-1")  # the kernel's first tracked object
        first = sh.user_ns["t"]
        assert first.lifecycle.cell is not None
        sh.run_cell("t = Thing()", cell_id="cell-1")
        assert first.lifecycle.closed and first.shut == 1
        assert not sh.user_ns["t"].lifecycle.closed
    finally:
        sh.events.unregister("pre_run_cell", lifecycle._pre_run_cell)
        sh.events.unregister("post_run_cell", lifecycle._post_run_cell)
        InteractiveShell.clear_instance()
        lifecycle._installed = installed
