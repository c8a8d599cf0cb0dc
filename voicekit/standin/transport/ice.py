"""Which address and UDP ports the stand-in's WebRTC peers offer as ICE host candidates.

On one machine there is no NAT to cross, so no STUN or TURN: a peer offers
host candidates only. aioice (aiortc's ICE) offers every non-loopback
address of the machine and binds any free UDP port, and has no option for
either. The stand-in listens on loopback by default, and a browser on the
same machine reaches it there (Chromium with
``--allow-loopback-in-peer-connection`` offers loopback candidates too), so
this module makes aioice offer:

- ``VOICEKIT_WEBRTC_HOST`` (``voicekit serve --webrtc-host``): the address(es),
  comma-separated, to offer; default the address the server is bound to
  (127.0.0.1), or every address of the machine when bound to 0.0.0.0;
- ``VOICEKIT_WEBRTC_PORTS`` (``--webrtc-ports MIN-MAX``): the UDP port range to
  bind, so that a JupyterHub host can open exactly those ports in its firewall.

It does so by replacing ``aioice.ice.get_host_addresses`` and, for the port
range, the running loop's ``create_datagram_endpoint`` while aioice gathers
(the only place aioice binds a host socket). Both are process-wide: every
aiortc peer in the process, a test's client peer included, offers the same.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import random
from typing import Any

__all__ = ["configure", "host_addresses", "install", "port_range"]

_GATHERING: contextvars.ContextVar[bool] = contextvars.ContextVar("voicekit_ice_gathering", default=False)
_installed = False


def configure(host: str | None = None, ports: str | None = None) -> None:
    """Set the candidate address(es) and port range (the environment variables above)."""
    if host:
        os.environ["VOICEKIT_WEBRTC_HOST"] = host
    if ports:
        port_range(ports)  # validate now, at startup
        os.environ["VOICEKIT_WEBRTC_PORTS"] = ports


def host_addresses() -> list[str] | None:
    """The configured candidate addresses; None means aioice's own choice (every non-loopback address)."""
    raw = os.environ.get("VOICEKIT_WEBRTC_HOST", "127.0.0.1").strip()
    if raw in ("", "0.0.0.0", "::", "*"):
        return None
    return [a.strip() for a in raw.split(",") if a.strip()]


def port_range(raw: str | None = None) -> tuple[int, int] | None:
    """``MIN-MAX`` as a pair of ints, or None when no range is set.

    Raises
    ------
    ValueError
        If it is not ``MIN-MAX`` with 1024 <= MIN <= MAX <= 65535.
    """
    raw = os.environ.get("VOICEKIT_WEBRTC_PORTS", "") if raw is None else raw
    if not raw.strip():
        return None
    try:
        low, high = (int(p) for p in raw.split("-", 1))
    except ValueError:
        raise ValueError(f"expected a UDP port range MIN-MAX such as 40000-40100, got {raw!r}") from None
    if not 1024 <= low <= high <= 65535:
        raise ValueError(f"expected a UDP port range within 1024-65535 with MIN <= MAX, got {raw!r}")
    return low, high


def install() -> None:
    """Make aioice follow the configuration (idempotent; called before each peer gathers)."""
    global _installed
    import aioice.ice as aioice_ice

    if not _installed:
        original_hosts = aioice_ice.get_host_addresses

        def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
            chosen = host_addresses()
            return original_hosts(use_ipv4, use_ipv6) if chosen is None else chosen

        aioice_ice.get_host_addresses = get_host_addresses
        original_gather = aioice_ice.Connection.get_component_candidates

        async def get_component_candidates(self: Any, *args: Any, **kwargs: Any) -> Any:
            token = _GATHERING.set(True)
            try:
                return await original_gather(self, *args, **kwargs)
            finally:
                _GATHERING.reset(token)

        aioice_ice.Connection.get_component_candidates = get_component_candidates  # type: ignore[method-assign]
        _installed = True
    _bind_in_range(asyncio.get_running_loop())


def _bind_in_range(loop: asyncio.AbstractEventLoop) -> None:
    """Wrap ``loop.create_datagram_endpoint`` so that aioice's host sockets bind within the port range."""
    if getattr(loop.create_datagram_endpoint, "_voicekit_ports", False):
        return
    real = loop.create_datagram_endpoint

    async def create_datagram_endpoint(factory: Any, local_addr: Any = None, **kwargs: Any) -> Any:
        ports = port_range() if _GATHERING.get() else None
        if ports is None or local_addr is None or local_addr[1] != 0:
            return await real(factory, local_addr=local_addr, **kwargs)
        candidates = list(range(ports[0], ports[1] + 1))
        random.shuffle(candidates)
        for port in candidates:
            try:
                return await real(factory, local_addr=(local_addr[0], port), **kwargs)
            except OSError:
                continue
        raise OSError(f"no free UDP port in VOICEKIT_WEBRTC_PORTS={ports[0]}-{ports[1]} on {local_addr[0]}")

    create_datagram_endpoint._voicekit_ports = True  # type: ignore[attr-defined]
    loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign,assignment]
