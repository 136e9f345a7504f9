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


def passthrough_tunnel(scope: Scope) -> bool:
    """Whether CONNECT to unknown hosts enters the passthrough listener (ALLOW_ANY)."""
    return has_tunnels(scope) and scope.outbound_policy != "REGISTRY_ONLY"


def tunnel_names(scope: Scope) -> tuple[str, ...]:
    """Names of the internal listeners, which are also the names of the clusters reaching them."""
    out = tuple(names.connect_tunnel(p) for p in tunnel_ports(scope))
    if blackhole_tunnel(scope):
        out = (*out, names.CONNECT_BLACKHOLE)
    if passthrough_tunnel(scope):
        out = (*out, names.CONNECT_PASSTHROUGH)
    return out


def connect_target_state() -> JSONDict:
    """set_filter_state config naming the CONNECT authority (``host:port``) as the dynamic forward
    proxy's upstream, shared with the upstream connection so the passthrough listener reads it."""
    value: JSONDict = {
        "object_key": "envoy.upstream.dynamic_host",
        "format_string": {"text_format_source": {"inline_string": "%REQ(:AUTHORITY)%"}},
        "shared_with_upstream": "ONCE",
    }
    return {"@type": names.T_SET_FILTER_STATE, "on_request_headers": [value]}


def internal_cluster(name: str, connect_timeout: str) -> JSONDict:
    """A STATIC cluster whose one endpoint is the internal listener ``name``. The passthrough
    listener's cluster carries the connection's shared filter state into it (the CONNECT target)."""
    address: JSONDict = {"envoy_internal_address": {"server_listener_name": name}}
    cluster: JSONDict = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": connect_timeout,
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address}}]}],
        },
    }
    if name == names.CONNECT_PASSTHROUGH:
        raw: JSONDict = {"name": names.RAW_BUFFER, "typed_config": {"@type": names.T_RAW_BUFFER}}
        cluster["transport_socket"] = {
            "name": names.INTERNAL_UPSTREAM,
            "typed_config": {"@type": names.T_INTERNAL_UPSTREAM, "transport_socket": raw},
        }
    return cluster
