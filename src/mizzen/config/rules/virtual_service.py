"""Istio's VirtualService rules (what its webhook and ``istioctl validate`` reject), with its wording."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.virtual_service import (
    CorsPolicy,
    HeaderOperations,
    Headers,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRoute,
    RouteDestination,
    TCPRoute,
    TLSRoute,
    VirtualService,
)
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found
from mizzen.config.semantics.durations import seconds as duration_seconds

MESH = "mesh"
GRPC_STATUS = frozenset(
    {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    }
)
RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)
MAX_DIRECT_BODY = 1024 * 1024


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one VirtualService."""
    vs: VirtualService = parse_spec(res)
    out: Found = []
    delegate = not vs.hosts  # Istio treats a VirtualService without hosts as a delegate
    _top_level(vs, root, out, delegate=delegate)
    for i, http in enumerate(vs.http):
        _http_route(http, f"{root}.http[{i}]", out, delegate=delegate)
    for i, tcp in enumerate(vs.tcp):
        _tcp_route(tcp, f"{root}.tcp[{i}]", out)
    for i, tls in enumerate(vs.tls):
        _tls_route(tls, vs.hosts, f"{root}.tls[{i}]", out)
    return out


def _top_level(vs: VirtualService, root: str, out: Found, *, delegate: bool) -> None:
    if delegate:
        for field, value in (("gateways", vs.gateways), ("tls", vs.tls), ("tcp", vs.tcp)):
            if value:
                out.append(
                    violation("MZ2109", f"delegate virtual service must have no {field} specified", f"{root}.{field}")
                )
    if not (vs.http or vs.tcp or vs.tls):
        out.append(violation("MZ1003", "http, tcp or tls must be provided in virtual service", root))
    for i, gw in enumerate(vs.gateways):
        _gateway_ref(gw, f"{root}.gateways[{i}]", out)
    bound_to_mesh = not vs.gateways or MESH in vs.gateways
    for i, h in enumerate(vs.hosts):
        path = f"{root}.hosts[{i}]"
        if h == "*" and bound_to_mesh:
            out.append(
                violation(
                    "MZ2107", "wildcard host * is not allowed for virtual services bound to the mesh gateway", path
                )
            )
        else:
            common.host(h, path, out)
    for dup in common.duplicates(vs.hosts):
        out.append(
            violation(
                "MZ2108", f"duplicate hosts in virtual service: {dup}", f"{root}.hosts[{_last_index(vs.hosts, dup)}]"
            )
        )
    out.extend(names.export_to_problems(vs.export_to, f"{root}.exportTo"))


def _last_index(values: Sequence[str], value: str) -> int:
    return len(values) - 1 - list(reversed(values)).index(value)


def _gateway_ref(gw: str, path: str, out: Found) -> None:
    """``mesh``, ``name`` or ``namespace/name``."""
    if gw == MESH:
        return
    ns, sep, name = gw.rpartition("/")
    if (sep and not names.is_dns1123_label(ns)) or not names.is_dns1123_subdomain(name):
        out.append(violation("MZ2111", f'invalid gateway name: "{gw}"', path))


def _http_route(http: HTTPRoute, path: str, out: Found, *, delegate: bool) -> None:
    _actions(http, path, out, delegate=delegate)
    for i, m in enumerate(http.match):
        _match(m, f"{path}.match[{i}]", out)
    _weights([(d.weight, f"{path}.route[{j}]") for j, d in enumerate(http.route)], out)
    for j, d in enumerate(http.route):
        common.destination(d.destination, f"{path}.route[{j}].destination", out)
        _headers(d.headers, f"{path}.route[{j}].headers", out)
    if http.redirect is not None:
        _redirect(http.redirect, http.match, f"{path}.redirect", out)
    if http.direct_response is not None:
        _direct_response(http, f"{path}.directResponse", out)
    _rewrite(http, f"{path}.rewrite", out)
    _retries(http.retries, f"{path}.retries", out)
    _fault(http.fault, f"{path}.fault", out)
    _mirrors(http, path, out)
    _cors(http.cors_policy, f"{path}.corsPolicy", out)
    _headers(http.headers, f"{path}.headers", out)


def _actions(http: HTTPRoute, path: str, out: Found, *, delegate: bool) -> None:
    """Which of route/redirect/directResponse/delegate/rewrite/fault may appear together."""
    has_route, redirect, direct = bool(http.route), http.redirect is not None, http.direct_response is not None
    if not (has_route or redirect or direct or http.delegate is not None):
        out.append(violation("MZ2104", "HTTP route, redirect, direct response or delegate is required", path))
    pairs = [
        (has_route and redirect, "HTTP route cannot contain both route and redirect"),
        (http.fault is not None and redirect, "HTTP route cannot contain both fault and redirect"),
        (http.rewrite is not None and redirect, "HTTP route rule cannot contain both rewrite and redirect"),
        (direct and redirect, "HTTP route cannot contain both redirect and direct response"),
        (has_route and direct, "HTTP route cannot contain both route and direct response"),
        (http.fault is not None and direct, "HTTP route cannot contain both fault and direct response"),
        (http.rewrite is not None and direct, "HTTP route rule cannot contain both rewrite and direct response"),
        (has_route and http.delegate is not None, "HTTP route cannot contain both route and delegate"),
        (redirect and http.delegate is not None, "HTTP route cannot contain both redirect and delegate"),
        (http.mirror is not None and bool(http.mirrors), "HTTP route cannot contain both mirror and mirrors"),
    ]
    out.extend(violation("MZ2103", msg, path) for bad, msg in pairs if bad)
    if http.delegate is not None:
        if delegate:
            out.append(violation("MZ2109", "delegate virtual service can not have delegate", f"{path}.delegate"))
        if not http.delegate.name:
            out.append(violation("MZ2109", "delegate name is required", f"{path}.delegate.name"))
        elif not names.is_dns1123_subdomain(http.delegate.name):
            out.append(violation("MZ2109", f'invalid delegate name "{http.delegate.name}"', f"{path}.delegate.name"))
        if http.delegate.namespace and not names.is_dns1123_label(http.delegate.namespace):
            out.append(
                violation(
                    "MZ2109", f'invalid delegate namespace "{http.delegate.namespace}"', f"{path}.delegate.namespace"
                )
            )


def _match(m: HTTPMatchRequest, path: str, out: Found) -> None:
    for field in ("uri", "scheme", "method", "authority"):
        common.string_match(getattr(m, field), f"{path}.{field}", out, field, prefix_nonempty=True)
    common.string_matches(m.headers, f"{path}.headers", out, "header")
    common.string_matches(m.without_headers, f"{path}.withoutHeaders", out, "header")
    common.string_matches(m.query_params, f"{path}.queryParams", out, "query parameter")
    common.port(m.port, f"{path}.port", out)
    common.labels(m.source_labels, f"{path}.sourceLabels", out)
    _source_namespace(m.source_namespace, f"{path}.sourceNamespace", out)
    for i, gw in enumerate(m.gateways):
        _gateway_ref(gw, f"{path}.gateways[{i}]", out)


def _source_namespace(ns: str | None, path: str, out: Found) -> None:
    if ns and not names.is_dns1123_label(ns):
        out.append(violation("MZ2001", f'invalid sourceNamespace "{ns}": {names.LABEL_MSG}', path))


def _weights(weights: Sequence[tuple[int | None, str]], out: Found) -> None:
    """Weights are relative shares: none negative, and several destinations cannot all be 0."""
    total = 0
    for weight, path in weights:
        w = weight or 0
        if w < 0:
            out.append(violation("MZ2101", f"weight {w} < 0", f"{path}.weight"))
        total += w
    if len(weights) > 1 and total == 0:
        parent = weights[0][1].rsplit("[", 1)[0]
        out.append(violation("MZ2102", "total destination weight = 0", parent))


def _redirect(r: HTTPRedirect, matches: Sequence[HTTPMatchRequest], path: str, out: Found) -> None:
    if not (r.uri or r.authority or r.port is not None or r.derive_port or r.scheme or r.prefix_rewrite):
        out.append(violation("MZ2106", "redirect must specify URI, authority, scheme, or port", path))
    if r.uri and r.prefix_rewrite is not None:
        out.append(violation("MZ2106", "redirect may only contain one of uri or prefixRewrite", path))
    if r.redirect_code is not None and not 300 <= r.redirect_code <= 399:
        out.append(
            violation("MZ2106", f"{r.redirect_code} is not a valid redirect code, must be 3xx", f"{path}.redirectCode")
        )
    common.port(r.port, f"{path}.port", out)
    if r.prefix_rewrite is not None and any(m.uri is None or m.uri.prefix is None for m in matches):
        out.append(
            violation("MZ2106", "prefixRewrite requires all URI matches to be prefix matches", f"{path}.prefixRewrite")
        )


def _direct_response(http: HTTPRoute, path: str, out: Found) -> None:
    dr = http.direct_response
    assert dr is not None
    if not 200 <= dr.status <= 599:
        out.append(
            violation(
                "MZ2113",
                f"directResponse.status must be greater than 200 and less than 599, got {dr.status}",
                f"{path}.status",
            )
        )
    body = dr.body
    if body is None:
        return
    size = len(body.string.encode()) if body.string is not None else 0
    if body.bytes is not None:
        try:
            size = len(base64.b64decode(body.bytes, validate=True))
        except (binascii.Error, ValueError):
            out.append(violation("MZ2113", "directResponse.body.bytes must be base64", f"{path}.body.bytes"))
    if size > MAX_DIRECT_BODY:
        out.append(
            violation(
                "MZ2113",
                f"large direct_responses may impact control plane performance, must be "
                f"less than {MAX_DIRECT_BODY} bytes",
                f"{path}.body",
            )
        )


def _rewrite(http: HTTPRoute, path: str, out: Found) -> None:
    rw = http.rewrite
    if rw is None:
        return
    if rw.uri is not None and rw.uri_regex_rewrite is not None:
        out.append(violation("MZ1005", "rewrite may only contain one of uri or uriRegexRewrite", path))
    if rw.uri_regex_rewrite is not None:
        common.regex(rw.uri_regex_rewrite.match or "", f"{path}.uriRegexRewrite.match", out, "uriRegexRewrite")
    if not (rw.uri or rw.authority or rw.uri_regex_rewrite):
        out.append(violation("MZ2106", "rewrite must specify uri, uriRegexRewrite, or authority", path))


def _retries(r: HTTPRetry | None, path: str, out: Found) -> None:
    if r is None:
        return
    if r.attempts is not None and r.attempts < 0:
        out.append(violation("MZ2112", "attempts cannot be negative", f"{path}.attempts"))
    for policy in (p.strip() for p in (r.retry_on or "").split(",") if r.retry_on):
        if policy in RETRY_ON:
            continue
        if policy.isdigit() and 100 <= int(policy) <= 599:
            continue
        out.append(violation("MZ2112", f"{policy} is not a valid retryOn policy", f"{path}.retryOn"))


def _fault(f: HTTPFaultInjection | None, path: str, out: Found) -> None:
    if f is None:
        return
    if f.delay is None and f.abort is None:
        out.append(violation("MZ2105", "HTTP fault injection must have an abort and/or a delay", path))
    if (d := f.delay) is not None:
        if d.exponential_delay is not None:
            out.append(violation("MZ2105", "exponentialDelay not supported yet", f"{path}.delay.exponentialDelay"))
        elif d.fixed_delay is None:
            out.append(violation("MZ2105", "delay must specify fixedDelay", f"{path}.delay"))
        if d.percent is not None and not 0 <= d.percent <= 100:
            out.append(violation("MZ2006", f"percentage {d.percent} is not in range 0..100", f"{path}.delay.percent"))
        common.percentage(d.percentage, f"{path}.delay.percentage", out)
    if (a := f.abort) is not None:
        if a.http2_error is not None:
            out.append(
                violation("MZ2105", "HTTP/2 abort fault injection not supported yet", f"{path}.abort.http2Error")
            )
        elif a.grpc_status is not None:
            if a.grpc_status not in GRPC_STATUS:
                out.append(
                    violation("MZ2105", f"{a.grpc_status} is not a valid gRPC status name", f"{path}.abort.grpcStatus")
                )
        elif a.http_status is None:
            out.append(violation("MZ2105", "abort must specify httpStatus or grpcStatus", f"{path}.abort"))
        elif not 200 <= a.http_status <= 599:
            out.append(
                violation(
                    "MZ2105",
                    f"invalid abort http status {a.http_status}: must be in range 200..599",
                    f"{path}.abort.httpStatus",
                )
            )
        common.percentage(a.percentage, f"{path}.abort.percentage", out)


def _mirrors(http: HTTPRoute, path: str, out: Found) -> None:
    common.destination(http.mirror, f"{path}.mirror", out)
    if http.mirror_percent is not None and not 0 <= http.mirror_percent <= 100:
        out.append(
            violation("MZ2006", f"percentage {http.mirror_percent} is not in range 0..100", f"{path}.mirrorPercent")
        )
    common.percentage(http.mirror_percentage, f"{path}.mirrorPercentage", out)
    for i, m in enumerate(http.mirrors):
        common.destination(m.destination, f"{path}.mirrors[{i}].destination", out)
        common.percentage(m.percentage, f"{path}.mirrors[{i}].percentage", out)


def _cors(c: CorsPolicy | None, path: str, out: Found) -> None:
    if c is None:
        return
    for i, m in enumerate(c.allow_origins):
        common.string_match(m, f"{path}.allowOrigins[{i}]", out, "allowOrigins", prefix_nonempty=True)
    for i, method in enumerate(c.allow_methods):
        if method not in common.HTTP_METHODS:
            out.append(violation("MZ2117", f"{method} is not a valid HTTP method", f"{path}.allowMethods[{i}]"))
    seconds = duration_seconds(c.max_age) if c.max_age else None
    if seconds is not None and not float(seconds).is_integer():
        out.append(violation("MZ2117", "max_age duration is accurate only to seconds precision", f"{path}.maxAge"))
    for field, values in (("allowHeaders", c.allow_headers), ("exposeHeaders", c.expose_headers)):
        for i, h in enumerate(values):
            if not h:
                out.append(violation("MZ2117", "header name cannot be empty", f"{path}.{field}[{i}]"))


def _headers(h: Headers | None, path: str, out: Found) -> None:
    if h is None:
        return
    for side, ops in (("request", h.request), ("response", h.response)):
        if ops is not None:
            _header_ops(ops, f"{path}.{side}", out)


def _header_ops(ops: HeaderOperations, path: str, out: Found) -> None:
    common.header_names(ops.set, f"{path}.set", out, editing=True)
    common.header_names(ops.add, f"{path}.add", out, editing=True)
    for i, name in enumerate(ops.remove):
        common.header_names([name], f"{path}.remove[{i}]", out, editing=True)


def _l4_destinations(routes: Sequence[RouteDestination], path: str, out: Found, what: str) -> None:
    if not routes:
        out.append(violation("MZ2116", f"{what} route is required", path))
    _weights([(d.weight, f"{path}.route[{j}]") for j, d in enumerate(routes)], out)
    for j, d in enumerate(routes):
        common.destination(d.destination, f"{path}.route[{j}].destination", out)


def _tcp_route(tcp: TCPRoute, path: str, out: Found) -> None:
    _l4_destinations(tcp.route, path, out, "TCP")
    for i, m in enumerate(tcp.match):
        mp = f"{path}.match[{i}]"
        common.cidrs(m.destination_subnets, f"{mp}.destinationSubnets", out)
        common.port(m.port, f"{mp}.port", out)
        common.labels(m.source_labels, f"{mp}.sourceLabels", out)
        _source_namespace(m.source_namespace, f"{mp}.sourceNamespace", out)
        for j, gw in enumerate(m.gateways):
            _gateway_ref(gw, f"{mp}.gateways[{j}]", out)


def _tls_route(tls: TLSRoute, vs_hosts: Sequence[str], path: str, out: Found) -> None:
    if not tls.match:
        out.append(violation("MZ2114", "TLS route must have at least one match condition", path))
    _l4_destinations(tls.route, path, out, "TLS")
    for i, m in enumerate(tls.match):
        mp = f"{path}.match[{i}]"
        for j, sni in enumerate(m.sni_hosts):
            common.host(sni, f"{mp}.sniHosts[{j}]", out)
            if vs_hosts and not any(_host_covers(h, sni) for h in vs_hosts):
                out.append(
                    violation(
                        "MZ2114",
                        f"the SNI host {sni} is not a match with any of the virtual service hosts",
                        f"{mp}.sniHosts[{j}]",
                    )
                )
        common.cidrs(m.destination_subnets, f"{mp}.destinationSubnets", out)
        common.port(m.port, f"{mp}.port", out)
        common.labels(m.source_labels, f"{mp}.sourceLabels", out)


def _host_covers(pattern: str, host: str) -> bool:
    """Whether VS host ``pattern`` (maybe a wildcard) matches SNI ``host`` (maybe a wildcard)."""
    if pattern == "*" or pattern == host:
        return True
    if pattern.startswith("*"):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return False
