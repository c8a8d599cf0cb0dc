"""WebRTC calls from the page, with the kernel as the trusted server.

:class:`Call` answers a :class:`voicekit.widgets.CallWidget`'s offer with the project
key and runs the session on a sideband (see :mod:`voicekit.webrtc.call`).
:mod:`voicekit.webrtc.peer` has an aiortc peer that calls without a browser (it needs
the ``standin`` extra, so it is not imported here).
"""

from __future__ import annotations

from .call import APIS, Call, SidebandLive

__all__ = ["APIS", "Call", "SidebandLive"]
