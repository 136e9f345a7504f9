"""VirtualService ``tcp`` and ``tls`` rules -> tcp_proxy destinations and SNI filter chains."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mizzen.config.models import Typed, VirtualService
from mizzen.config.models.virtual_service import L4MatchAttributes, RouteDestination
from mizzen.translate.common import JSONDict, proto_duration
from mizzen.translate.filters import Direction, tcp_proxy
from mizzen.translate.policies import traffic
from mizzen.translate.routes import ClusterRef, RouteContext, applies, destination


@dataclass(frozen=True)
class WeightedCluster:
    """One tcp_proxy destination and its weight."""

    cluster: ClusterRef
    weight: int


@dataclass(frozen=True)
class SniRoute:
    """The destinations of connections whose SNI is one of ``sni_hosts`` (one ``tls`` match entry)."""

    sni_hosts: tuple[str, ...]
    destinations: tuple[WeightedCluster, ...]


def outbound_tcp_proxy(ctx: RouteContext, stat_prefix: str, dests: Sequence[WeightedCluster]) -> JSONDict:
    """A tcp_proxy for outbound (or gateway) destinations, with the first destination's DestinationRule
    ``connectionPool.tcp.idleTimeout`` as its idle timeout (Istio's translation)."""
    scope = ctx.scope
    idle = None
    if dests:
        first = dests[0].cluster
        policy = scope.destination_policy(first.host)
        subset = policy.subset(first.subset) if first.subset else None
        pool = traffic.effective_policy(policy.traffic_policy, subset, first.port).connection_pool
        idle = proto_duration(pool.tcp.idle_timeout) if pool is not None and pool.tcp is not None else None
    direction: Direction = "gateway" if ctx.gateways is not None else "outbound"
    clusters = [(d.cluster.name, d.weight) for d in dests]
    return tcp_proxy(scope.proxy, scope.mesh.mesh, stat_prefix, clusters, direction, idle, resolved=scope.telemetry)


def weighted_destinations(
    ctx: RouteContext, vs: Typed[VirtualService], route: Sequence[RouteDestination]
) -> tuple[WeightedCluster, ...]:
    """The clusters of a RouteDestination list (weight-0 entries dropped when several)."""
    out = [
        WeightedCluster(destination(ctx, d.destination, vs.namespace), (d.weight or 0) if len(route) > 1 else 100)
        for d in route
    ]
    kept = tuple(d for d in out if d.weight > 0)
    return kept or tuple(WeightedCluster(d.cluster, 1) for d in out)


def tcp_destinations(ctx: RouteContext, vs: Typed[VirtualService] | None, host: str) -> tuple[WeightedCluster, ...]:
    """Where a TCP connection for ``host`` goes: the first applicable ``tcp`` rule, else the service."""
    if vs is not None:
        for rule in vs.spec.tcp:
            matches = rule.match or (L4MatchAttributes(),)
            if any(applies(ctx, vs, m) for m in matches) and rule.route:
                return weighted_destinations(ctx, vs, rule.route)
    return (WeightedCluster(ClusterRef(ctx.port, "", host), 100),)


def tls_routes(ctx: RouteContext, vs: Typed[VirtualService] | None) -> list[SniRoute]:
    """The SNI routes of every applicable ``tls`` rule match, in order."""
    out: list[SniRoute] = []
    if vs is None:
        return out
    for rule in vs.spec.tls:
        dests = weighted_destinations(ctx, vs, rule.route)
        out += [SniRoute(m.sni_hosts, dests) for m in rule.match if m.sni_hosts and applies(ctx, vs, m)]
    return out


def sni_filter_chains(
    routes: Sequence[SniRoute], make_filter: Callable[[Sequence[WeightedCluster]], JSONDict]
) -> list[JSONDict]:
    """One filter chain per distinct SNI set (first rule wins for a repeated name, as Envoy requires
    unique matches)."""
    seen: set[str] = set()
    chains: list[JSONDict] = []
    for route in routes:
        fresh = [h for h in route.sni_hosts if h not in seen]
        if not fresh:
            continue
        seen.update(fresh)
        chains.append({"filter_chain_match": {"server_names": fresh}, "filters": [make_filter(route.destinations)]})
    return chains
