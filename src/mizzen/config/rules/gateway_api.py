"""The Gateway API CRDs' own validation (OpenAPI limits and CEL rules, Gateway API v1.6), with the
CRDs' messages: what a Kubernetes API server would refuse before Istio ever sees the object.

Only rules that protect meaning are here (filter/type consistency, path syntax, listener uniqueness,
TLS per protocol, weights, durations); Istio's own verdicts on accepted objects (unsupported filters,
missing backends, unresolved references) are status conditions computed by :mod:`mizzen.gatewayapi`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.gateway_api import Gateway, Listener
from mizzen.config.models.gateway_api_routes import (
    BackendObjectReference,
    GRPCRoute,
    HTTPRequestMirrorFilter,
    HTTPRoute,
    HTTPRouteFilter,
    HTTPRouteRule,
    ParentReference,
    TCPRoute,
    TLSRoute,
)
from mizzen.config.resource import Resource
from mizzen.config.rules.common import Found, duplicates, regex

# Gateway API's Duration type (GEP-2257).
_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
_PATH_CHARS = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$")
_FILTER_FIELDS = {
    "RequestHeaderModifier": "requestHeaderModifier",
    "ResponseHeaderModifier": "responseHeaderModifier",
    "RequestMirror": "requestMirror",
    "RequestRedirect": "requestRedirect",
    "URLRewrite": "urlRewrite",
    "ExtensionRef": "extensionRef",
    "CORS": "cors",
    "ExternalAuth": "externalAuth",
}
_REPEATABLE = frozenset({"RequestMirror", "ExtensionRef", "ExternalAuth"})


def _bad(message: str, path: str) -> Found:
    return [violation("MZ3101", message, path)]


def _too_many(items: Sequence[object], limit: int, path: str) -> Found:
    if len(items) > limit:
        return _bad(f"Too many: {len(items)}: must have at most {limit} items", path)
    return []


def check_gateway(res: Resource, root: str) -> Found:
    """The Gateway CRD's rules: listeners unique by name and by port/protocol/hostname, TLS per protocol."""
    gw: Gateway = parse_spec(res)
    out: Found = _too_many(gw.listeners, 64, f"{root}.listeners")
    if not gw.listeners:
        out += _bad("Required value: a Gateway needs at least one listener", f"{root}.listeners")
    if duplicates(listener.name for listener in gw.listeners):
        out += _bad("Listener name must be unique within the Gateway", f"{root}.listeners")
    combos = [f"{x.port}/{x.protocol}/{x.hostname or ''}" for x in gw.listeners]
    if duplicates(combos):
        out += _bad("Combination of port, protocol and hostname must be unique for each listener", f"{root}.listeners")
    for i, listener in enumerate(gw.listeners):
        out += _listener(listener, f"{root}.listeners[{i}]")
        out += _listener_not_run(res, listener, f"{root}.listeners[{i}]")
    out += _gateway_not_run(gw, root)
    return out


def _not_run(message: str, path: str) -> Found:
    return [violation("MZ3103", message, path)]


def _gateway_not_run(gw: Gateway, root: str) -> Found:
    """Fields Istio acts on that Mizzen cannot honour yet: said at apply, and in the Gateway's status."""
    out: Found = []
    if gw.infrastructure is not None and gw.infrastructure.parameters_ref is not None:
        out += _not_run(
            "parametersRef customizes the deployed gateway through a ConfigMap, which Mizzen does not store: "
            "the Gateway is not accepted",
            f"{root}.infrastructure.parametersRef",
        )
    if gw.tls is not None and gw.tls.frontend is not None:
        out += _not_run(
            "client certificate validation (tls.frontend) is not supported by Mizzen yet: "
            "the listeners it applies to are not programmed",
            f"{root}.tls.frontend",
        )
    if gw.tls is not None and gw.tls.backend is not None:
        out += _not_run("tls.backend (a client certificate for backends) is ignored by Mizzen", f"{root}.tls.backend")
    return out


def _listener_not_run(res: Resource, listener: Listener, path: str) -> Found:
    out: Found = []
    tls = listener.tls
    mode = tls.options.get("gateway.istio.io/tls-terminate-mode", "") if tls else ""
    if mode in ("OPTIONAL_MUTUAL", "ISTIO_SIMPLE", "ISTIO_MUTUAL"):
        out += _not_run(f"TLS terminate mode {mode} is not served by Mizzen's gateway", f"{path}.tls.options")
    for j, ref in enumerate(tls.certificate_refs if tls else ()):
        if ref.namespace and ref.namespace != res.namespace:
            out += _not_run(
                "a certificateRef in another namespace is not served: Mizzen's gateway reads only Secrets of "
                "its own namespace",
                f"{path}.tls.certificateRefs[{j}]",
            )
    selector = listener.allowed_routes.namespaces.selector
    if listener.allowed_routes.namespaces.from_ == "Selector" and selector is not None:
        keys = {*selector.match_labels, *(e.key for e in selector.match_expressions)}
        if keys - {"kubernetes.io/metadata.name"}:
            out += _not_run(
                "Mizzen namespaces have no labels but kubernetes.io/metadata.name: this selector matches only by "
                "that label",
                f"{path}.allowedRoutes.namespaces.selector",
            )
    return out


def _listener(listener: Listener, path: str) -> Found:
    out: Found = []
    if not 1 <= listener.port <= 65535:
        out += _bad(f"Invalid value: {listener.port}: must be between 1 and 65535", f"{path}.port")
    if listener.hostname is not None:
        if listener.protocol in ("TCP", "UDP"):
            out += _bad("hostname must not be specified for protocols ['TCP', 'UDP']", f"{path}.hostname")
        elif (problem := names.wildcard_host_problem(listener.hostname)) is not None:
            out += _bad(problem, f"{path}.hostname")
    tls = listener.tls
    if tls is not None and listener.protocol in ("HTTP", "TCP", "UDP"):
        out += _bad("tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']", f"{path}.tls")
    if listener.protocol == "HTTPS" and tls is not None and tls.mode != "Terminate":
        out += _bad("tls mode must be Terminate for protocol HTTPS", f"{path}.tls.mode")
    if listener.protocol == "TLS" and tls is None:
        out += _bad("tls mode must be set for protocol TLS", f"{path}.tls")
    if tls is not None and tls.mode == "Terminate" and not tls.certificate_refs and not tls.options:
        out += _bad("certificateRefs or options must be specified when mode is Terminate", f"{path}.tls")
    return out


def _parents(refs: Sequence[ParentReference], path: str) -> Found:
    out = _too_many(refs, 32, path)
    keys = [(r.group, r.kind, r.name, r.namespace or "") for r in refs]
    for i, ref in enumerate(refs):
        same = [j for j, k in enumerate(keys) if k == keys[i]]
        if len(same) > 1 and not (ref.section_name or ref.port):
            out += _bad(
                "sectionName or port must be specified when parentRefs includes 2 or more references to the same "
                "parent",
                f"{path}[{i}]",
            )
            break
    return out


def _backend(ref: BackendObjectReference, path: str) -> Found:
    if ref.group == "" and ref.kind == "Service" and ref.port is None:
        return _bad("Must have port for Service reference", path)
    return []


def _weights(refs: Sequence[BackendObjectReference], path: str) -> Found:
    out: Found = _too_many(refs, 16, path)
    for i, ref in enumerate(refs):
        out += _backend(ref, f"{path}[{i}]")
        weight = getattr(ref, "weight", 1)
        if not 0 <= weight <= 1_000_000:
            out += _bad(f"Invalid value: {weight}: must be between 0 and 1000000", f"{path}[{i}].weight")
    return out


def _hostnames(values: Sequence[str], limit: int, path: str) -> Found:
    out = _too_many(values, limit, path)
    for i, h in enumerate(values):
        if (problem := names.wildcard_host_problem(h)) is not None:
            out += _bad(problem, f"{path}[{i}]")
    return out


def _duration(value: str | None, path: str) -> Found:
    if value is not None and not _DURATION.match(value):
        return _bad(f'Invalid value: "{value}": must be a Gateway API duration such as 10s, 1m or 500ms', path)
    return []


def _filters(filters: Sequence[HTTPRouteFilter], path: str) -> Found:
    out: Found = _too_many(filters, 16, path)
    for i, f in enumerate(filters):
        out += _filter_fields(f, f"{path}[{i}]")
        if f.request_mirror is not None:
            out += _mirror(f.request_mirror, path, f"{path}[{i}].requestMirror")
    types = [f.type for f in filters]
    for t in duplicates(types):
        if t not in _REPEATABLE:
            out += _bad(f"{t} filter cannot be repeated", path)
    if "RequestRedirect" in types and "URLRewrite" in types:
        out += _bad(
            "May specify either httpRouteFilterRequestRedirect or httpRouteFilterRequestRewrite, but not both", path
        )
    return out


def _filter_fields(f: HTTPRouteFilter, path: str) -> Found:
    """The field named by ``type`` is set, and no other filter's field is."""
    out: Found = []
    for ftype, field in _FILTER_FIELDS.items():
        present = getattr(f, _attr(field)) is not None
        if ftype == f.type and not present:
            out += _bad(f"filter.{field} must be specified for {ftype} filter.type", path)
        elif ftype != f.type and present:
            out += _bad(f"filter.{field} must be nil if the filter.type is not {ftype}", f"{path}.{field}")
    return out


def _mirror(mirror: HTTPRequestMirrorFilter, filters_path: str, path: str) -> Found:
    """A RequestMirror filter: percent or fraction (a fraction at most 1), and its backend."""
    out: Found = []
    if mirror.percent is not None and mirror.fraction is not None:
        out += _bad("Only one of percent or fraction may be specified in HTTPRequestMirrorFilter", filters_path)
    if mirror.fraction is not None and mirror.fraction.numerator > mirror.fraction.denominator:
        out += _bad("numerator must be less than or equal to denominator", path)
    return out + _backend(mirror.backend_ref, f"{path}.backendRef")


def _attr(field: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", field).lower()


def check_http_route(res: Resource, root: str) -> Found:
    """The HTTPRoute CRD's rules."""
    route: HTTPRoute = parse_spec(res)
    out = _parents(route.parent_refs, f"{root}.parentRefs") + _hostnames(route.hostnames, 16, f"{root}.hostnames")
    out += _too_many(route.rules, 16, f"{root}.rules")
    if sum(len(r.matches) for r in route.rules) > 128:
        out += _bad(
            "While 16 rules and 64 matches per rule are allowed, the total number of matches across all rules "
            "in a route must be less than 128",
            f"{root}.rules",
        )
    if duplicates(r.name for r in route.rules if r.name):
        out += _bad("Rule name must be unique within the route", f"{root}.rules")
    for i, rule in enumerate(route.rules):
        out += _http_rule(rule, f"{root}.rules[{i}]")
    return out


def _http_rule(rule: HTTPRouteRule, path: str) -> Found:
    out = _too_many(rule.matches, 64, f"{path}.matches") + _filters(rule.filters, f"{path}.filters")
    out += _weights(rule.backend_refs, f"{path}.backendRefs")
    for j, ref in enumerate(rule.backend_refs):
        out += _filters(ref.filters, f"{path}.backendRefs[{j}].filters")
    for j, m in enumerate(rule.matches):
        out += _path_match(m.path.type, m.path.value, f"{path}.matches[{j}].path")
        for q in (*m.headers, *m.query_params):
            if q.type == "RegularExpression":
                regex(q.value, f"{path}.matches[{j}]", out, q.name)
    if any(f.type == "RequestRedirect" for f in rule.filters) and rule.backend_refs:
        out += _bad("RequestRedirect filter must not be used together with backendRefs", path)
    for f in rule.filters:
        modifier = f.request_redirect.path if f.request_redirect else f.url_rewrite.path if f.url_rewrite else None
        one_prefix = len(rule.matches) == 1 and rule.matches[0].path.type == "PathPrefix"
        if modifier is not None and modifier.type == "ReplacePrefixMatch" and not one_prefix:
            what = "RequestRedirect" if f.request_redirect else "URLRewrite"
            out += _bad(
                f"When using {what} filter with path.replacePrefixMatch, exactly one PathPrefix match must be "
                "specified",
                path,
            )
    if rule.timeouts is not None:
        out += _duration(rule.timeouts.request, f"{path}.timeouts.request")
        out += _duration(rule.timeouts.backend_request, f"{path}.timeouts.backendRequest")
    if rule.retry is not None:
        out += _duration(rule.retry.backoff, f"{path}.retry.backoff")
    return out


def _path_match(kind: str, value: str, path: str) -> Found:
    if kind == "RegularExpression":
        out: Found = []
        regex(value, f"{path}.value", out, "path")
        return out
    if not value.startswith("/"):
        return _bad("value must be an absolute path and start with '/' when type one of ['Exact', 'PathPrefix']", path)
    for part in ("//", "/./", "/../", "%2f", "%2F", "#"):
        if part in value:
            return _bad(f"must not contain '{part}' when type one of ['Exact', 'PathPrefix']", path)
    for end in ("/..", "/."):
        if value.endswith(end):
            return _bad(f"must not end with '{end}' when type one of ['Exact', 'PathPrefix']", path)
    if not _PATH_CHARS.match(value):
        return _bad("must only contain valid characters for types ['Exact', 'PathPrefix']", path)
    return []


def check_grpc_route(res: Resource, root: str) -> Found:
    """The GRPCRoute CRD's rules."""
    route: GRPCRoute = parse_spec(res)
    out = _parents(route.parent_refs, f"{root}.parentRefs") + _hostnames(route.hostnames, 16, f"{root}.hostnames")
    out += _too_many(route.rules, 16, f"{root}.rules")
    for i, rule in enumerate(route.rules):
        path = f"{root}.rules[{i}]"
        out += _weights(rule.backend_refs, f"{path}.backendRefs")
        for j, m in enumerate(rule.matches):
            if m.method is not None and not (m.method.service or m.method.method):
                out += _bad("One or both of 'service' or 'method' must be specified", f"{path}.matches[{j}].method")
        types = [f.type for f in rule.filters]
        for t in duplicates(types):
            if t in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                out += _bad(f"{t} filter cannot be repeated", f"{path}.filters")
    return out


def check_tcp_route(res: Resource, root: str) -> Found:
    """The TCPRoute CRD's rules (v1 allows one rule, v1alpha2 sixteen)."""
    route: TCPRoute = parse_spec(res)
    out = _parents(route.parent_refs, f"{root}.parentRefs") + _l4_rules(res, route.rules, f"{root}.rules")
    return out


def check_tls_route(res: Resource, root: str) -> Found:
    """The TLSRoute CRD's rules (v1 requires hostnames and allows one rule)."""
    route: TLSRoute = parse_spec(res)
    out = _parents(route.parent_refs, f"{root}.parentRefs") + _l4_rules(res, route.rules, f"{root}.rules")
    out += _hostnames(route.hostnames, 1024, f"{root}.hostnames")
    if res.api_version.endswith("/v1") and not route.hostnames:
        out += _bad("Required value: TLSRoute v1 needs at least one hostname", f"{root}.hostnames")
    return out


def _l4_rules(res: Resource, rules: Sequence[object], path: str) -> Found:
    limit = 1 if res.api_version.endswith("/v1") else 16
    out = _too_many(rules, limit, path)
    for i, rule in enumerate(rules):
        out += _weights(getattr(rule, "backend_refs", ()), f"{path}[{i}].backendRefs")
    return out
