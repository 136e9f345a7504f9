"""``virtualservice.DestinationHostAnalyzer`` (IST0101 host/mirror host/host:port, IST0112, IST0140) and
``virtualservice.DestinationRuleAnalyzer`` (IST0101 host+subset)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.hosts import fqdn, name_of_host

from . import messages as m
from .context import Context, MeshService, spec_list, spec_map


@dataclass(frozen=True)
class Destination:
    """One ``destination`` of a route or mirror (possibly empty), with the field path of its ``host``."""

    host: str
    subset: str
    port: int | None
    path: str
    mirror: bool


def _destination(dest: Mapping[str, Any], path: str, mirror: bool) -> Destination:
    port: int | None = None
    if isinstance(dest.get("port"), Mapping):
        number = dest["port"].get("number")
        port = number if isinstance(number, int) and not isinstance(number, bool) else 0
    return Destination(str(dest.get("host") or ""), str(dest.get("subset") or ""), port, path, mirror)


def destinations(vs: Resource) -> Iterator[Destination]:
    """Route destinations of tcp, tls then http rules, then http mirror destinations (Istio's order)."""
    for section in ("tcp", "tls", "http"):
        for i, rule in enumerate(spec_list(vs.spec.get(section))):
            for j, route in enumerate(spec_list(spec_map(rule).get("route"))):
                dest = spec_map(spec_map(route).get("destination"))
                yield _destination(dest, f"spec.{section}[{i}].route[{j}].destination.host", False)
    for i, rule in enumerate(spec_list(vs.spec.get("http"))):
        rule = spec_map(rule)
        if isinstance(rule.get("mirror"), Mapping):
            yield _destination(rule["mirror"], f"spec.http[{i}].mirror.host", True)
        for j, entry in enumerate(spec_list(rule.get("mirrors"))):
            dest = spec_map(spec_map(entry).get("destination"))
            yield _destination(dest, f"spec.http[{i}].mirrors[{j}].destination.host", True)


def export_to(r: Resource) -> list[str]:
    """A resource's ``exportTo`` entries."""
    return [str(e) for e in spec_list(r.spec.get("exportTo"))]


def analyze_destination_hosts(ctx: Context) -> None:
    """IST0101 for unknown hosts, IST0112 / IST0101 host:port for ports, IST0140 for ingress subsets."""
    with_subsets = _routes_with_subsets(ctx)
    for vs in ctx.of("VirtualService"):
        for d in destinations(vs):
            svc = ctx.find_service(vs.namespace, export_to(vs), d.host)
            if svc is None:
                what = "mirror host" if d.mirror else "host"
                ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, what, m.quote(d.host), path=d.path)
            else:
                _check_port(ctx, vs, d, svc)
        _ingress_subsets(ctx, vs, with_subsets)


def _check_port(ctx: Context, vs: Resource, d: Destination, svc: MeshService) -> None:
    numbers = [p.number for p in svc.ports]
    if d.port is None:
        if len(numbers) > 1:
            ctx.report(m.VS_DESTINATION_PORT_SELECTOR_REQUIRED, vs, m.quote(d.host), m.go_list(numbers), path=d.path)
    elif d.port not in numbers:
        ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, "host:port", m.quote(f"{d.host}:{d.port}"), path=d.path)


def _routes_with_subsets(ctx: Context) -> list[tuple[Resource, list[str]]]:
    """VirtualServices routing one of their own hosts to a subset, with those destination hosts."""
    out: list[tuple[Resource, list[str]]] = []
    for vs in ctx.of("VirtualService"):
        hosts = [str(h) for h in spec_list(vs.spec.get("hosts"))]
        routed = [d.host for d in _http_routes(vs) if d.subset for h in hosts if d.host == h]
        if routed:
            out.append((vs, routed))
    return out


def _http_routes(vs: Resource) -> Iterator[Destination]:
    return (d for d in destinations(vs) if not d.mirror and d.path.startswith("spec.http"))


def _ingress_subsets(ctx: Context, vs: Resource, with_subsets: list[tuple[Resource, list[str]]]) -> None:
    """IST0140: a gateway-bound route without subset to a host that another rule splits by subset."""
    if not spec_list(vs.spec.get("gateways")):
        return
    for d in _http_routes(vs):
        if d.subset:
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


def analyze_destination_subsets(ctx: Context) -> None:
    """IST0101 ``host+subset in destinationrule``: a routed subset that no DestinationRule defines."""
    defined: set[tuple[str, str, str]] = set()
    for dr in ctx.of("DestinationRule"):
        ns, name = name_of_host(fqdn(str(dr.spec.get("host") or ""), dr.namespace), dr.namespace)
        for subset in spec_list(dr.spec.get("subsets")):
            defined.add((ns, name, str(spec_map(subset).get("name") or "")))
    for vs in ctx.of("VirtualService"):
        for d in destinations(vs):
            if not d.subset:
                continue
            ns, name = name_of_host(fqdn(d.host, vs.namespace), vs.namespace)
            if (ns, name, d.subset) not in defined:
                what = "mirror+subset in destinationrule" if d.mirror else "host+subset in destinationrule"
                ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, vs, what, m.quote(f"{d.host}+{d.subset}"), path=d.path)
