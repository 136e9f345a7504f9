"""HTTPS egress through the sidecar: CONNECT on the HTTP-proxy listener, routed with Istio's TLS semantics.

Theory of operation. Without iptables, an app reaches ``https://host`` through ``HTTPS_PROXY``: it sends
``CONNECT host:443`` to its sidecar's HTTP-proxy listener and then speaks TLS inside the tunnel. The
``http_proxy`` route configuration therefore routes CONNECT by its authority:

- a TLS or HTTPS port of a ServiceEntry, or of a Kubernetes Service with VirtualService ``tls`` rules:
  into the internal listener ``connect_<port>``, which is what Istio's
  outbound listener ``0.0.0.0_<port>`` is for an app behind iptables: the TLS inspector reads the SNI,
  filter chains match it (the VirtualService ``tls`` rules' ``sniHosts``, else the service's own host
  names) and a tcp_proxy forwards the bytes to the chosen cluster, with TCP access logs and metrics;
  connections matching no chain take the default chain (PassthroughCluster by SNI, or BlackHoleCluster);
- a TLS or HTTPS port of a Kubernetes Service without ``tls`` rules: straight to the service's cluster
  (or the ``tcp`` rules' destinations), whatever the SNI, as Istio's listener matches the Service's VIP;
- another non-HTTP port (TCP, or a port whose protocol Istio would sniff): straight to the service's
  cluster, with the VirtualService ``tcp`` rules' destinations (there is no SNI to route on);
- a name only a VirtualService ``tls`` rule's ``sniHosts`` holds (``*.wikipedia.org`` sent to an egress
  gateway): into ``connect_<port>`` too (:func:`tunnel_server_names`); the SNI is matched again inside;
- an unknown host under ALLOW_ANY: the internal listener ``connect_PassthroughCluster``, which passes
  the connection through to the CONNECT target (the route puts it in the filter state) and logs it as
  Istio logs passthrough connections (``"- - -"``, PassthroughCluster, the SNI); under REGISTRY_ONLY
  the internal listener ``connect_BlackHoleCluster``, which accepts the tunnel and closes it when the
  client starts talking, so the client sees what Istio gives it (a TLS handshake cut short: curl's exit
  code 35) rather than an HTTP error Istio never sends.

The HTTP connection manager does not log tunnels into internal listeners: the listener logs the
connection as Istio logs TLS traffic (``"- - -"``, the SNI, ``outbound|443||host``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mizzen.config.models import Typed, VirtualService
from mizzen.registry.model import Service, ServicePort
from mizzen.registry.protocols import AUTO
from mizzen.translate import names
from mizzen.translate.clusters import DNS_CACHE_CONFIG
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import cluster_kind
from mizzen.translate.filters import tcp_proxy
from mizzen.translate.hosts import domain_variants
from mizzen.translate.routes import ClusterRef, RouteContext
from mizzen.translate.scope import Scope
from mizzen.translate.tcp import SniRoute, WeightedCluster, outbound_tcp_proxy, tcp_destinations, tls_routes
from mizzen.translate.tunnels import (
    TUNNEL_PROTOCOLS,
    blackhole_tunnel,
    connect_target_state,
    has_tunnels,
    passthrough_tunnel,
    tunnel_ports,
)

VirtualServices = Callable[[str], Sequence[Typed[VirtualService]]]
"""The VirtualServices that apply to a host for sidecars, in the order they are tried."""


def connect_log_filter() -> JSONDict:
    """Access-log filter of the HTTP-proxy listener: tunnels into internal listeners are logged there.
    (A new dict each time: the output is JSON other code may change, never a shared constant.)

    Envoy's ``or_filter`` stops at the first filter that passes, so the header test answers for every
    request but CONNECT and the CEL expression runs for CONNECT only: a CEL evaluation per logger and
    request cost ~11 ms of Envoy CPU per 1000 requests for the two loggers (the header test ~0)."""
    not_connect: JSONDict = {
        "header_filter": {"header": {"name": ":method", "string_match": {"exact": "CONNECT"}, "invert_match": True}}
    }
    # `||` absorbs errors in CEL, so CONNECT requests without a cluster (404, faults) are still logged.
    expression = f"!has(xds.cluster_name) || !xds.cluster_name.startsWith('{names.CONNECT_PREFIX}')"
    config: JSONDict = {"@type": names.T_CEL_LOG_FILTER, "expression": expression}
    not_tunneled = {"extension_filter": {"name": names.CEL_LOG_FILTER, "typed_config": config}}
    return {"or_filter": {"filters": [not_connect, not_tunneled]}}


_NOT_TUNNELED = frozenset({"UDP"})


def connect_routes(
    ctx: RouteContext, vs: Typed[VirtualService] | None, svc: Service, port: ServicePort
) -> list[JSONDict]:
    """The CONNECT route of one service port on the HTTP-proxy listener ([] when it takes no tunnel)."""
    protocol = port.protocol.upper()
    if not has_tunnels(ctx.scope) or protocol in _NOT_TUNNELED:
        return []
    if protocol in TUNNEL_PROTOCOLS and (svc.source_kind != "Service" or tls_routes(ctx, vs)):
        return [connect_route({"cluster": names.connect_tunnel(port.number)})]
    if protocol in TUNNEL_PROTOCOLS:
        # Istio matches a Kubernetes Service's TLS port by its VIP, whatever the SNI (its task reaches
        # my-wikipedia's VIP with SNI en.wikipedia.org); the CONNECT authority is that VIP here.
        return [connect_route(_weighted(tcp_destinations(ctx, vs, svc.hostname)))]
    if protocol == AUTO or protocol not in _HTTP_FAMILY:
        return [connect_route(_weighted(tcp_destinations(ctx, vs, svc.hostname)))]
    return []


_HTTP_FAMILY = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})


def catch_all_connect_route(scope: Scope) -> list[JSONDict]:
    """CONNECT to a host the mesh does not know: the passthrough listener (with the CONNECT target in
    the filter state), or the blackhole under REGISTRY_ONLY."""
    if not has_tunnels(scope):
        return []
    if blackhole_tunnel(scope):
        return [connect_route({"cluster": names.CONNECT_BLACKHOLE})]
    route = connect_route({"cluster": names.CONNECT_PASSTHROUGH})
    state: JSONDict = {"@type": names.T_ROUTE_FILTER_CONFIG, "config": connect_target_state()}
    route["typed_per_filter_config"] = {names.SET_FILTER_STATE: state}
    return [route]


def connect_route(target: JSONDict) -> JSONDict:
    """A route taking CONNECT requests only, terminating the tunnel into ``target`` (no timeout)."""
    action: JSONDict = {
        **target,
        "timeout": "0s",
        "upgrade_configs": [{"upgrade_type": "CONNECT", "connect_config": {}}],
    }
    return {"name": names.CONNECT_ROUTE, "match": {"connect_matcher": {}}, "route": action}


def _weighted(dests: Sequence[WeightedCluster]) -> JSONDict:
    if len(dests) == 1:
        return {"cluster": dests[0].cluster.name}
    return {"weighted_clusters": {"clusters": [{"name": d.cluster.name, "weight": d.weight} for d in dests]}}


def connect_listeners(scope: Scope, virtual_services: VirtualServices) -> dict[str, JSONDict]:
    """The internal listeners CONNECT tunnels enter, keyed by name."""
    out = {names.connect_tunnel(p): _tunnel_listener(scope, p, virtual_services) for p in tunnel_ports(scope)}
    if blackhole_tunnel(scope):
        out[names.CONNECT_BLACKHOLE] = _internal_listener(
            names.CONNECT_BLACKHOLE, [], {"filters": [_blackhole_proxy(scope)]}
        )
    if passthrough_tunnel(scope):
        out[names.CONNECT_PASSTHROUGH] = _passthrough_listener(scope)
    return out


def _passthrough_listener(scope: Scope) -> JSONDict:
    """Where CONNECT to an unknown host goes under ALLOW_ANY: Istio's passthrough, logged as Istio logs
    it (the SNI when the client speaks TLS). The upstream is the CONNECT target, which the HTTP-proxy
    route put in the filter state (``envoy.upstream.dynamic_host``), so any port works; a client that
    does not speak first (a server-first protocol) waits at most 100 ms for the TLS inspector."""
    passthrough = tcp_proxy(
        scope.proxy,
        scope.mesh.mesh,
        names.PASSTHROUGH_CLUSTER,
        [(names.PASSTHROUGH_CLUSTER, 1)],
        resolved=scope.telemetry,
    )
    listener = _internal_listener(names.CONNECT_PASSTHROUGH, [], {"filters": [_sni_forward(443), passthrough]})
    listener["listener_filters_timeout"] = "0.1s"
    listener["continue_on_listener_filters_timeout"] = True
    return listener


def _sni_routes(scope: Scope, port: int, virtual_services: VirtualServices) -> list[SniRoute]:
    """The SNI routes of the TLS port ``port``, in chain order: per service, the VirtualService ``tls``
    rules that match it (a wildcard VS host matches services under it), else the service itself."""
    ctx = RouteContext(scope, port)
    routes: list[SniRoute] = []
    for svc in scope.services:
        sp = svc.port(port)
        if sp is None or sp.protocol.upper() not in TUNNEL_PROTOCOLS:
            continue
        matched = [r for vs in virtual_services(svc.hostname) for r in tls_routes(ctx, vs)]
        own = SniRoute(
            sni_names(svc, scope.proxy.namespace), (WeightedCluster(ClusterRef(port, "", svc.hostname), 100),)
        )
        routes += matched or [own]
    return routes


def tunnel_server_names(scope: Scope, virtual_services: VirtualServices) -> list[tuple[int, str]]:
    """(port, SNI name) pairs the tunnel listeners route somewhere, in chain order.

    A CONNECT whose authority is one of these enters ``connect_<port>`` even when no service has the
    name: a VirtualService ``tls`` rule's ``sniHosts`` (``*.wikipedia.org`` sent to an egress gateway)
    is what Istio's outbound listener matches, and the SNI is checked again inside the tunnel.
    """
    out: list[tuple[int, str]] = []
    for port in tunnel_ports(scope):
        for route in _distinct(_sni_routes(scope, port, virtual_services)):
            out += [(port, name) for name in route.sni_hosts]
    return out


def _tunnel_listener(scope: Scope, port: int, virtual_services: VirtualServices) -> JSONDict:
    """Istio's outbound TLS listener for one port: SNI chains per service, then the default chain."""
    ctx = RouteContext(scope, port)
    chains = _sni_chains(ctx, _sni_routes(scope, port, virtual_services))
    if scope.outbound_policy == "REGISTRY_ONLY":
        default: JSONDict = {"filters": [_blackhole_proxy(scope)]}
    else:
        passthrough = tcp_proxy(
            scope.proxy,
            scope.mesh.mesh,
            names.PASSTHROUGH_CLUSTER,
            [(names.PASSTHROUGH_CLUSTER, 1)],
            resolved=scope.telemetry,
        )
        default = {"filters": [_sni_forward(port), passthrough]}
    return _internal_listener(names.connect_tunnel(port), chains, default)


def sni_names(svc: Service, namespace: str) -> tuple[str, ...]:
    """The SNI a client sends for ``svc``: its host, and for a Kubernetes service the names a client in
    ``namespace`` may use (Istio matches such services by VIP, which a CONNECT tunnel has not)."""
    if svc.source_kind != "Service":
        return (svc.hostname,)
    return tuple(n for n in domain_variants(svc, namespace) if not n.replace(".", "").isdigit() and ":" not in n)


def _sni_chains(ctx: RouteContext, routes: Sequence[SniRoute]) -> list[JSONDict]:
    """One chain per distinct SNI set (see :func:`_distinct`)."""
    return [
        {"filter_chain_match": {"server_names": list(route.sni_hosts)}, "filters": _forward(ctx, route.destinations)}
        for route in _distinct(routes)
    ]


def _distinct(routes: Sequence[SniRoute]) -> list[SniRoute]:
    """The routes with destinations, each keeping the SNI names no earlier route has (Envoy wants unique
    matches; the first route wins a repeated name); routes left with no name are dropped."""
    seen: set[str] = set()
    out: list[SniRoute] = []
    for route in routes:
        fresh = tuple(h for h in route.sni_hosts if h not in seen)
        if fresh and route.destinations:
            seen.update(fresh)
            out.append(SniRoute(fresh, route.destinations))
    return out


def _forward(ctx: RouteContext, dests: Sequence[WeightedCluster]) -> list[JSONDict]:
    """tcp_proxy to ``dests``; a destination without endpoints of its own (resolution NONE) is reached
    at the host the SNI names, as Istio's passthrough reaches the original destination."""
    stat = dests[0].cluster.name if len(dests) == 1 else names.connect_tunnel(ctx.port)
    proxy = outbound_tcp_proxy(ctx, stat, dests)
    dynamic = any(
        (svc := ctx.scope.service(d.cluster.host)) is not None and cluster_kind(svc) == "DYNAMIC" for d in dests
    )
    return [_sni_forward(ctx.port), proxy] if dynamic else [proxy]


def _sni_forward(port: int) -> JSONDict:
    return {
        "name": names.SNI_DFP_FILTER,
        "typed_config": {"@type": names.T_SNI_DFP_FILTER, "dns_cache_config": DNS_CACHE_CONFIG, "port_value": port},
    }


def _blackhole_proxy(scope: Scope) -> JSONDict:
    return tcp_proxy(
        scope.proxy, scope.mesh.mesh, names.BLACKHOLE_CLUSTER, [(names.BLACKHOLE_CLUSTER, 1)], resolved=scope.telemetry
    )


def _internal_listener(name: str, chains: list[JSONDict], default: JSONDict) -> JSONDict:
    # The TLS inspector also makes the blackhole wait for the client's first bytes, so the tunnel is
    # accepted (200) and then closed, as Istio's BlackHoleCluster closes an accepted connection.
    listener: JSONDict = {
        "name": name,
        "internal_listener": {},
        "listener_filters": [{"name": names.TLS_INSPECTOR, "typed_config": {"@type": names.T_TLS_INSPECTOR}}],
        "filter_chains": chains,
        "default_filter_chain": default,
        "traffic_direction": "OUTBOUND",
    }
    return listener
