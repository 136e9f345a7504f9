"""The Gateway API's routes (``HTTPRoute``, ``GRPCRoute``, ``TCPRoute``, ``TLSRoute``) and the references
they share with Gateways, as the CRDs (Gateway API v1.6) describe them; see :mod:`.gateway_api`."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from mizzen.config.schema import fld

PathMatchType = Literal["Exact", "PathPrefix", "RegularExpression"]
ValueMatchType = Literal["Exact", "RegularExpression"]
HTTPMethod = Literal["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
HTTPFilterType = Literal[
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "RequestRedirect",
    "URLRewrite",
    "ExtensionRef",
    "CORS",
    "ExternalAuth",
]
GRPCFilterType = Literal["ResponseHeaderModifier", "RequestHeaderModifier", "RequestMirror", "ExtensionRef"]
PathModifierType = Literal["ReplaceFullPath", "ReplacePrefixMatch"]


@dataclass(frozen=True)
class ParentReference:
    """A route's parent: a Gateway (default), or a Service for mesh (GAMMA) routing."""

    group: str = fld("gateway.networking.k8s.io")
    kind: str = fld("Gateway")
    name: str = fld("", required=True)
    namespace: str | None = fld()
    section_name: str | None = fld()
    port: int | None = fld()


@dataclass(frozen=True)
class BackendObjectReference:
    """A backend: a Service (default) or another kind a controller may support."""

    group: str = fld("")
    kind: str = fld("Service")
    name: str = fld("", required=True)
    namespace: str | None = fld()
    port: int | None = fld()


@dataclass(frozen=True)
class LocalObjectReference:
    """An extensionRef: a same-namespace object of some controller's kind."""

    group: str = fld("", required=True)
    kind: str = fld("", required=True)
    name: str = fld("", required=True)


# -- routes ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HTTPHeader:
    """A header name and value."""

    name: str = fld("", required=True)
    value: str = fld("", required=True)


@dataclass(frozen=True)
class HTTPHeaderFilter:
    """Set, add and remove headers."""

    set: tuple[HTTPHeader, ...] = fld(())
    add: tuple[HTTPHeader, ...] = fld(())
    remove: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class HTTPPathModifier:
    """Replace the whole path or the matched prefix."""

    type: PathModifierType = fld("ReplaceFullPath", required=True)
    replace_full_path: str | None = fld()
    replace_prefix_match: str | None = fld()


@dataclass(frozen=True)
class HTTPRequestRedirectFilter:
    """Answer with a redirect."""

    scheme: Literal["http", "https"] | None = fld()
    hostname: str | None = fld()
    path: HTTPPathModifier | None = fld()
    port: int | None = fld()
    status_code: Literal[301, 302, 303, 307, 308] = fld(302)


@dataclass(frozen=True)
class HTTPURLRewriteFilter:
    """Rewrite the host and/or path before forwarding."""

    hostname: str | None = fld()
    path: HTTPPathModifier | None = fld()


@dataclass(frozen=True)
class Fraction:
    """numerator/denominator."""

    numerator: int = fld(0, required=True)
    denominator: int = fld(100)


@dataclass(frozen=True)
class HTTPRequestMirrorFilter:
    """Mirror requests to a backend."""

    backend_ref: BackendObjectReference = fld(BackendObjectReference(), required=True)
    percent: int | None = fld()
    fraction: Fraction | None = fld()


@dataclass(frozen=True)
class HTTPCORSFilter:
    """CORS answers."""

    allow_origins: tuple[str, ...] = fld(())
    allow_credentials: bool | None = fld()
    allow_methods: tuple[str, ...] = fld(())
    allow_headers: tuple[str, ...] = fld(())
    expose_headers: tuple[str, ...] = fld(())
    max_age: int = fld(5)


@dataclass(frozen=True)
class HTTPRouteFilter:
    """One filter of a rule or backend; ``type`` says which field is set."""

    type: HTTPFilterType = fld("RequestHeaderModifier", required=True)
    request_header_modifier: HTTPHeaderFilter | None = fld()
    response_header_modifier: HTTPHeaderFilter | None = fld()
    request_mirror: HTTPRequestMirrorFilter | None = fld()
    request_redirect: HTTPRequestRedirectFilter | None = fld()
    url_rewrite: HTTPURLRewriteFilter | None = fld()
    cors: HTTPCORSFilter | None = fld()
    extension_ref: LocalObjectReference | None = fld()
    external_auth: Any = fld()


@dataclass(frozen=True)
class HTTPPathMatch:
    """The path match; the CRD defaults it to PathPrefix ``/``."""

    type: PathMatchType = fld("PathPrefix")
    value: str = fld("/")


@dataclass(frozen=True)
class HTTPHeaderMatch:
    """A header (or query parameter) match."""

    name: str = fld("", required=True)
    value: str = fld("", required=True)
    type: ValueMatchType = fld("Exact")


@dataclass(frozen=True)
class HTTPRouteMatch:
    """One match; all its conditions must hold."""

    path: HTTPPathMatch = fld(HTTPPathMatch())
    headers: tuple[HTTPHeaderMatch, ...] = fld(())
    query_params: tuple[HTTPHeaderMatch, ...] = fld(())
    method: HTTPMethod | None = fld()


@dataclass(frozen=True)
class HTTPRouteTimeouts:
    """Request and backend-request timeouts (Gateway API durations)."""

    request: str | None = fld()
    backend_request: str | None = fld()


@dataclass(frozen=True)
class HTTPRouteRetry:
    """Retries (experimental)."""

    codes: tuple[int, ...] = fld(())
    attempts: int | None = fld()
    backoff: str | None = fld()


@dataclass(frozen=True)
class HTTPBackendRef(BackendObjectReference):
    """A weighted backend with its own filters."""

    weight: int = fld(1)
    filters: tuple[HTTPRouteFilter, ...] = fld(())


@dataclass(frozen=True)
class HTTPRouteRule:
    """A rule: matches, filters and weighted backends. No matches means one PathPrefix ``/`` match."""

    name: str | None = fld()
    matches: tuple[HTTPRouteMatch, ...] = fld((HTTPRouteMatch(),))
    filters: tuple[HTTPRouteFilter, ...] = fld(())
    backend_refs: tuple[HTTPBackendRef, ...] = fld(())
    timeouts: HTTPRouteTimeouts | None = fld()
    retry: HTTPRouteRetry | None = fld()
    session_persistence: Any = fld()


@dataclass(frozen=True)
class HTTPRoute:
    """The spec of an HTTPRoute."""

    parent_refs: tuple[ParentReference, ...] = fld(())
    hostnames: tuple[str, ...] = fld(())
    rules: tuple[HTTPRouteRule, ...] = fld((HTTPRouteRule(),))
    use_default_gateways: Literal["All", "None"] | None = fld()


@dataclass(frozen=True)
class GRPCMethodMatch:
    """A gRPC service/method match."""

    type: ValueMatchType = fld("Exact")
    service: str | None = fld()
    method: str | None = fld()


@dataclass(frozen=True)
class GRPCRouteMatch:
    """One gRPC match."""

    method: GRPCMethodMatch | None = fld()
    headers: tuple[HTTPHeaderMatch, ...] = fld(())


@dataclass(frozen=True)
class GRPCRouteFilter:
    """One filter of a gRPC rule or backend."""

    type: GRPCFilterType = fld("RequestHeaderModifier", required=True)
    request_header_modifier: HTTPHeaderFilter | None = fld()
    response_header_modifier: HTTPHeaderFilter | None = fld()
    request_mirror: HTTPRequestMirrorFilter | None = fld()
    extension_ref: LocalObjectReference | None = fld()


@dataclass(frozen=True)
class GRPCBackendRef(BackendObjectReference):
    """A weighted gRPC backend."""

    weight: int = fld(1)
    filters: tuple[GRPCRouteFilter, ...] = fld(())


@dataclass(frozen=True)
class GRPCRouteRule:
    """A gRPC rule."""

    name: str | None = fld()
    matches: tuple[GRPCRouteMatch, ...] = fld(())
    filters: tuple[GRPCRouteFilter, ...] = fld(())
    backend_refs: tuple[GRPCBackendRef, ...] = fld(())
    session_persistence: Any = fld()


@dataclass(frozen=True)
class GRPCRoute:
    """The spec of a GRPCRoute."""

    parent_refs: tuple[ParentReference, ...] = fld(())
    hostnames: tuple[str, ...] = fld(())
    rules: tuple[GRPCRouteRule, ...] = fld(())
    use_default_gateways: Literal["All", "None"] | None = fld()


@dataclass(frozen=True)
class BackendRef(BackendObjectReference):
    """A weighted L4 backend."""

    weight: int = fld(1)


@dataclass(frozen=True)
class L4RouteRule:
    """A TCPRoute or TLSRoute rule: weighted backends."""

    name: str | None = fld()
    backend_refs: tuple[BackendRef, ...] = fld((), required=True)


@dataclass(frozen=True)
class TCPRoute:
    """The spec of a TCPRoute."""

    parent_refs: tuple[ParentReference, ...] = fld(())
    rules: tuple[L4RouteRule, ...] = fld((), required=True)
    use_default_gateways: Literal["All", "None"] | None = fld()


@dataclass(frozen=True)
class TLSRoute:
    """The spec of a TLSRoute: SNI hostnames and backends."""

    parent_refs: tuple[ParentReference, ...] = fld(())
    hostnames: tuple[str, ...] = fld(())
    rules: tuple[L4RouteRule, ...] = fld((), required=True)
    use_default_gateways: Literal["All", "None"] | None = fld()
