"""Istio's rules for one HTTP route of a VirtualService (``validateHTTPRoute``), with its wording."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from http import HTTPStatus

from mizzen.config.codes import violation
from mizzen.config.models.virtual_service import (
    CorsPolicy,
    FaultAbort,
    HTTPDirectResponse,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRedirect,
    HTTPRetry,
    HTTPRewrite,
    HTTPRoute,
    HTTPRouteDestination,
)
from mizzen.config.rules import common, headers, hosts
from mizzen.config.rules.common import Found
from mizzen.config.schema import duration_nanos

GRPC_STATUS = frozenset(
    [
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
    ]
)
RETRY_ON = frozenset(
    [
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "envoy-ratelimited",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    ]
)
CORS_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*"})
# Status codes Go's net/http knows by name: Istio accepts a numeric retryOn policy only for these.
_KNOWN_STATUS = frozenset(s.value for s in HTTPStatus)
KB = 1024
MB = 1024 * KB


def check(http: HTTPRoute, path: str, out: Found, *, in_delegate: bool) -> None:
    """Every rule violation of one HTTP route (``in_delegate``: the route belongs to a delegate VS)."""
    _conflicts(http, path, out, in_delegate=in_delegate)
    _matches(http.match, path, out)
    if http.headers is not None:
        common.header_edits(http.headers.request, http.headers.response, f"{path}.headers", out)
    _cors(http.cors_policy, f"{path}.corsPolicy", out)
    _fault(http.fault, f"{path}.fault", out)
    _mirrors(http, path, out)
    _redirect(http.redirect, http.match, f"{path}.redirect", out)
    _direct_response(http.direct_response, f"{path}.directResponse", out)
    _retries(http.retries, f"{path}.retries", out)
    _rewrite(http.rewrite, f"{path}.rewrite", out)
    _authority_once(http, path, out)
    route_destinations(http.route, path, out)


def _conflicts(http: HTTPRoute, path: str, out: Found, *, in_delegate: bool) -> None:
    def bad(message: str) -> None:
        out.append(violation("MZ2103", message, path))

    if http.delegate is not None and not in_delegate:
        if http.redirect is not None:
            bad(f"root HTTP route {http.name or ''} must not specify redirect")
        if http.route:
            bad(f"root HTTP route {http.name or ''} must not specify route")
        return
    if in_delegate and http.delegate is not None:
        out.append(violation("MZ2109", "delegate HTTP route cannot contain delegate", f"{path}.delegate"))
    if http.redirect is not None:
        _beside_action(http, "redirect", bad)
    elif http.direct_response is not None:
        _beside_action(http, "direct_response", bad)
    elif not http.route:
        out.append(violation("MZ2104", "HTTP route, redirect or direct_response is required", path))
    if http.mirror is not None and http.mirrors:
        bad("HTTP route cannot contain both mirror and mirrors")


def _beside_action(http: HTTPRoute, action: str, bad: Callable[[str], None]) -> None:
    """What a ``redirect`` or a ``direct_response`` excludes, in Istio's order and words."""
    for present, what in ((bool(http.route), "route"), (http.fault is not None, "fault")):
        if present:
            bad(f"HTTP route cannot contain both {what} and {action}")
    # A direct response beside a redirect is reported once, under the redirect (which Istio checks first).
    also_direct = action == "redirect" and http.direct_response is not None
    for present, what in ((http.rewrite is not None, "rewrite"), (also_direct, "direct_response")):
        if present:
            bad(f"HTTP route rule cannot contain both {what} and {action}")


def _matches(matches: Sequence[HTTPMatchRequest], path: str, out: Found) -> None:
    for i, m in enumerate(matches):
        mp = f"{path}.match[{i}]"
        for field, table in (("headers", m.headers), ("withoutHeaders", m.without_headers)):
            for name, sm in table.items():
                if (problem := headers.match_name_error(name)) is not None:
                    out.append(violation("MZ2011", problem, f"{mp}.{field}"))
                if not (field == "withoutHeaders" and sm.regex == "*"):  # "*" means "present", not a regex
                    common.string_match(sm, f"{mp}.{field}.{name}", out, field)
        common.match_regex(m.uri, f"{mp}.uri", out, "uri")  # an empty URI prefix matches everything
        for field in ("scheme", "method", "authority"):
            common.string_match(getattr(m, field), f"{mp}.{field}", out, field)
        for name, sm in m.query_params.items():
            common.string_match(sm, f"{mp}.queryParams.{name}", out, "queryParams")
        if m.port:
            common.port(m.port, f"{mp}.port", out)
        common.labels(m.source_labels, f"{mp}.sourceLabels", out)
        common.gateway_names(m.gateways, f"{mp}.gateways", out)
        if m.source_namespace and not hosts.is_label(m.source_namespace):
            out.append(
                violation("MZ2001", f"sourceNamespace match {m.source_namespace} is invalid", f"{mp}.sourceNamespace")
            )


def _cors(c: CorsPolicy | None, path: str, out: Found) -> None:
    if c is None:
        return
    for i, origin in enumerate(c.allow_origins):
        value = origin.exact or origin.prefix or origin.regex
        if not value:
            out.append(
                violation(
                    "MZ2117",
                    f"'{value or ''}' is not a valid match type for CORS allow origins",
                    f"{path}.allowOrigins[{i}]",
                )
            )
        else:
            common.match_regex(origin, f"{path}.allowOrigins[{i}]", out, "corsPolicy.allowOrigins")
    for i, method in enumerate(c.allow_methods):
        if method not in CORS_METHODS:
            out.append(violation("MZ2117", f'"{method}" is not a supported HTTP method', f"{path}.allowMethods[{i}]"))
    for field, values in (("allowHeaders", c.allow_headers), ("exposeHeaders", c.expose_headers)):
        for i, name in enumerate(values):
            if (problem := headers.cors_name_error(name)) is not None:
                out.append(violation("MZ2117", problem, f"{path}.{field}[{i}]"))
    nanos = duration_nanos(c.max_age) if c.max_age else None
    if nanos is not None and nanos % 10**9:
        out.append(violation("MZ2117", "max_age duration is accurate only to seconds precision", f"{path}.maxAge"))


def http_status_error(status: int) -> str | None:
    """Istio's ``validateHTTPStatus``: 200..600."""
    return None if 200 <= status <= 600 else f"HTTP status {status} is not in range 200-599"


def _fault(f: HTTPFaultInjection | None, path: str, out: Found) -> None:
    if f is None:
        return
    if f.delay is None and f.abort is None:
        out.append(violation("MZ2105", "HTTP fault injection must have an abort and/or a delay", path))
    if f.abort is not None:
        _abort(f.abort, f"{path}.abort", out)
    if (d := f.delay) is not None:
        common.fraction(d.percentage, f"{path}.delay.percentage", out)
        if d.exponential_delay is not None:
            out.append(violation("MZ2105", "exponentialDelay not supported yet", f"{path}.delay.exponentialDelay"))


def _abort(a: FaultAbort, path: str, out: Found) -> None:
    """An abort fault: its percentage and exactly one error type Envoy can inject."""
    common.fraction(a.percentage, f"{path}.percentage", out)
    if a.grpc_status is not None:
        if a.grpc_status not in GRPC_STATUS:
            out.append(
                violation(
                    "MZ2105",
                    f'gRPC status "{a.grpc_status}" is not supported. See '
                    "https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, "
                    "for example 'NOT_FOUND'",
                    f"{path}.grpcStatus",
                )
            )
    elif a.http2_error is not None:
        out.append(violation("MZ2105", "HTTP/2 abort fault injection not supported yet", f"{path}.http2Error"))
    elif a.http_status is not None:
        if (problem := http_status_error(a.http_status)) is not None:
            out.append(violation("MZ2105", problem, f"{path}.httpStatus"))
    else:
        common.warn("abort configured, but error type not set", path, out)


def _mirrors(http: HTTPRoute, path: str, out: Found) -> None:
    if http.mirror_percent is not None:
        if http.mirror_percent > 100:
            out.append(
                violation(
                    "MZ2006",
                    f"mirror_percent must have a max value of 100 (it has {http.mirror_percent})",
                    f"{path}.mirrorPercent",
                )
            )
        out.append(
            violation(
                "MZ1007",
                'using deprecated setting "mirrorPercent", use "mirrorPercentage" instead',
                f"{path}.mirrorPercent",
            )
        )
    _mirror_share(
        http.mirror_percentage.value if http.mirror_percentage else None,
        "mirror_percentage",
        f"{path}.mirrorPercentage",
        out,
    )
    common.destination(http.mirror, f"{path}.mirror", out)
    for i, m in enumerate(http.mirrors):
        common.destination(m.destination, f"{path}.mirrors[{i}].destination", out)
        _mirror_share(
            m.percentage.value if m.percentage else None, "mirror percentage", f"{path}.mirrors[{i}].percentage", out
        )


def _mirror_share(value: float | None, what: str, path: str, out: Found) -> None:
    if value is None:
        return
    if value > 100:
        out.append(violation("MZ2006", f"{what} must have a max value of 100 (it has {value:f})", path))
    if value < 0:
        out.append(violation("MZ2006", f"{what} must have a min value of 0 (it has {value:f})", path))


def _redirect(r: HTTPRedirect | None, matches: Sequence[HTTPMatchRequest], path: str, out: Found) -> None:
    """Istio reports only the first redirect problem."""
    if r is None:
        return
    problem = None
    if r.uri and r.prefix_rewrite:
        problem = "redirect may only specify one of uri or prefix_rewrite"
    elif r.prefix_rewrite and any(m.uri is not None and m.uri.prefix is None for m in matches):
        problem = "redirect prefix_rewrite requires all URI matches to use prefix match type"
    elif not (r.uri or r.prefix_rewrite or r.authority or r.port is not None or r.derive_port is not None or r.scheme):
        problem = "redirect must specify URI, authority, scheme, or port"
    elif r.redirect_code and not 300 <= r.redirect_code <= 399:
        problem = f"{r.redirect_code} is not a valid redirect code, must be 3xx"
    elif r.scheme and r.scheme not in ("http", "https"):
        problem = 'invalid redirect scheme, must be "http" or "https"'
    elif r.port and not 1 <= r.port <= 65535:
        problem = f"port number {r.port} must be in the range 1..65535"
    if problem is not None:
        out.append(violation("MZ2106", problem, path))


def _direct_response(dr: HTTPDirectResponse | None, path: str, out: Found) -> None:
    if dr is None:
        return
    body = dr.body
    if body is not None:
        size = len((body.string or "").encode())
        if body.bytes is not None:
            try:
                size = len(base64.b64decode(body.bytes, validate=True))
            except (binascii.Error, ValueError):
                out.append(violation("MZ1002", "must be base64-encoded bytes", f"{path}.body.bytes"))
        if size > MB:
            message = "large direct_responses may impact control plane performance, must be less than 1MB"
            out.append(violation("MZ2113", message, f"{path}.body"))
        elif size > 100 * KB:
            common.warn("large direct_responses may impact control plane performance", f"{path}.body", out)
    if (problem := http_status_error(dr.status)) is not None:
        out.append(violation("MZ2113", problem, f"{path}.status"))


def _retries(r: HTTPRetry | None, path: str, out: Found) -> None:
    if r is None:
        return
    attempts = r.attempts or 0
    if attempts < 0:
        out.append(violation("MZ2112", "attempts cannot be negative", f"{path}.attempts"))
    if attempts == 0 and (r.per_try_timeout is not None or r.retry_on or r.retry_remote_localities is not None):
        out.append(violation("MZ2112", "http retry policy configured when attempts are set to 0 (disabled)", path))
    for policy in (r.retry_on or "").split(",") if r.retry_on else ():
        if policy not in RETRY_ON and not (policy.isdigit() and int(policy) in _KNOWN_STATUS):
            out.append(violation("MZ2112", f'"{policy}" is not a valid retryOn policy', f"{path}.retryOn"))


def _rewrite(rw: HTTPRewrite | None, path: str, out: Found) -> None:
    if rw is None:
        return
    if rw.uri and rw.uri_regex_rewrite is not None:
        out.append(violation("MZ2106", "rewrite may only contain one of URI or UriRegexRewrite", path))
    elif not rw.uri and rw.uri_regex_rewrite is None and not rw.authority:
        out.append(
            violation(
                "MZ2106",
                "rewrite must specify at least one of URI, UriRegexRewrite, or authority. "
                "Only one of URI or UriRegexRewrite may be specified",
                path,
            )
        )
    elif (rr := rw.uri_regex_rewrite) is not None:
        if not rr.match or not rr.rewrite:
            out.append(
                violation(
                    "MZ2106",
                    "UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be "
                    "specified",
                    f"{path}.uriRegexRewrite",
                )
            )
        else:
            common.regex(rr.match, f"{path}.uriRegexRewrite.match", out, "HTTPRewrite.UriRegexRewrite.Match")


def _authority_once(http: HTTPRoute, path: str, out: Found) -> None:
    current = http.rewrite.authority if http.rewrite is not None and http.rewrite.authority else ""
    req = http.headers.request if http.headers is not None else None
    if req is None:
        return
    for verb in ("set", "add"):
        for name, value in getattr(req, verb).items():
            if not headers.is_authority(name):
                continue
            if current:
                out.append(
                    violation(
                        "MZ2115",
                        f'authority header cannot be set multiple times: have "{current}", attempting to set "{value}"',
                        f"{path}.headers.request.{verb}.{name}",
                    )
                )
                return
            current = value


def route_destinations(routes: Sequence[HTTPRouteDestination], path: str, out: Found) -> None:
    """Weighted HTTP destinations: each with a destination, valid header edits, weights not all 0."""
    total = 0
    for j, d in enumerate(routes):
        rp = f"{path}.route[{j}]"
        if d.headers is not None:
            common.header_edits(d.headers.request, d.headers.response, f"{rp}.headers", out)
        common.destination(d.destination, f"{rp}.destination", out)
        weight = d.weight or 0
        if weight < 0:
            out.append(violation("MZ2101", f"weight {weight} < 0", f"{rp}.weight"))
        total += weight
    if len(routes) > 1 and total == 0:
        out.append(violation("MZ2102", "total destination weight = 0", f"{path}.route"))
