"""Which CONNECT tunnels a sidecar has: one internal listener per TLS port in scope, plus the blackhole.

Apps reach HTTPS destinations through their sidecar with ``CONNECT host:port`` (``HTTPS_PROXY``). A
tunnel to a TLS or HTTPS service port enters an Envoy internal listener for that port, which routes
by SNI exactly as Istio's outbound listener ``0.0.0.0_<port>`` does (see :mod:`mizzen.translate.egress`).
These facts are shared by the cluster builder (a STATIC cluster per internal listener) and the
listener builder, so they live beneath both.
"""

from __future__ import annotations

from mizzen.translate import names
from mizzen.translate.common import JSONDict
from mizzen.translate.scope import Scope

TUNNEL_PROTOCOLS = frozenset({"TLS", "HTTPS"})
"""Ports whose CONNECT tunnels are routed by SNI (Istio's ``protocol.IsTLS``)."""


def has_tunnels(scope: Scope) -> bool:
    """Whether the proxy accepts CONNECT: a sidecar with an HTTP-proxy listener."""
    return scope.proxy.type == "sidecar" and bool(scope.proxy.http_proxy_port)


def tunnel_ports(scope: Scope) -> tuple[int, ...]:
    """The TLS/HTTPS port numbers of the services in scope, sorted (one internal listener each)."""
    if not has_tunnels(scope):
        return ()
    found = {p.number for s in scope.services for p in s.ports if p.protocol.upper() in TUNNEL_PROTOCOLS}
    return tuple(sorted(found))


def blackhole_tunnel(scope: Scope) -> bool:
    """Whether CONNECT to unknown hosts enters the blackhole listener (REGISTRY_ONLY)."""
    return has_tunnels(scope) and scope.outbound_policy == "REGISTRY_ONLY"


def tunnel_names(scope: Scope) -> tuple[str, ...]:
    """Names of the internal listeners, which are also the names of the clusters reaching them."""
    out = tuple(names.connect_tunnel(p) for p in tunnel_ports(scope))
    return (*out, names.CONNECT_BLACKHOLE) if blackhole_tunnel(scope) else out


def internal_cluster(name: str, connect_timeout: str) -> JSONDict:
    """A STATIC cluster whose one endpoint is the internal listener ``name``."""
    address: JSONDict = {"envoy_internal_address": {"server_listener_name": name}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
