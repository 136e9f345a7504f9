"""This host's addresses as peers see them: the source address towards a peer, the primary address, loopback.

Used by the control plane (the address it advertises to agents when bound to a wildcard) and by the agent
(the endpoint address it registers: the local address it reaches the control plane from). A UDP socket's
``connect`` picks the route and source address without sending a packet.
"""

from __future__ import annotations

import ipaddress
import itertools
import socket
from pathlib import Path

# TEST-NET-1 (RFC 5737): never routed on the internet, so asking for a route to it sends nothing anywhere.
_PROBE = "192.0.2.1"
WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def source_address_towards(host: str, port: int = 9) -> str:
    """The local address this host uses to reach ``host`` (raises ``OSError`` when there is no route)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    target = socket.getaddrinfo(host.strip("[]"), port, family, socket.SOCK_DGRAM)[0][4]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect(target)
        return str(probe.getsockname()[0])


def primary_address() -> str | None:
    """The host's primary IPv4 address: the source of its default route, else its first non-loopback
    local address (a host with no default route, e.g. on an isolated network), else None."""
    try:
        return source_address_towards(_PROBE)
    except OSError:
        pass
    local = _local_ipv4_addresses()
    return local[0] if local else None


def _local_ipv4_addresses() -> list[str]:
    """Non-loopback IPv4 addresses of this host (network namespace), from the kernel's FIB (Linux)."""
    try:
        lines = Path("/proc/net/fib_trie").read_text(encoding="ascii").splitlines()
    except OSError:
        return []
    found: list[str] = []
    for previous, line in itertools.pairwise(lines):
        # "|-- 10.1.2.3" followed by "/32 host LOCAL" marks an address of this host.
        if line.strip() == "/32 host LOCAL" and "-- " in previous:
            address = previous.rsplit("-- ", 1)[1].strip()
            if not ipaddress.ip_address(address).is_loopback and address not in found:
                found.append(address)
    return found
