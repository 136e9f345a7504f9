"""VirtualService ``tcp`` and ``tls`` rules -> tcp_proxy destinations and SNI filter chains."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource
from mizzen.translate import names
from mizzen.translate.common import JSONDict, as_int, as_list, as_map, duration, labels_match
from mizzen.translate.filters import Direction, tcp_proxy
from mizzen.translate.hosts import host_matches
from mizzen.translate.policies import traffic
from mizzen.translate.routes import RouteContext, destination, gateway_ref


def outbound_tcp_proxy(ctx: RouteContext, stat_prefix: str, dests: list[tuple[str, int]]) -> JSONDict:
    """A tcp_proxy for outbound (or gateway) destinations, with the first destination's DestinationRule
    ``connectionPool.tcp.idleTimeout`` as its idle timeout (Istio's translation)."""
    scope = ctx.scope
    idle = None
    parsed = names.parse_outbound_cluster(dests[0][0]) if dests else None
    if parsed is not None:
        port, subset, host = parsed
        policy = scope.destination_policy(host)
        block = traffic.effective_policy(policy.traffic_policy, policy.subset(subset) if subset else None, port)
        idle = duration(as_map(as_map(block.get("connectionPool")).get("tcp")).get("idleTimeout"))
    direction: Direction = "gateway" if ctx.gateways is not None else "outbound"
    return tcp_proxy(scope.proxy, scope.mesh.mesh, stat_prefix, dests, direction, idle)


def l4_applies(ctx: RouteContext, vs: Resource, match: Mapping[str, Any]) -> bool:
    """Generation-time L4 match: port, sourceLabels (sidecars), sourceNamespace, gateways."""
    port = as_int(match.get("port"))
    if port and port != ctx.port:
        return False
    proxy = ctx.scope.proxy
    if (
        ctx.gateways is None
        and "sourceLabels" in match
        and not labels_match(as_map(match["sourceLabels"]), proxy.labels)
    ):
        return False
    if match.get("sourceNamespace") and match["sourceNamespace"] != proxy.namespace:
        return False
    gws = [str(g) for g in as_list(match.get("gateways"))]
    if gws:
        if ctx.gateways is None:
            return "mesh" in gws
        return any(gateway_ref(g, vs.namespace) in ctx.gateways for g in gws)
    return True


def weighted_destinations(ctx: RouteContext, vs: Resource, route: list[Any]) -> list[tuple[str, int]]:
    """(cluster, weight) pairs of a RouteDestination list (weight-0 entries dropped when several)."""
    dests = [as_map(d) for d in route]
    out = []
    for d in dests:
        cluster, _, _ = destination(ctx, as_map(d.get("destination")), vs.namespace)
        weight = as_int(d.get("weight"), 0) if len(dests) > 1 else 100
        out.append((cluster, weight))
    kept = [(c, w) for c, w in out if w > 0]
    return kept or [(c, 1) for c, _ in out]


def tcp_destinations(ctx: RouteContext, vs: Resource | None, host: str) -> list[tuple[str, int]]:
    """Where a TCP connection for ``host`` goes: the first applicable ``tcp`` rule, else the service."""
    if vs is not None:
        for rule in as_list(vs.spec.get("tcp")):
            rule = as_map(rule)
            matches = [as_map(m) for m in as_list(rule.get("match"))] or [{}]
            if any(l4_applies(ctx, vs, m) for m in matches) and as_list(rule.get("route")):
                return weighted_destinations(ctx, vs, as_list(rule.get("route")))
    return [(names.outbound_cluster(ctx.port, "", host), 100)]


def tls_routes(ctx: RouteContext, vs: Resource | None) -> list[tuple[list[str], list[tuple[str, int]]]]:
    """(SNI hosts, destinations) per applicable ``tls`` rule match, in order."""
    out: list[tuple[list[str], list[tuple[str, int]]]] = []
    if vs is None:
        return out
    for rule in as_list(vs.spec.get("tls")):
        rule = as_map(rule)
        dests = weighted_destinations(ctx, vs, as_list(rule.get("route")))
        for m in (as_map(m) for m in as_list(rule.get("match"))):
            sni = [str(h) for h in as_list(m.get("sniHosts"))]
            if sni and l4_applies(ctx, vs, m):
                out.append((sni, dests))
    return out


def sni_filter_chains(routes: list[tuple[list[str], list[tuple[str, int]]]], make_filter: Any) -> list[JSONDict]:
    """One filter chain per distinct SNI set (first rule wins for a repeated name, as Envoy requires
    unique matches)."""
    seen: set[str] = set()
    chains = []
    for sni, dests in routes:
        fresh = [h for h in sni if h not in seen]
        if not fresh:
            continue
        seen.update(fresh)
        chains.append({"filter_chain_match": {"server_names": fresh}, "filters": [make_filter(dests)]})
    return chains


def sni_covers(patterns: list[str], host: str) -> bool:
    """True when one of the SNI patterns covers ``host``."""
    return any(host_matches(p, host) for p in patterns)
