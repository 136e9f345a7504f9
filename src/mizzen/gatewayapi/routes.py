"""Routes to VirtualServices (Istio's ``HTTPRouteCollection`` … ``TLSRouteCollection``): each route is
converted once for gateway parents and once for mesh parents, then one VirtualService is built per
parent and hostname. HTTP and gRPC VirtualServices with the same key (parent and host) are merged
across routes, oldest first, and their rules re-sorted by the Gateway API's precedence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from mizzen.config import internal
from mizzen.config.models.gateway_api_routes import (
    GRPCRoute,
    HTTPRoute,
    L4RouteRule,
    ParentReference,
    TCPRoute,
    TLSRoute,
)
from mizzen.config.resource import Metadata, Resource
from mizzen.config.schema import build
from mizzen.gatewayapi import backends, hosts, http
from mizzen.gatewayapi.conditions import route_status
from mizzen.gatewayapi.context import Context
from mizzen.gatewayapi.model import GENERATED, ConfigError, Converted, JSONDict, RouteParent
from mizzen.gatewayapi.parents import Parents, route_parents

RuleConverter = Callable[[bool], Iterator[tuple[JSONDict | None, ConfigError | None]]]


@dataclass
class RouteResult:
    """What one route contributes: keyed HTTP VirtualServices (merged later), finished ones, status,
    and the Gateway listeners it is attached to."""

    keyed: list[tuple[str, Resource]] = field(default_factory=list)
    virtual_services: list[Resource] = field(default_factory=list)
    status: JSONDict = field(default_factory=dict)
    attached: list[tuple[str, str, str]] = field(default_factory=list)  # (gateway ns, name, listener)


def convert_route(ctx: Context, parents: Parents, gateways: dict[tuple[str, str], str], route: Resource) -> RouteResult:
    """The VirtualServices and status of one HTTPRoute, GRPCRoute, TCPRoute or TLSRoute."""
    spec = build(_MODELS[route.kind], route.spec)
    hostnames: tuple[str, ...] = getattr(spec, "hostnames", ())
    rps = route_parents(ctx, parents, gateways, route.kind, spec.parent_refs, hostnames, route.namespace)
    results = {
        mesh: _convert_rules(_rule_converter(ctx, route, spec, mesh))
        for mesh in (True, False)
        if any(p.info is not None and p.is_mesh == mesh for p in rps)
    }
    out = RouteResult(status=route_status(rps, {m: r.error for m, r in results.items()}, route.namespace, _gen(route)))
    bound = sorted((p for p in rps if p.denied is None and p.info is not None), key=lambda p: p.internal_name)
    for p in bound:
        if p.parent_kind == "KubernetesGateway" and p.info is not None:
            ns, _, _ = p.info.internal_name.partition("/")
            out.attached.append((ns, p.original.name, p.info.section_name))
    builder = _BUILDERS[route.kind]
    builder(ctx, route, spec, bound, results, out)
    return out


def _gen(route: Resource) -> int:
    return route.metadata.generation or 1


_MODELS: dict[str, type] = {"HTTPRoute": HTTPRoute, "GRPCRoute": GRPCRoute, "TCPRoute": TCPRoute, "TLSRoute": TLSRoute}


def _rule_converter(
    ctx: Context, route: Resource, spec: object, mesh: bool
) -> Iterator[tuple[JSONDict | None, ConfigError | None]]:
    if isinstance(spec, HTTPRoute):
        for n, rule in enumerate(spec.rules):
            for m in rule.matches or (None,):
                yield http.http_rule(ctx, route, rule, m, n, mesh)
    elif isinstance(spec, GRPCRoute):
        for n, grule in enumerate(spec.rules):
            for gm in grule.matches or (None,):
                yield http.grpc_rule(ctx, route, grule, gm, n, mesh)
    elif isinstance(spec, TCPRoute | TLSRoute):
        for rule4 in spec.rules:
            yield _l4_rule(ctx, route, rule4, spec, mesh)


def _convert_rules(rules: Iterator[tuple[JSONDict | None, ConfigError | None]]) -> Converted:
    out = Converted()
    for route, error in rules:
        if route is None:  # a hard error: the route programs nothing for this kind of parent
            return Converted(error=error)
        if error is not None:
            out.error = error
        out.routes.append(route)
    return out


def _l4_rule(
    ctx: Context, route: Resource, rule: L4RouteRule, spec: TCPRoute | TLSRoute, mesh: bool
) -> tuple[JSONDict | None, ConfigError | None]:
    out: JSONDict = {}
    if isinstance(spec, TLSRoute):
        out["match"] = [{"sniHosts": list(spec.hostnames) or ["*"]}]
    if backends.weight_sum(rule.backend_refs) == 0:
        # Connections must be refused; Istio points them at a cluster that does not exist.
        zero = {"host": "internal.cluster.local", "subset": "zero-weight", "port": {"number": 65535}}
        out["route"] = [{"destination": zero}]
        return out, None
    dests: list[JSONDict] = []
    soft: ConfigError | None = None
    for ref, weight in backends.weights(rule.backend_refs):
        dest, error = backends.destination(ctx, ref, route.namespace, route.kind, not mesh)
        if dest is None or (error is not None and not backends.is_soft(error)):
            return None, error
        soft = error or soft
        dests.append({"destination": dest, **({"weight": weight} if weight else {})})
    out["route"] = dests
    return out, soft


def _meta(route: Resource, name: str) -> Metadata:
    return Metadata(
        name=name,
        namespace=route.namespace,
        annotations={
            internal.PARENTS: f"{route.kind}/{route.name}.{route.namespace}",
            internal.ROUTE_SEMANTICS: "gateway",
        },
        creation_timestamp=route.metadata.creation_timestamp,
    )


def virtual_service(meta: Metadata, host: str, gateway: str, key: str, rules: list[JSONDict]) -> Resource:
    """An Istio VirtualService for one host on one parent."""
    return Resource(
        "networking.istio.io/v1", "VirtualService", meta, {"hosts": [host], "gateways": [gateway], key: rules}
    )


def _mesh_hosts(ctx: Context, ref: ParentReference, kind: str, namespace: str) -> list[str]:
    ns = ref.namespace or namespace
    if kind == "ServiceEntry":
        se = ctx.service_entries.get((ns, ref.name))
        return [str(h) for h in se.spec.get("hosts", ())] if se is not None else []
    return [ctx.service_host(ref.name, ns)]


def _http_vs(
    ctx: Context,
    route: Resource,
    spec: object,
    bound: Sequence[RouteParent],
    results: dict[bool, Converted],
    out: RouteResult,
) -> None:
    count = 0
    for p in bound:
        routes = results[p.is_mesh].routes
        key, vs_hosts = p.internal_name, list(getattr(spec, "hostnames", ())) or ["*"]
        if p.is_mesh:
            key = route.namespace
            if p.original.port:
                routes = _with_port(routes, p.original.port)
                key += f"/{p.original.port}"
            vs_hosts = _mesh_hosts(ctx, p.original, p.parent_kind, route.namespace)
        if not routes:
            continue
        for h in vs_hosts:
            if not _allowed_by_isolation(p, h):
                continue
            meta = _meta(route, f"{route.name}~{count}~{GENERATED}")
            out.keyed.append((f"{key}/{h}", virtual_service(meta, h, p.internal_name, "http", sort_http(routes))))
            count += 1


def _with_port(routes: list[JSONDict], port: int) -> list[JSONDict]:
    out = []
    for r in routes:
        matches = [{**m, "port": port} for m in r.get("match", ())] or [{"port": port}]
        out.append({**r, "match": matches})
    return out


def _allowed_by_isolation(p: RouteParent, route_host: str) -> bool:
    """A route host that a more specific listener on the same port claims is not bound to this one."""
    ours = p.info.original_hostname if p.info else ""
    if ours and not ours.startswith("*"):
        return True
    if ours and not hosts.matches(route_host, ours):
        return False
    return all(len(ours) > len(other) or not hosts.subset_of(route_host, other) for other in p.banned_hostnames)


def _tcp_vs(
    ctx: Context,
    route: Resource,
    spec: object,
    bound: Sequence[RouteParent],
    results: dict[bool, Converted],
    out: RouteResult,
) -> None:
    count = 0
    for p in bound:
        routes, vs_hosts = results[p.is_mesh].routes, ["*"]
        if p.is_mesh:
            if p.original.port:
                routes = _with_port(routes, p.original.port)
            vs_hosts = _mesh_hosts(ctx, p.original, p.parent_kind, route.namespace)
        for h in vs_hosts:
            meta = _meta(route, f"{route.name}~tcp~{count}~{GENERATED}")
            out.virtual_services.append(virtual_service(meta, h, p.internal_name, "tcp", routes))
            count += 1


def _tls_vs(
    ctx: Context,
    route: Resource,
    spec: object,
    bound: Sequence[RouteParent],
    results: dict[bool, Converted],
    out: RouteResult,
) -> None:
    count = 0
    hostnames = list(getattr(spec, "hostnames", ())) or ["*"]
    for p in bound:
        routes, vs_hosts = results[p.is_mesh].routes, hostnames
        listener = p.info.original_hostname if p.info else ""
        if p.is_mesh:
            vs_hosts = _mesh_hosts(ctx, p.original, p.parent_kind, route.namespace)
            routes = _tls_mesh_routes(routes, p.original.port, vs_hosts)
        elif listener:
            vs_hosts = hosts.intersection(vs_hosts, [listener])
            routes = _constrain_sni(routes, listener)
        for h in vs_hosts:
            rules = _compatible_sni(routes, h) if p.is_mesh else routes
            meta = _meta(route, f"{route.name}~tls~{count}~{GENERATED}")
            out.virtual_services.append(virtual_service(meta, h, p.internal_name, "tls", rules))
            count += 1


def _tls_mesh_routes(routes: list[JSONDict], port: int | None, parent_hosts: list[str]) -> list[JSONDict]:
    out = []
    for r in routes:
        matches = []
        for m in r.get("match", ()):
            m = dict(m)
            if m.get("sniHosts") == ["*"] and len(r["match"]) == 1:
                m["sniHosts"] = list(parent_hosts)  # mesh TLS without hostnames matches the Service's own
            if port:
                m["port"] = port
            matches.append(m)
        out.append({**r, "match": matches})
    return out


def _compatible_sni(routes: list[JSONDict], parent_host: str) -> list[JSONDict]:
    out = []
    for r in routes:
        matches = r.get("match", [])
        if len(matches) == 1 and len(matches[0].get("sniHosts", [])) > 1:
            sni = [h for h in matches[0]["sniHosts"] if hosts.matches(parent_host, h)]
            r = {**r, "match": [{**matches[0], "sniHosts": sni}]}
        out.append(r)
    return out


def _constrain_sni(routes: list[JSONDict], listener: str) -> list[JSONDict]:
    out = []
    for r in routes:
        matches = [{**m, "sniHosts": hosts.intersection(m.get("sniHosts", []), [listener])} for m in r.get("match", [])]
        if not matches or any(m["sniHosts"] for m in matches):
            out.append({**r, "match": matches} if matches else r)
    return out


_BUILDERS = {"HTTPRoute": _http_vs, "GRPCRoute": _http_vs, "TCPRoute": _tcp_vs, "TLSRoute": _tls_vs}


def _uri_rank(m: JSONDict) -> tuple[int, int]:
    uri = m.get("uri")
    if not uri:
        return -1, 0
    for rank, key in ((3, "exact"), (2, "prefix"), (1, "regex")):
        if key in uri:
            return rank, len(uri[key])
    return -1, 0


def sort_http(routes: list[JSONDict]) -> list[JSONDict]:
    """The Gateway API's precedence: exact > prefix (longer first) > regex, then method, then the
    number of header and query matches; a rule without matches last. Stable otherwise."""

    def key(r: JSONDict) -> tuple[int, ...]:
        if not r.get("match"):
            return (1, 0, 0, 0, 0, 0)
        m = r["match"][0]
        rank, length = _uri_rank(m)
        return (
            0,
            -rank,
            -length,
            0 if "method" in m else 1,
            -len(m.get("headers", {})),
            -len(m.get("queryParams", {})),
        )

    return sorted(routes, key=key)


def merge(keyed: list[tuple[str, Resource]]) -> list[Resource]:
    """One VirtualService per key (parent and host): the oldest route's, with every route's rules."""
    by_key: dict[str, list[Resource]] = {}
    for key, vs in keyed:
        by_key.setdefault(key, []).append(vs)
    out = []
    for key, vss in by_key.items():
        vss.sort(key=lambda v: (v.metadata.creation_timestamp, v.namespace, v.name))
        base = vss[0]
        rules = [r for v in vss for r in v.spec["http"]]
        parents = ",".join(v.metadata.annotations[internal.PARENTS] for v in vss)
        meta = Metadata(
            name=key.replace("/", "~"),
            namespace=base.namespace,
            annotations={**base.metadata.annotations, internal.PARENTS: parents},
            creation_timestamp=base.metadata.creation_timestamp,
        )
        out.append(
            Resource(
                base.api_version, base.kind, meta, {**base.spec, "http": sort_http(rules) if len(vss) > 1 else rules}
            )
        )
    return out
