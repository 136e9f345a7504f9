"""VirtualService HTTP rules -> Envoy routes (one route per match entry, first-match order).

Generation-time filters (Istio decides these while building, not in Envoy): ``match.port`` against the
port being built, ``sourceLabels``/``sourceNamespace`` against the proxy, ``match.gateways`` against
``mesh`` or the gateways being built. Routes stop after the first catch-all.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from mizzen.config import internal
from mizzen.config.models import Typed, VirtualService
from mizzen.config.models.common import Destination
from mizzen.config.models.virtual_service import (
    HTTPDirectResponse,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
    RegexRewrite,
)
from mizzen.config.semantics.hosts import resolve
from mizzen.config.semantics.ports import destination_port
from mizzen.config.semantics.selectors import SOURCE_LABELS, selects
from mizzen.translate import names
from mizzen.translate.common import ALL, Fraction, JSONDict, percent, proto_duration
from mizzen.translate.delegation import Rule, flatten
from mizzen.translate.match import is_catch_all, route_match
from mizzen.translate.policies import cors, fault, headers, retry, traffic
from mizzen.translate.scope import Scope

_REDIRECT_CODES = {
    301: "MOVED_PERMANENTLY",
    302: "FOUND",
    303: "SEE_OTHER",
    307: "TEMPORARY_REDIRECT",
    308: "PERMANENT_REDIRECT",
}


@dataclass(frozen=True)
class RouteContext:
    """Where routes are being built: the port, and ``None`` (sidecar, ``mesh``) or gateway refs."""

    scope: Scope
    port: int
    gateways: frozenset[str] | None = None  # "ns/name" refs of the gateways being built


@dataclass(frozen=True)
class ClusterRef:
    """The outbound cluster a destination resolves to; its Envoy name is built from it, never parsed."""

    port: int
    subset: str
    host: str

    @property
    def name(self) -> str:
        """Istio's ``outbound|<port>|<subset>|<host>``."""
        return names.outbound_cluster(self.port, self.subset, self.host)


@dataclass(frozen=True)
class EnvoyRoute:
    """One built Envoy route and whether its match takes every request (later routes are unreachable)."""

    json: JSONDict
    catch_all: bool


class GenerationMatch(Protocol):
    """The match fields decided at generation time, common to HTTP, TCP and TLS matches."""

    @property
    def port(self) -> int | None:
        """The match's ``port`` (None: any port)."""
        ...

    @property
    def source_labels(self) -> Mapping[str, str]:
        """The match's ``sourceLabels`` (empty: any source)."""
        ...

    @property
    def source_namespace(self) -> str | None:
        """The match's ``sourceNamespace`` (None: any)."""
        ...

    @property
    def gateways(self) -> tuple[str, ...]:
        """The match's ``gateways`` (empty: the VirtualService's own)."""
        ...


def default_route(scope: Scope, host: str, port: int) -> JSONDict:
    """Istio's route for a service without a VirtualService."""
    action: JSONDict = {"cluster": names.outbound_cluster(port, "", host), "timeout": "0s"}
    hashing = _apply_hash_policy(scope, ClusterRef(port, "", host), action)
    action["retry_policy"] = retry.default_retry_policy(hashing)
    return {
        "name": names.DEFAULT_ROUTE,
        "match": {"prefix": "/"},
        "route": action,
        "decorator": {"operation": f"{host}:{port}/*"},
    }


def http_routes(ctx: RouteContext, vs: Typed[VirtualService]) -> list[EnvoyRoute]:
    """All Envoy routes of one VirtualService for the context, stopping after a catch-all."""
    out: list[EnvoyRoute] = []
    for rule in flatten(ctx.scope, vs):
        for route in _rule_routes(ctx, rule):
            out.append(route)
            if route.catch_all:
                return out
    return out


def _rule_routes(ctx: RouteContext, rule: Rule) -> list[EnvoyRoute]:
    applicable = [m for m in (rule.route.match or (HTTPMatchRequest(),)) if applies(ctx, rule.vs, m)]
    if not applicable:
        return []
    base = _rule_body(ctx, rule)
    if base is None:
        return []
    gateway_api = internal.gateway_semantics(rule.vs.metadata.annotations)
    out = []
    for m in applicable:
        route: JSONDict = {}
        name = ".".join(n for n in (rule.route.name, m.name) if n)
        if name:
            route["name"] = name
        route["match"] = route_match(m, gateway_api)
        route.update(_strip_prefix(base, route["match"]) if gateway_api else base)
        if m.stat_prefix:
            route["stat_prefix"] = m.stat_prefix
        out.append(EnvoyRoute(route, is_catch_all(m)))
    return out


def _strip_prefix(body: JSONDict, match: object) -> JSONDict:
    """Gateway API ``ReplacePrefixMatch: /`` removes the matched prefix (Istio's regex rewrite)."""
    action = body.get("route")
    if not isinstance(action, dict) or action.get("prefix_rewrite") != "/" or not isinstance(match, dict):
        return body
    prefix = internal.quote_meta(str(match.get("path_separated_prefix", "")))
    rewrite = {"pattern": {"regex": f"^{prefix}(/?)(.*)"}, "substitution": "/\\2"}
    stripped = {k: v for k, v in action.items() if k != "prefix_rewrite"}
    return {**body, "route": {**stripped, "regex_rewrite": rewrite}}


def applies(ctx: RouteContext, vs: Typed[VirtualService], m: GenerationMatch) -> bool:
    """Generation-time match: port, sourceLabels (sidecars only), sourceNamespace, gateways."""
    if m.port and m.port != ctx.port:
        return False
    proxy = ctx.scope.proxy
    if ctx.gateways is None and not selects(SOURCE_LABELS, m.source_labels, proxy.labels):
        return False
    if m.source_namespace and m.source_namespace != proxy.namespace:
        return False
    if m.gateways:
        if ctx.gateways is None:
            return "mesh" in m.gateways
        return any(gateway_ref(g, vs.namespace) in ctx.gateways for g in m.gateways)
    return True


def gateway_ref(ref: str, namespace: str) -> str:
    """``name`` or ``ns/name`` (or ``name.ns`` as older Istio allowed) -> ``ns/name``."""
    if "/" in ref:
        return ref
    if "." in ref:
        name, _, ns = ref.partition(".")
        return f"{ns}/{name}"
    return f"{namespace}/{ref}"


@dataclass(frozen=True)
class _RouteAction:
    """A forwarding action, the header ops of its (single) destination, and that destination."""

    json: JSONDict
    headers: headers.HeaderOps
    single: ClusterRef | None


def _rule_body(ctx: RouteContext, rule: Rule) -> JSONDict | None:
    spec, vs = rule.route, rule.vs
    body: JSONDict = {}
    ops = headers.header_ops(spec.headers)
    single: ClusterRef | None = None
    if spec.redirect is not None:
        redirect = _redirect(spec.redirect, ctx.port)
        if redirect is None:
            return None
        body["redirect"] = redirect
    elif spec.direct_response is not None:
        direct = _direct_response(spec.direct_response)
        if direct is None:
            return None
        body["direct_response"] = direct
    else:
        action = _route_action(ctx, spec, vs)
        if action is None:
            return None
        ops = ops.then(action.headers)
        rewrites_authority = spec.rewrite is not None and bool(spec.rewrite.authority)
        if ops.authority and not rewrites_authority:
            action.json["host_rewrite_literal"] = ops.authority
        body["route"] = action.json
        single = action.single
    body.update(ops.json())
    body["metadata"] = names.istio_metadata(config=names.config_path("VirtualService", vs.namespace, vs.name))
    per_filter: JSONDict = {}
    fault_cfg = fault.fault_config(spec.fault) if spec.fault is not None else None
    if fault_cfg is not None:
        per_filter[names.FAULT] = fault_cfg
    if spec.cors_policy is not None:
        per_filter[names.CORS] = cors.cors_policy(spec.cors_policy)
    if per_filter:
        body["typed_per_filter_config"] = per_filter
    operation = f"{single.host}:{single.port}/*" if single is not None else f"{vs.name}:{ctx.port}/*"
    body["decorator"] = {"operation": operation}
    return body


@dataclass(frozen=True)
class _Pick:
    """One destination kept for a route, with the cluster it resolved to and its weight."""

    dest: HTTPRouteDestination
    cluster: ClusterRef
    weight: int


def _route_action(ctx: RouteContext, spec: HTTPRoute, vs: Typed[VirtualService]) -> _RouteAction | None:
    if not spec.route:
        return None
    resolved = [(d, destination(ctx, d.destination, vs.namespace)) for d in spec.route]
    if len(resolved) > 1:
        kept = [_Pick(d, c, d.weight or 0) for d, c in resolved if (d.weight or 0) > 0]
        if not kept:  # validation rejects an all-zero split; share evenly rather than crash
            kept = [_Pick(d, c, 1) for d, c in resolved]
    else:
        kept = [_Pick(resolved[0][0], resolved[0][1], 100)]
    action: JSONDict = {}
    dest_ops = headers.HeaderOps()
    single = kept[0].cluster if len(kept) == 1 else None
    if single is not None:
        action["cluster"] = single.name
        dest_ops = headers.header_ops(kept[0].dest.headers)
    else:
        action["weighted_clusters"] = {"clusters": [_cluster_weight(p) for p in kept]}
    action["timeout"] = proto_duration(spec.timeout) or "0s"
    if internal.gateway_semantics(vs.metadata.annotations):
        # The Gateway API answers 500 for a backend that does not exist (Istio does the same).
        action["cluster_not_found_response_code"] = "INTERNAL_SERVER_ERROR"
    hashing = single is not None and _apply_hash_policy(ctx.scope, single, action)
    policy = retry.retry_policy(spec.retries, hashing)
    if policy is not None:
        action["retry_policy"] = policy
    _apply_rewrite(action, spec.rewrite)
    mirrors = _mirror_policies(ctx, spec, vs.namespace)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    return _RouteAction(action, dest_ops, single)


def _cluster_weight(pick: _Pick) -> JSONDict:
    out: JSONDict = {"name": pick.cluster.name, "weight": pick.weight}
    out.update(headers.header_ops(pick.dest.headers).json(with_authority=True))
    return out


def destination(ctx: RouteContext, dest: Destination | None, namespace: str) -> ClusterRef:
    """The cluster of an Istio ``Destination``.

    Port: explicit ``port.number``, else the service's only port, else the port being built. An
    unknown host or subset still yields a cluster name: Envoy answers 503 (no cluster), like Istio.
    """
    dest = dest or Destination()
    scope = ctx.scope
    host = resolve(dest.host, namespace, scope.known_hosts)
    svc = scope.service(host)
    explicit = dest.port.number if dest.port is not None else None
    port = destination_port(explicit, [p.number for p in svc.ports] if svc is not None else None, ctx.port)
    return ClusterRef(port, dest.subset or "", host)


def _apply_hash_policy(scope: Scope, cluster: ClusterRef, action: JSONDict) -> bool:
    """Add the route-side hash policy when the destination (subset) load-balances by consistent hash."""
    policy = scope.destination_policy(cluster.host)
    subset = policy.subset(cluster.subset) if cluster.subset else None
    block = traffic.effective_policy(policy.traffic_policy, subset, cluster.port)
    hp = traffic.hash_policy(block.load_balancer)
    if hp:
        action["hash_policy"] = hp
    return bool(hp)


def _apply_rewrite(action: JSONDict, rewrite: HTTPRewrite | None) -> None:
    if rewrite is None:
        return
    if rewrite.uri is not None:
        action["prefix_rewrite"] = rewrite.uri
    regex = rewrite.uri_regex_rewrite
    if regex is not None and regex != RegexRewrite():
        action["regex_rewrite"] = {"pattern": {"regex": regex.match or ""}, "substitution": regex.rewrite or ""}
    if rewrite.authority:
        action["host_rewrite_literal"] = rewrite.authority


def _mirror_policies(ctx: RouteContext, spec: HTTPRoute, namespace: str) -> list[JSONDict]:
    mirrors: list[tuple[Destination | None, Fraction]] = []
    if spec.mirror is not None:
        if spec.mirror_percentage is not None:
            fraction = percent(spec.mirror_percentage)
        elif spec.mirror_percent is not None:
            fraction = percent(None, spec.mirror_percent)
        else:
            fraction = ALL
        mirrors.append((spec.mirror, fraction))
    mirrors += [(m.destination, percent(m.percentage) if m.percentage is not None else ALL) for m in spec.mirrors]
    return [
        {
            "cluster": destination(ctx, dest, namespace).name,
            "runtime_fraction": {"default_value": fraction.json()},
            "trace_sampled": False,
        }
        for dest, fraction in mirrors
        if fraction.numerator > 0
    ]


def _redirect(spec: HTTPRedirect, request_port: int) -> JSONDict | None:
    code = spec.redirect_code if spec.redirect_code is not None else 301
    if code not in _REDIRECT_CODES:
        return None  # Istio drops the action for codes Envoy cannot express
    out: JSONDict = {}
    if spec.uri is not None:
        out["path_redirect"] = spec.uri
    elif spec.prefix_rewrite is not None:
        out["prefix_rewrite"] = spec.prefix_rewrite
    if spec.authority:
        out["host_redirect"] = spec.authority
    scheme = spec.scheme or ""
    if scheme:
        out["scheme_redirect"] = scheme
    if spec.port:
        out["port_redirect"] = spec.port
    elif spec.derive_port == "FROM_PROTOCOL_DEFAULT":
        out["port_redirect"] = 443 if scheme == "https" else 80
    elif spec.derive_port == "FROM_REQUEST_PORT":
        # Envoy cannot copy the port from the request, but routes are built per request port (as Istio
        # does); without it a new authority would lose the port.
        out["port_redirect"] = request_port
    out["response_code"] = _REDIRECT_CODES[code]
    return out


def _direct_response(spec: HTTPDirectResponse) -> JSONDict | None:
    if not 200 <= spec.status < 600:
        return None  # Envoy only sends 2xx-5xx; Istio's validation rejects the rest
    out: JSONDict = {"status": spec.status}
    body = spec.body
    if body is not None and body.string is not None:
        out["body"] = {"inline_string": body.string}
    elif body is not None and body.bytes is not None:
        out["body"] = {"inline_bytes": _base64(body.bytes)}
    return out


def _base64(text: str) -> str:
    """Istio's ``body.bytes`` is base64 text; anything else is encoded as the UTF-8 of its text."""
    try:
        base64.b64decode(text, validate=True)
        return text
    except ValueError:
        return base64.b64encode(text.encode()).decode()
