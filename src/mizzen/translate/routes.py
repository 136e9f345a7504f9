"""VirtualService HTTP rules -> Envoy routes (one route per match entry, first-match order).

Generation-time filters (Istio decides these while building, not in Envoy): ``match.port`` against the
port being built, ``sourceLabels``/``sourceNamespace`` against the proxy, ``match.gateways`` against
``mesh`` or the gateways being built. Routes stop after the first catch-all.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mizzen.config.resource import Resource
from mizzen.translate import names
from mizzen.translate.common import JSONDict, as_int, as_list, as_map, duration, labels_match, percent_of
from mizzen.translate.hosts import resolve
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
class Rule:
    """One HTTP rule with the VirtualService it came from (delegates keep their own namespace)."""

    spec: Mapping[str, Any]
    vs: Resource


def default_route(scope: Scope, host: str, port: int) -> JSONDict:
    """Istio's route for a service without a VirtualService."""
    action: JSONDict = {"cluster": names.outbound_cluster(port, "", host), "timeout": "0s"}
    hashing = _apply_hash_policy(scope, host, port, action)
    action["retry_policy"] = retry.default_retry_policy(hashing)
    return {
        "name": names.DEFAULT_ROUTE,
        "match": {"prefix": "/"},
        "route": action,
        "decorator": {"operation": f"{host}:{port}/*"},
    }


def http_routes(ctx: RouteContext, vs: Resource) -> list[JSONDict]:
    """All Envoy routes of one VirtualService for the context, stopping after a catch-all."""
    out: list[JSONDict] = []
    for rule in flatten(ctx.scope, vs):
        for route in _rule_routes(ctx, rule):
            out.append(route)
            if is_catch_all(route["match"]):
                return out
    return out


def flatten(scope: Scope, vs: Resource) -> Iterator[Rule]:
    """The VS's rules with ``delegate`` rules replaced by the delegate's rules (matches merged)."""
    for spec in as_list(vs.spec.get("http")):
        spec = as_map(spec)
        ref = as_map(spec.get("delegate"))
        if not ref:
            yield Rule(spec, vs)
            continue
        delegate = _find_vs(scope, str(ref.get("name", "")), str(ref.get("namespace") or vs.namespace))
        if delegate is None:
            continue
        for child in as_list(delegate.spec.get("http")):
            merged = _merge_delegate(spec, as_map(child))
            if merged is not None:
                yield Rule(merged, delegate)


def _find_vs(scope: Scope, name: str, namespace: str) -> Resource | None:
    for r in scope.mesh.of("VirtualService"):
        if r.name == name and r.namespace == namespace and not r.spec.get("hosts"):
            return r
    return None


def _merge_delegate(root: Mapping[str, Any], child: Mapping[str, Any]) -> Mapping[str, Any] | None:
    root_matches = [as_map(m) for m in as_list(root.get("match"))] or [{}]
    child_matches = [as_map(m) for m in as_list(child.get("match"))] or [{}]
    merged = [m for r in root_matches for c in child_matches if (m := _merge_match(r, c)) is not None]
    if not merged:
        return None
    out = dict(child)
    out["match"] = merged
    return out


def _merge_match(root: Mapping[str, Any], child: Mapping[str, Any]) -> Mapping[str, Any] | None:
    out = {**root, **child}
    ru, cu = as_map(root.get("uri")), as_map(child.get("uri"))
    if ru and cu:
        rprefix = str(ru.get("prefix", ru.get("exact", "")))
        cvalue = str(cu.get("prefix", cu.get("exact", "")))
        if "regex" in ru or "regex" in cu or not cvalue.startswith(rprefix) or ("exact" in ru and cu != ru):
            return None  # the delegate's match is not within the root's: Istio drops the route
    elif ru:
        out["uri"] = ru
    for key in ("headers", "queryParams", "withoutHeaders"):
        a, b = as_map(root.get(key)), as_map(child.get(key))
        if any(k in a and a[k] != v for k, v in b.items()):
            return None
        if a or b:
            out[key] = {**a, **b}
    return out


def _rule_routes(ctx: RouteContext, rule: Rule) -> list[JSONDict]:
    matches = [as_map(m) for m in as_list(rule.spec.get("match"))]
    applicable = [m for m in (matches or [{}]) if _applies(ctx, rule.vs, m)]
    if not applicable:
        return []
    base = _rule_body(ctx, rule)
    if base is None:
        return []
    out = []
    for m in applicable:
        route: JSONDict = {}
        name = ".".join(n for n in (str(rule.spec.get("name", "")), str(m.get("name", ""))) if n)
        if name:
            route["name"] = name
        route["match"] = route_match(m)
        route.update(base)
        if m.get("statPrefix"):
            route["stat_prefix"] = str(m["statPrefix"])
        out.append(route)
    return out


def _applies(ctx: RouteContext, vs: Resource, m: Mapping[str, Any]) -> bool:
    port = as_int(m.get("port"))
    if port and port != ctx.port:
        return False
    proxy = ctx.scope.proxy
    if ctx.gateways is None and "sourceLabels" in m and not labels_match(as_map(m["sourceLabels"]), proxy.labels):
        return False
    if m.get("sourceNamespace") and m["sourceNamespace"] != proxy.namespace:
        return False
    gws = [str(g) for g in as_list(m.get("gateways"))]
    if gws:
        if ctx.gateways is None:
            return "mesh" in gws
        return any(gateway_ref(g, vs.namespace) in ctx.gateways for g in gws)
    return True


def gateway_ref(ref: str, namespace: str) -> str:
    """``name`` or ``ns/name`` (or ``name.ns`` as older Istio allowed) -> ``ns/name``."""
    if "/" in ref:
        return ref
    if "." in ref:
        name, _, ns = ref.partition(".")
        return f"{ns}/{name}"
    return f"{namespace}/{ref}"


def _rule_body(ctx: RouteContext, rule: Rule) -> JSONDict | None:
    spec, vs = rule.spec, rule.vs
    body: JSONDict = {}
    rule_headers = headers.header_ops(as_map(spec.get("headers")))
    authority = rule_headers.pop("host_rewrite_literal", None)
    if "redirect" in spec:
        redirect = _redirect(as_map(spec["redirect"]), ctx.port)
        if redirect is None:
            return None
        body["redirect"] = redirect
    elif "directResponse" in spec:
        direct = _direct_response(as_map(spec["directResponse"]))
        if direct is None:
            return None
        body["direct_response"] = direct
    else:
        action, dest_headers = _route_action(ctx, spec, vs)
        if action is None:
            return None
        rule_headers = headers.merge_ops(rule_headers, dest_headers)
        authority = rule_headers.pop("host_rewrite_literal", authority)
        if authority and "host_rewrite_literal" not in action:
            action["host_rewrite_literal"] = authority
        body["route"] = action
    body.update(rule_headers)
    body["metadata"] = names.istio_metadata(config=names.config_path("VirtualService", vs.namespace, vs.name))
    per_filter: JSONDict = {}
    fault_cfg = fault.fault_config(as_map(spec.get("fault"))) if "fault" in spec else None
    if fault_cfg is not None:
        per_filter[names.FAULT] = fault_cfg
    if "corsPolicy" in spec:
        per_filter[names.CORS] = cors.cors_policy(as_map(spec["corsPolicy"]))
    if per_filter:
        body["typed_per_filter_config"] = per_filter
    body["decorator"] = {"operation": _operation(body, vs, ctx.port)}
    return body


def _operation(body: JSONDict, vs: Resource, port: int) -> str:
    action = as_map(body.get("route"))
    cluster = names.parse_outbound_cluster(str(action.get("cluster", "")))
    if cluster is not None:
        return f"{cluster[2]}:{cluster[0]}/*"
    return f"{vs.name}:{port}/*"


def _route_action(ctx: RouteContext, spec: Mapping[str, Any], vs: Resource) -> tuple[JSONDict | None, JSONDict]:
    dests = [as_map(d) for d in as_list(spec.get("route"))]
    if not dests:
        return None, {}
    resolved = [(d, *destination(ctx, as_map(d.get("destination")), vs.namespace)) for d in dests]
    weights = [as_int(d.get("weight"), 0) for d in dests]
    if len(dests) > 1:
        kept = [(r, w) for r, w in zip(resolved, weights, strict=True) if w > 0]
        if not kept:  # validation rejects an all-zero split; share evenly rather than crash
            kept = [(r, 1) for r in resolved]
    else:
        kept = [(resolved[0], 100)]
    action: JSONDict = {}
    dest_headers: JSONDict = {}
    if len(kept) == 1:
        (d, cluster, _, _), _ = kept[0]
        action["cluster"] = cluster
        dest_headers = headers.header_ops(as_map(d.get("headers")))
    else:
        action["weighted_clusters"] = {"clusters": [_cluster_weight(d, c, w) for (d, c, _, _), w in kept]}
    action["timeout"] = duration(spec.get("timeout"), "0s")
    _, first_cluster, first_host, first_port = kept[0][0]
    subset = (names.parse_outbound_cluster(first_cluster) or (0, "", ""))[1]
    hashing = len(kept) == 1 and _apply_hash_policy(ctx.scope, first_host, first_port, action, subset)
    policy = retry.retry_policy(as_map(spec["retries"]) if "retries" in spec else None, hashing)
    if policy is not None:
        action["retry_policy"] = policy
    _apply_rewrite(action, as_map(spec.get("rewrite")))
    mirrors = _mirror_policies(ctx, spec, vs.namespace)
    if mirrors:
        action["request_mirror_policies"] = mirrors
    return action, dest_headers


def _cluster_weight(dest: Mapping[str, Any], cluster: str, weight: int) -> JSONDict:
    out: JSONDict = {"name": cluster, "weight": weight}
    out.update(headers.header_ops(as_map(dest.get("headers"))))
    return out


def destination(ctx: RouteContext, dest: Mapping[str, Any], namespace: str) -> tuple[str, str, int]:
    """(cluster name, host, port) for an Istio ``Destination``.

    Port: explicit ``port.number``, else the service's only port, else the port being built. An
    unknown host or subset still yields a cluster name: Envoy answers 503 (no cluster), like Istio.
    """
    scope = ctx.scope
    host = resolve(str(dest.get("host", "")), namespace, scope.known_hosts)
    port = as_int(as_map(dest.get("port")).get("number"))
    if not port:
        svc = scope.service(host)
        port = svc.ports[0].number if svc is not None and len(svc.ports) == 1 else ctx.port
    return names.outbound_cluster(port, str(dest.get("subset", "") or ""), host), host, port


def _apply_hash_policy(scope: Scope, host: str, port: int, action: JSONDict, subset: str = "") -> bool:
    """Add the route-side hash policy when the destination (subset) load-balances by consistent hash."""
    policy = scope.destination_policy(host)
    block = traffic.effective_policy(policy.traffic_policy, policy.subset(subset) if subset else None, port)
    hp = traffic.hash_policy(as_map(block.get("loadBalancer")))
    if hp:
        action["hash_policy"] = hp
    return bool(hp)


def _apply_rewrite(action: JSONDict, rewrite: Mapping[str, Any]) -> None:
    if "uri" in rewrite:
        action["prefix_rewrite"] = str(rewrite["uri"])
    regex = as_map(rewrite.get("uriRegexRewrite"))
    if regex:
        action["regex_rewrite"] = {
            "pattern": {"regex": str(regex.get("match", ""))},
            "substitution": str(regex.get("rewrite", "")),
        }
    if rewrite.get("authority"):
        action["host_rewrite_literal"] = str(rewrite["authority"])


def _mirror_policies(ctx: RouteContext, spec: Mapping[str, Any], namespace: str) -> list[JSONDict]:
    out: list[JSONDict] = []
    if "mirror" in spec:
        if "mirrorPercentage" in spec:
            fraction = percent_of({"percentage": spec["mirrorPercentage"]})
        elif "mirrorPercent" in spec:
            fraction = percent_of({"percent": spec["mirrorPercent"]})
        else:
            fraction = {"numerator": 100, "denominator": "HUNDRED"}
        out.append(_mirror(ctx, as_map(spec["mirror"]), namespace, fraction))
    for m in as_list(spec.get("mirrors")):
        m = as_map(m)
        fraction = percent_of(m) if "percentage" in m else {"numerator": 100, "denominator": "HUNDRED"}
        out.append(_mirror(ctx, as_map(m.get("destination")), namespace, fraction))
    return [m for m in out if m["runtime_fraction"]["default_value"]["numerator"] > 0]


def _mirror(ctx: RouteContext, dest: Mapping[str, Any], namespace: str, fraction: JSONDict) -> JSONDict:
    cluster, _, _ = destination(ctx, dest, namespace)
    return {"cluster": cluster, "runtime_fraction": {"default_value": fraction}, "trace_sampled": False}


def _redirect(spec: Mapping[str, Any], request_port: int) -> JSONDict | None:
    code = as_int(spec.get("redirectCode"), 301)
    if code not in _REDIRECT_CODES:
        return None  # Istio drops the action for codes Envoy cannot express
    out: JSONDict = {}
    if "uri" in spec:
        out["path_redirect"] = str(spec["uri"])
    elif "prefixRewrite" in spec:
        out["prefix_rewrite"] = str(spec["prefixRewrite"])
    if spec.get("authority"):
        out["host_redirect"] = str(spec["authority"])
    scheme = str(spec.get("scheme", "") or "")
    if scheme:
        out["scheme_redirect"] = scheme
    port = as_int(spec.get("port"))
    derive = str(spec.get("derivePort", "") or "")
    if port:
        out["port_redirect"] = port
    elif derive == "FROM_PROTOCOL_DEFAULT":
        out["port_redirect"] = 443 if scheme == "https" else 80
    elif derive == "FROM_REQUEST_PORT":
        # Envoy cannot copy the port from the request, but routes are built per request port (as Istio
        # does); without it a new authority would lose the port.
        out["port_redirect"] = request_port
    out["response_code"] = _REDIRECT_CODES[code]
    return out


def _direct_response(spec: Mapping[str, Any]) -> JSONDict | None:
    status = as_int(spec.get("status"), 200)
    if not 200 <= status < 600:
        return None  # Envoy only sends 2xx-5xx; Istio's validation rejects the rest
    out: JSONDict = {"status": status}
    body = as_map(spec.get("body"))
    if "string" in body:
        out["body"] = {"inline_string": str(body["string"])}
    elif "bytes" in body:
        out["body"] = {"inline_bytes": _base64(body["bytes"])}
    return out


def _base64(raw: object) -> str:
    """Istio's ``body.bytes`` is base64 text; anything else is encoded as the UTF-8 of its text."""
    text = raw if isinstance(raw, str) else "" if raw is None else str(raw)
    try:
        base64.b64decode(text, validate=True)
        return text
    except ValueError:
        return base64.b64encode(text.encode()).decode()
