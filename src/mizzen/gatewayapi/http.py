"""HTTPRoute and GRPCRoute rules to Istio ``HTTPRoute`` entries (Istio's ``convertHTTPRoute``,
``convertGRPCRoute`` and their ``create*`` helpers): one entry per match, named ``<ns>.<route>.<rule>``
unless the rule has a name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mizzen.config.internal import quote_meta
from mizzen.config.models.gateway_api_routes import (
    GRPCBackendRef,
    GRPCRouteFilter,
    GRPCRouteMatch,
    GRPCRouteRule,
    HTTPBackendRef,
    HTTPCORSFilter,
    HTTPHeaderFilter,
    HTTPRequestMirrorFilter,
    HTTPRequestRedirectFilter,
    HTTPRouteFilter,
    HTTPRouteMatch,
    HTTPRouteRule,
    HTTPURLRewriteFilter,
)
from mizzen.config.resource import Resource
from mizzen.gatewayapi import backends
from mizzen.gatewayapi.context import Context
from mizzen.gatewayapi.model import INVALID_FILTER, ConfigError, JSONDict, join_errors

_DURATION_PART = re.compile(r"([0-9]+)(h|ms|m|s)")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1000, "ms": 1}
# Istio's ``retryOn`` when a Gateway API retry stanza is set (connection errors always retried).
_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled")
Result = tuple[JSONDict | None, ConfigError | None]


def duration(text: str) -> str:
    """A Gateway API duration (``1m30s``, ``500ms``) in protobuf JSON form (``90s``, ``0.500s``)."""
    ms = sum(int(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(text))
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms / 1000:.3f}s"


def _ms(text: str) -> int:
    return sum(int(n) * _UNIT_MS[u] for n, u in _DURATION_PART.findall(text))


def http_rule(
    ctx: Context, route: Resource, rule: HTTPRouteRule, match: HTTPRouteMatch | None, pos: int, mesh: bool
) -> Result:
    """One Istio HTTP route for ``rule`` restricted to ``match`` (``None``: no match conditions)."""
    out: JSONDict = {"name": rule.name or f"{route.namespace}.{route.name}.{pos}"}
    if match is not None:
        out["match"] = [_match(match)]
    mirror_error: ConfigError | None = None
    for f in rule.filters:
        error = _filter(ctx, route, f, out, mesh)
        if error is not None and f.type == "RequestMirror":
            mirror_error = error  # the route stays; only the mirror is dropped
        elif error is not None:
            return None, error
    if rule.retry is not None:
        out["retries"] = _retries(rule.retry.attempts, rule.retry.codes, rule.retry.backoff)
    if rule.timeouts is not None:
        _timeouts(out, rule.timeouts.request, rule.timeouts.backend_request)
    if backends.weight_sum(rule.backend_refs) == 0 and "redirect" not in out:
        out["directResponse"] = {"status": 500}  # the Gateway API's answer when no backend has weight
        return out, mirror_error
    dests, backend_error = _destinations(ctx, route, rule.backend_refs, mesh)
    if dests is None:
        return None, backend_error
    if dests:
        out["route"] = dests
    return out, join_errors(backend_error, mirror_error)


def _match(m: HTTPRouteMatch) -> JSONDict:
    out: JSONDict = {"uri": _uri(m.path.type, m.path.value)}
    headers = {h.name: _string_match(h.type, h.value) for h in m.headers}
    if headers:
        out["headers"] = headers
    params = {q.name: _string_match(q.type, q.value) for q in m.query_params}
    if params:
        out["queryParams"] = params
    if m.method is not None:
        out["method"] = {"exact": m.method}
    return out


def _uri(kind: str, value: str) -> JSONDict:
    if kind == "PathPrefix":
        # "When specified, a trailing `/` is ignored."
        return {"prefix": value if value == "/" else value.removesuffix("/")}
    if kind == "Exact":
        return {"exact": value}
    return {"regex": value}


def _string_match(kind: str, value: str) -> JSONDict:
    return {"exact": value} if kind == "Exact" else {"regex": value}


def _filter(ctx: Context, route: Resource, f: HTTPRouteFilter, out: JSONDict, mesh: bool) -> ConfigError | None:
    if f.type in ("RequestHeaderModifier", "ResponseHeaderModifier"):
        modifier = f.request_header_modifier if f.type == "RequestHeaderModifier" else f.response_header_modifier
        ops, error = header_ops(modifier)
        if error is not None:
            return error
        if ops is not None:
            side = "request" if f.type == "RequestHeaderModifier" else "response"
            out.setdefault("headers", {})[side] = ops
    elif f.type == "RequestRedirect" and f.request_redirect is not None:
        out["redirect"] = _redirect(f.request_redirect)
    elif f.type == "RequestMirror" and f.request_mirror is not None:
        mirror, error = mirror_policy(ctx, route, f.request_mirror, mesh)
        if error is not None:
            return error
        out.setdefault("mirrors", []).append(mirror)
    elif f.type == "URLRewrite" and f.url_rewrite is not None:
        rewrite = _rewrite(f.url_rewrite)
        if rewrite:
            out["rewrite"] = rewrite
    elif f.type == "CORS" and f.cors is not None:
        out["corsPolicy"] = _cors(f.cors)
    else:
        return ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"')
    return None


def header_ops(modifier: HTTPHeaderFilter | None) -> tuple[JSONDict | None, ConfigError | None]:
    """Istio header operations of a header modifier filter (names lowercased, first entry wins)."""
    if modifier is None:
        return None, None
    for h in (*modifier.set, *modifier.add):
        if any(c != "\t" and (ord(c) < 0x20 or ord(c) == 0x7F) for c in h.value):
            return None, ConfigError(INVALID_FILTER, f'header "{h.name}" value contains invalid characters')
    out: JSONDict = {}
    for key, values in (("add", modifier.add), ("set", modifier.set)):
        ops: dict[str, str] = {}
        for h in values:
            ops.setdefault(h.name.lower(), h.value)
        if ops:
            out[key] = ops
    if modifier.remove:
        out["remove"] = list(modifier.remove)
    return out, None


def _redirect(f: HTTPRequestRedirectFilter) -> JSONDict:
    out: JSONDict = {"redirectCode": f.status_code}
    if f.hostname:
        out["authority"] = f.hostname
    if f.scheme:
        out["scheme"] = f.scheme
    if f.port is not None:
        out["port"] = f.port
    else:
        # "When empty, port (if specified) of the request is used" (unlike Istio's default).
        out["derivePort"] = "FROM_PROTOCOL_DEFAULT" if f.scheme else "FROM_REQUEST_PORT"
    if f.path is not None:
        if f.path.type == "ReplaceFullPath" and f.path.replace_full_path is not None:
            out["uri"] = f.path.replace_full_path
        elif f.path.type == "ReplacePrefixMatch" and f.path.replace_prefix_match is not None:
            out["prefixRewrite"] = f.path.replace_prefix_match
    return out


def _rewrite(f: HTTPURLRewriteFilter) -> JSONDict:
    out: JSONDict = {}
    if f.path is not None:
        if f.path.type == "ReplacePrefixMatch" and f.path.replace_prefix_match is not None:
            # "/" means removing the prefix (the translator turns it into a regex rewrite).
            out["uri"] = f.path.replace_prefix_match.removesuffix("/") or "/"
        elif f.path.type == "ReplaceFullPath" and f.path.replace_full_path is not None:
            out["uriRegexRewrite"] = {"match": "/.*", "rewrite": f.path.replace_full_path}
    if f.hostname:
        out["authority"] = f.hostname
    return out


def mirror_policy(ctx: Context, route: Resource, f: HTTPRequestMirrorFilter, mesh: bool) -> Result:
    """An Istio ``mirrors`` entry; the percentage from ``fraction`` or ``percent``."""
    dest, error = backends.destination(ctx, f.backend_ref, route.namespace, route.kind, not mesh)
    if error is not None or dest is None:
        return None, error
    out: JSONDict = {"destination": dest}
    if f.fraction is not None:
        out["percentage"] = {"value": 100 * f.fraction.numerator / f.fraction.denominator}
    elif f.percent is not None:
        out["percentage"] = {"value": float(f.percent)}
    return out, None


def _cors(f: HTTPCORSFilter) -> JSONDict:
    out: JSONDict = {"allowOrigins": [_origin(o) for o in f.allow_origins if o]}
    if f.allow_credentials:
        out["allowCredentials"] = True
    for key, values in (("allowMethods", f.allow_methods), ("allowHeaders", f.allow_headers)):
        if values:
            out[key] = list(values)
    if f.expose_headers:
        out["exposeHeaders"] = list(f.expose_headers)
    if f.max_age > 0:
        out["maxAge"] = f"{f.max_age}s"
    out["unmatchedPreflights"] = "IGNORE"
    return out


def _origin(origin: str) -> JSONDict:
    if origin == "*":
        return {"regex": r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+$"}  # any valid origin, as Istio writes it
    if "*" not in origin:
        return {"exact": origin}
    if origin.count("*") == 1 and origin.endswith("*"):
        return {"prefix": origin[:-1]}
    return {"regex": "^" + quote_meta(origin).replace(r"\*", ".*") + "$"}


def _retries(attempts: int | None, codes: Sequence[int], backoff: str | None) -> JSONDict:
    out: JSONDict = {"attempts": 2 if attempts is None else attempts}
    if out["attempts"]:
        out["retryOn"] = ",".join((*_RETRY_ON, *(str(c) for c in codes)))
    if backoff:
        out["backoff"] = duration(backoff)
    return out


def _timeouts(out: JSONDict, request: str | None, backend_request: str | None) -> None:
    if request and _ms(request):
        out["timeout"] = duration(request)
    if backend_request and _ms(backend_request):
        if "retries" in out:
            out["retries"]["perTryTimeout"] = duration(backend_request)
        else:
            out["timeout"] = duration(backend_request)


def _destinations(
    ctx: Context, route: Resource, refs: Sequence[HTTPBackendRef | GRPCBackendRef], mesh: bool
) -> tuple[list[JSONDict] | None, ConfigError | None]:
    soft: ConfigError | None = None
    out: list[JSONDict] = []
    for ref, weight in backends.weights(refs):
        dest, error = backends.destination(ctx, ref, route.namespace, route.kind, not mesh)
        if dest is None or (error is not None and not backends.is_soft(error)):
            return None, error
        soft = error or soft
        entry: JSONDict = {"destination": dest}
        if weight:
            entry["weight"] = weight
        for f in ref.filters:
            if f.type not in ("RequestHeaderModifier", "ResponseHeaderModifier"):
                return None, ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"')
            modifier = f.request_header_modifier if f.type == "RequestHeaderModifier" else f.response_header_modifier
            ops, ferr = header_ops(modifier)
            if ferr is not None:
                return None, ferr
            if ops is not None:
                entry.setdefault("headers", {})["request" if f.type == "RequestHeaderModifier" else "response"] = ops
        out.append(entry)
    return out, soft


def grpc_rule(
    ctx: Context, route: Resource, rule: GRPCRouteRule, match: GRPCRouteMatch | None, pos: int, mesh: bool
) -> Result:
    """One Istio HTTP route for a GRPCRoute ``rule`` restricted to ``match``."""
    out: JSONDict = {"name": rule.name or f"{route.namespace}.{route.name}.{pos}"}
    if match is not None:
        m, error = _grpc_match(match)
        if error is not None:
            return None, error
        out["match"] = [m]
    for f in rule.filters:
        error = _grpc_filter(ctx, route, f, out, mesh)
        if error is not None:
            return None, error
    if backends.weight_sum(rule.backend_refs) == 0:
        out["directResponse"] = {"status": 500}
        return out, None
    dests, backend_error = _destinations(ctx, route, rule.backend_refs, mesh)
    if dests is None:
        return None, backend_error
    out["route"] = dests
    return out, backend_error


def _grpc_match(match: GRPCRouteMatch) -> tuple[JSONDict, ConfigError | None]:
    out: JSONDict = {}
    uri, error = _grpc_uri(match)
    if uri is not None:
        out["uri"] = uri
    headers = {h.name: _string_match(h.type, h.value) for h in match.headers}
    if headers:
        out["headers"] = headers
    return out, error


def _grpc_filter(ctx: Context, route: Resource, f: GRPCRouteFilter, out: JSONDict, mesh: bool) -> ConfigError | None:
    """Apply one GRPCRoute filter to ``out``; header modifiers and mirrors only, as in Istio."""
    if f.type in ("RequestHeaderModifier", "ResponseHeaderModifier"):
        modifier = f.request_header_modifier if f.type == "RequestHeaderModifier" else f.response_header_modifier
        ops, error = header_ops(modifier)
        if ops is not None:
            out.setdefault("headers", {})["request" if f.type == "RequestHeaderModifier" else "response"] = ops
        return error
    if f.type == "RequestMirror" and f.request_mirror is not None:
        mirror, error = mirror_policy(ctx, route, f.request_mirror, mesh)
        if mirror is not None:
            out.setdefault("mirrors", []).append(mirror)
        return error
    return ConfigError(INVALID_FILTER, f'unsupported filter type "{f.type}"')


def _grpc_uri(match: GRPCRouteMatch) -> tuple[JSONDict | None, ConfigError | None]:
    """gRPC's ``/<service>/<method>`` path as an exact, prefix or regex match (Istio's mapping)."""
    m = match.method
    if m is None:
        return None, None
    service, method = m.service, m.method
    if service is None and method is None:
        return None, ConfigError("InvalidConfiguration", "gRPC match must have method or service defined")
    if method is None:
        return ({"prefix": f"/{service}/"} if m.type == "Exact" else {"regex": f"/{service}/.+"}), None
    if service is None:
        return {"regex": f"/[^/]+/{method}"}, None
    return ({"exact": f"/{service}/{method}"} if m.type == "Exact" else {"regex": f"/{service}/{method}"}), None
