"""VirtualService analyzers: destinations (IST0101, IST0112, IST0140), subsets (IST0101), gateways
(IST0101, IST0132) and hosts shared by several mesh VirtualServices (IST0109)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.hosts import fqdn, hosts_intersect, name_of_host
from mizzen.config.semantics.visibility import export_scopes

from . import messages as m
from .context import MESH_GATEWAY, Context, MeshService, spec_list, spec_map


@dataclass(frozen=True)
class Destination:
    """One ``destination`` of a route or mirror, with the field path of its ``host``."""

    host: str
    subset: str
    port: int | None
    path: str
    mirror: bool


def destinations(vs: Resource) -> Iterator[Destination]:
    """Route destinations of http/tcp/tls rules, then http mirror destinations (Istio's order)."""
    for section in ("http", "tcp", "tls"):
        for i, rule in enumerate(spec_list(vs.spec.get(section))):
            for j, route in enumerate(spec_list(spec_map(rule).get("route"))):
                dest = spec_map(spec_map(route).get("destination"))
                if dest:
                    yield _destination(dest, f"spec.{section}[{i}].route[{j}].destination.host", False)
    for i, rule in enumerate(spec_list(vs.spec.get("http"))):
        mirror = spec_map(spec_map(rule).get("mirror"))
        if mirror:
            yield _destination(mirror, f"spec.http[{i}].mirror.host", True)
        for j, entry in enumerate(spec_list(spec_map(rule).get("mirrors"))):
            dest = spec_map(spec_map(entry).get("destination"))
            if dest:
                yield _destination(dest, f"spec.http[{i}].mirrors[{j}].destination.host", True)


def _destination(dest: Mapping[str, Any], path: str, mirror: bool) -> Destination:
    port = spec_map(dest.get("port")).get("number")
    return Destination(
        str(dest.get("host", "")),
        str(dest.get("subset", "") or ""),
        int(port) if isinstance(port, int) else None,
        path,
        mirror,
    )


def _export_to(r: Resource) -> list[str]:
    return [str(e) for e in spec_list(r.spec.get("exportTo"))]


def analyze_destination_hosts(ctx: Context) -> None:
    """IST0101 host / mirror host / host:port and IST0112 for every VirtualService destination."""
    for vs in ctx.of("VirtualService"):
        for d in destinations(vs):
            svc = ctx.find_service(vs.namespace, _export_to(vs), d.host)
            if svc is None:
                what = "mirror host" if d.mirror else "host"
                ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, what, m.quote(d.host), path=d.path)
            else:
                _check_port(ctx, vs, d, svc)


def _check_port(ctx: Context, vs: Resource, d: Destination, svc: MeshService) -> None:
    numbers = [p.number for p in svc.ports]
    if d.port is None:
        if len(numbers) > 1:
            ctx.report(m.VS_DESTINATION_PORT_SELECTOR_REQUIRED, vs, m.quote(d.host), m.go_list(numbers), path=d.path)
    elif d.port not in numbers:
        ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, "host:port", m.quote(f"{d.host}:{d.port}"), path=d.path)


def analyze_destination_subsets(ctx: Context) -> None:
    """IST0101 ``host+subset in destinationrule``: a routed subset that no DestinationRule defines."""
    defined: set[tuple[str, str, str]] = set()
    for dr in ctx.of("DestinationRule"):
        host = fqdn(str(dr.spec.get("host", "")), dr.namespace)
        ns, name = name_of_host(host, dr.namespace)
        for subset in spec_list(dr.spec.get("subsets")):
            defined.add((ns, name, str(spec_map(subset).get("name", ""))))
    for vs in ctx.of("VirtualService"):
        for d in destinations(vs):
            if not d.subset:
                continue
            ns, name = name_of_host(d.host, vs.namespace)
            if (ns, name, d.subset) not in defined:
                what = "mirror+subset in destinationrule" if d.mirror else "host+subset in destinationrule"
                ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, what, m.quote(f"{d.host}+{d.subset}"), path=d.path)


def _gateway_ref(vs_namespace: str, ref: str) -> tuple[str, str]:
    ns, sep, name = ref.partition("/")
    return (ns, name) if sep else (vs_namespace, ref)


def _gateway_hosts(ctx: Context, namespace: str, name: str, vs_namespace: str) -> list[str]:
    """Server hosts of a Gateway visible to a VirtualService namespace, with ``ns/`` prefixes resolved."""
    out: list[str] = []
    for gw in ctx.of("Gateway"):
        if gw.namespace != namespace or gw.name != name:
            continue
        for server in spec_list(gw.spec.get("servers")):
            for h in spec_list(spec_map(server).get("hosts")):
                scope, sep, host = str(h).partition("/")
                if not sep:
                    out.append(str(h))
                elif scope == "*" or (scope == "." and gw.namespace == vs_namespace) or scope == vs_namespace:
                    out.append(host)
    return out


def analyze_gateways(ctx: Context) -> None:
    """IST0101 ``gateway`` for a missing Gateway and IST0132 for VS hosts that no server of it lists."""
    for vs in ctx.of("VirtualService"):
        vs_hosts = [str(h) for h in spec_list(vs.spec.get("hosts"))]
        for i, ref in enumerate(spec_list(vs.spec.get("gateways"))):
            ref = str(ref)
            if ref == MESH_GATEWAY:
                continue
            ns, name = _gateway_ref(vs.namespace, ref)
            path = f"spec.gateways[{i}]"
            if not ctx.exists("Gateway", ns, name):
                ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, "gateway", m.quote(ref), path=path)
            gw_hosts = _gateway_hosts(ctx, ns, name, vs.namespace)
            if not any(hosts_intersect(g, h) for g in gw_hosts for h in vs_hosts):
                ctx.report(
                    m.VS_HOST_NOT_FOUND_IN_GATEWAY,
                    vs,
                    m.go_list(vs_hosts),
                    f"{vs.namespace}/{vs.name}",
                    f"{ns}/{name}",
                    path=path,
                )


def _bound_to_mesh(vs: Resource) -> bool:
    gateways = [str(g) for g in spec_list(vs.spec.get("gateways"))]
    return not gateways or MESH_GATEWAY in gateways


def analyze_mesh_gateway_hosts(ctx: Context) -> None:
    """IST0109: two VirtualServices bound to ``mesh`` define the same host in an overlapping scope."""
    by_host: dict[str, list[Resource]] = {}
    for vs in ctx.of("VirtualService"):
        if not _bound_to_mesh(vs):
            continue
        for scope in sorted(export_scopes(_export_to(vs), vs.namespace)):
            for h in spec_list(vs.spec.get("hosts")):
                by_host.setdefault(f"{scope}/{fqdn(str(h), vs.namespace)}", []).append(vs)
    for scoped, group in by_host.items():
        if len(group) < 2:
            continue
        names = ",".join(f"{r.namespace}/{r.name}" for r in group)
        for vs in group:
            ctx.report(m.CONFLICTING_MESH_GATEWAY_VS_HOSTS, vs, names, scoped, path="metadata.name")


def analyze_ingress_subsets(ctx: Context) -> None:
    """IST0140: a gateway-bound VS routes to a host without subset while another VS splits it by subset."""
    with_subsets: list[tuple[Resource, list[str]]] = []
    for vs in ctx.of("VirtualService"):
        hosts = {str(h) for h in spec_list(vs.spec.get("hosts"))}
        routed = [
            d.host
            for d in destinations(vs)
            if not d.mirror and d.path.startswith("spec.http") and d.subset and d.host in hosts
        ]
        if routed:
            with_subsets.append((vs, routed))
    for vs in ctx.of("VirtualService"):
        if not spec_list(vs.spec.get("gateways")):
            continue
        for d in destinations(vs):
            if d.mirror or d.subset or not d.path.startswith("spec.http"):
                continue
            for other, routed in with_subsets:
                for host in routed:
                    if host == d.host:
                        ctx.report(
                            m.INGRESS_ROUTE_RULES_NOT_AFFECTED,
                            vs,
                            f"{other.namespace}/{other.name}",
                            f"{vs.namespace}/{vs.name}",
                            path=d.path,
                        )
