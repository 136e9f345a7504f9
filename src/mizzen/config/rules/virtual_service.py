"""Istio's VirtualService rules (``ValidateVirtualService``): hosts, gateways, delegation, TCP and TLS
routes; HTTP routes are in :mod:`.http_route`, unreachable rules in :mod:`.reachability`."""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.virtual_service import (
    L4MatchAttributes,
    RouteDestination,
    TCPRoute,
    TLSMatchAttributes,
    TLSRoute,
    VirtualService,
)
from mizzen.config.resource import Resource
from mizzen.config.rules import common, headers, hosts, http_route, reachability
from mizzen.config.rules.common import Found
from mizzen.config.semantics.hosts import hosts_intersect

MESH = "mesh"


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one VirtualService."""
    vs: VirtualService = parse_spec(res)
    out: Found = []
    if not vs.hosts:
        _delegate(vs, root, out)
    if vs.gateways:
        common.gateway_names(vs.gateways, f"{root}.gateways", out)
    to_gateway = bool(vs.gateways) and MESH not in vs.gateways
    if not to_gateway:
        _jwt_claim_routes(vs, root, out)
    _hosts(vs, root, out, to_gateway=to_gateway)
    if not (vs.http or vs.tcp or vs.tls):
        out.append(violation("MZ1003", "http, tcp or tls must be provided in virtual service", root))
    for i, http in enumerate(vs.http):
        http_route.check(http, f"{root}.http[{i}]", out, in_delegate=not vs.hosts)
    for i, tls in enumerate(vs.tls):
        _tls_route(tls, vs, f"{root}.tls[{i}]", out)
    for i, tcp in enumerate(vs.tcp):
        _tcp_route(tcp, f"{root}.tcp[{i}]", out)
    common.export_to(res.namespace, vs.export_to, f"{root}.exportTo", out)
    _reachability(vs, out)
    return out


def _delegate(vs: VirtualService, root: str, out: Found) -> None:
    for field, value, what in (
        ("gateways", vs.gateways, "gateways"),
        ("tls", vs.tls, "tls route"),
        ("tcp", vs.tcp, "tcp route"),
    ):
        if value:
            out.append(
                violation("MZ2109", f"delegate virtual service must have no {what} specified", f"{root}.{field}")
            )


def _jwt_claim_routes(vs: VirtualService, root: str, out: Found) -> None:
    for i, http in enumerate(vs.http):
        for j, m in enumerate(http.match):
            for field, table in (("headers", m.headers), ("withoutHeaders", m.without_headers)):
                for key in table:
                    if headers.is_jwt_claim_route(key):
                        out.append(
                            violation(
                                "MZ2120",
                                f"JWT claim based routing (key: {key}) is only supported for gateway, "
                                f"found no gateways: [{' '.join(vs.gateways)}]",
                                f"{root}.http[{i}].match[{j}].{field}.{key}",
                            )
                        )


def _sni_routes(vs: VirtualService) -> bool:
    return any(m.sni_hosts for tls in vs.tls for m in tls.match)


def _hosts(vs: VirtualService, root: str, out: Found, *, to_gateway: bool) -> None:
    all_valid = True
    for i, h in enumerate(vs.hosts):
        path = f"{root}.hosts[{i}]"
        if to_gateway:
            problem = hosts.gateway_bound_domain_error(h, sni=_sni_routes(vs))
        else:
            problem = hosts.wildcard_domain_error(h)
        if problem is not None:
            if not hosts.is_ip(h):
                out.append(violation("MZ2004", problem, path))
                all_valid = False
        elif not to_gateway and h == "*":
            out.append(
                violation(
                    "MZ2107", "wildcard host * is not allowed for virtual services bound to the mesh gateway", path
                )
            )
            all_valid = False
    if not all_valid:
        return
    for i, a in enumerate(vs.hosts):
        for b in vs.hosts[i + 1 :]:
            if hosts_intersect(a, b):
                out.append(violation("MZ2108", f"duplicate hosts in virtual service: {a} & {b}", f"{root}.hosts"))


def _tls_route(tls: TLSRoute, vs: VirtualService, path: str, out: Found) -> None:
    if not tls.match:
        out.append(violation("MZ2114", "TLS route must have at least one match condition", path))
    for i, m in enumerate(tls.match):
        _tls_match(m, vs, f"{path}.match[{i}]", out)
    if not tls.route:
        out.append(violation("MZ2116", "TLS route is required", path))
    route_destinations(tls.route, path, out)


def _tls_match(m: TLSMatchAttributes, vs: VirtualService, path: str, out: Found) -> None:
    for j, sni in enumerate(m.sni_hosts):
        _sni_host(sni, vs, f"{path}.sniHosts[{j}]", out)
    _l4_match(m, path, out)


def _sni_host(sni: str, vs: VirtualService, path: str, out: Found) -> None:
    if MESH not in vs.gateways:
        problem = hosts.gateway_bound_domain_error(sni, sni=True)
    else:
        problem = hosts.wildcard_domain_error(sni)
    if problem is not None:
        if hosts.is_ip(sni):
            common.warn(
                f'using an IP address ("{sni}") goes against SNI spec and most clients do not support this', path, out
            )
        else:
            out.append(violation("MZ2004", problem, path))
        return
    if not any(hosts.host_subset_of(sni, h) for h in vs.hosts):
        out.append(
            violation(
                "MZ2114",
                f'SNI host "{sni}" is not a compatible subset of any of the virtual service hosts: '
                f"[{', '.join(vs.hosts)}]",
                path,
            )
        )


def _l4_match(m: L4MatchAttributes | TLSMatchAttributes, path: str, out: Found) -> None:
    common.subnets(m.destination_subnets, f"{path}.destinationSubnets", out)
    if m.port:
        common.port(m.port, f"{path}.port", out)
    common.labels(m.source_labels, f"{path}.sourceLabels", out)
    common.gateway_names(m.gateways, f"{path}.gateways", out)


def _tcp_route(tcp: TCPRoute, path: str, out: Found) -> None:
    for i, m in enumerate(tcp.match):
        _l4_match(m, f"{path}.match[{i}]", out)
    if not tcp.route:
        out.append(violation("MZ2116", "TCP route is required", path))
    route_destinations(tcp.route, path, out)


def route_destinations(routes: Sequence[RouteDestination], path: str, out: Found) -> None:
    """Weighted TCP/TLS destinations."""
    total = 0
    for j, d in enumerate(routes):
        common.destination(d.destination, f"{path}.route[{j}].destination", out)
        weight = d.weight or 0
        if weight < 0:
            out.append(violation("MZ2101", f"weight {weight} < 0", f"{path}.route[{j}].weight"))
        total += weight
    if len(routes) > 1 and total == 0:
        out.append(violation("MZ2102", "total destination weight = 0", f"{path}.route"))


def _reachability(vs: VirtualService, out: Found) -> None:
    for f in reachability.findings(vs):
        if f.unreachable:
            out.append(violation("MZ2118", f"virtualService rule {f.rule} not used ({f.reason})", f.path))
        else:
            out.append(
                violation(
                    "MZ2119",
                    f"virtualService rule {f.rule} match {f.match} is not used (duplicate/overlapping match in rule "
                    f"{f.earlier})",
                    f.path,
                )
            )
