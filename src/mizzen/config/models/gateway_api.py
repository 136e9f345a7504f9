"""The Kubernetes Gateway API (``gateway.networking.k8s.io``): GatewayClass, Gateway, the routes and
ReferenceGrant, as their CRDs (Gateway API v1.6, standard and experimental channels) describe them.

Field names, enums and the CRD defaults that change meaning (path match, weights, rule matches) follow
the CRDs; the CRDs' size limits and CEL rules are checked in :mod:`mizzen.config.rules.gateway_api`.
"""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
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
FromNamespaces = Literal["All", "Selector", "Same", "None"]
TLSModeType = Literal["Terminate", "Passthrough"]


# -- references ------------------------------------------------------------------------------
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
class SecretObjectReference:
    """A certificate reference (a Secret by default)."""

    group: str = fld("")
    kind: str = fld("Secret")
    name: str = fld("", required=True)
    namespace: str | None = fld()


@dataclass(frozen=True)
class ObjectReference:
    """A reference with a required group and kind (CA certificates, parametersRef)."""

    group: str = fld("", required=True)
    kind: str = fld("", required=True)
    name: str = fld("", required=True)
    namespace: str | None = fld()


@dataclass(frozen=True)
class LocalObjectReference:
    """An extensionRef: a same-namespace object of some controller's kind."""

    group: str = fld("", required=True)
    kind: str = fld("", required=True)
    name: str = fld("", required=True)


@dataclass(frozen=True)
class LabelSelectorRequirement:
    """One ``matchExpressions`` entry."""

    key: str = fld("", required=True)
    operator: str = fld("", required=True)
    values: tuple[str, ...] = fld(())


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector."""

    match_labels: Mapping[str, str] = fld(dict)
    match_expressions: tuple[LabelSelectorRequirement, ...] = fld(())


# -- GatewayClass and Gateway ----------------------------------------------------------------
@dataclass(frozen=True)
class GatewayClass:
    """The spec of a GatewayClass: which controller implements Gateways of this class."""

    controller_name: str = fld("", required=True)
    description: str | None = fld()
    parameters_ref: ObjectReference | None = fld()


@dataclass(frozen=True)
class RouteNamespaces:
    """Which namespaces may attach routes to a listener."""

    from_: FromNamespaces = fld("Same", json="from")
    selector: LabelSelector | None = fld()


@dataclass(frozen=True)
class RouteGroupKind:
    """A route kind a listener admits."""

    group: str = fld("gateway.networking.k8s.io")
    kind: str = fld("", required=True)


@dataclass(frozen=True)
class AllowedRoutes:
    """The routes a listener admits."""

    namespaces: RouteNamespaces = fld(RouteNamespaces())
    kinds: tuple[RouteGroupKind, ...] = fld(())


@dataclass(frozen=True)
class ListenerTLSConfig:
    """A listener's TLS: terminate with certificateRefs, or pass through."""

    mode: TLSModeType = fld("Terminate")
    certificate_refs: tuple[SecretObjectReference, ...] = fld(())
    options: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class Listener:
    """One listener of a Gateway."""

    name: str = fld("", required=True)
    hostname: str | None = fld()
    port: int = fld(0, required=True)
    protocol: str = fld("", required=True)
    tls: ListenerTLSConfig | None = fld()
    allowed_routes: AllowedRoutes = fld(AllowedRoutes())


@dataclass(frozen=True)
class GatewaySpecAddress:
    """A requested address: a Service hostname (manual deployment) or an IP."""

    type: str = fld("IPAddress")
    value: str = fld("")


@dataclass(frozen=True)
class AllowedListeners:
    """Which namespaces' ListenerSets may attach (experimental)."""

    namespaces: RouteNamespaces = fld(RouteNamespaces(from_="None"))


@dataclass(frozen=True)
class GatewayInfrastructure:
    """Labels and annotations for the deployed gateway, and its parameters."""

    labels: Mapping[str, str] = fld(dict)
    annotations: Mapping[str, str] = fld(dict)
    parameters_ref: ObjectReference | None = fld()


@dataclass(frozen=True)
class CACertificateValidation:
    """Client certificate validation of the frontend TLS."""

    ca_certificate_refs: tuple[ObjectReference, ...] = fld((), required=True)
    mode: Literal["AllowValidOnly", "AllowInsecureFallback"] = fld("AllowValidOnly")


@dataclass(frozen=True)
class FrontendTLSConfig:
    """A frontend TLS validation setting."""

    validation: CACertificateValidation | None = fld()


@dataclass(frozen=True)
class TLSPortConfig:
    """A per-port frontend TLS setting."""

    port: int = fld(0, required=True)
    tls: FrontendTLSConfig = fld(FrontendTLSConfig(), required=True)


@dataclass(frozen=True)
class FrontendTLS:
    """Frontend (client certificate) validation, by default and per port."""

    default: FrontendTLSConfig = fld(FrontendTLSConfig(), required=True)
    per_port: tuple[TLSPortConfig, ...] = fld(())


@dataclass(frozen=True)
class BackendTLS:
    """The client certificate the gateway presents to backends."""

    client_certificate_ref: SecretObjectReference | None = fld()


@dataclass(frozen=True)
class GatewayTLSConfig:
    """Gateway-wide TLS settings."""

    frontend: FrontendTLS | None = fld()
    backend: BackendTLS | None = fld()


@dataclass(frozen=True)
class Gateway:
    """The spec of a Gateway API Gateway (``KubernetesGateway`` inside Mizzen, as in Istio)."""

    gateway_class_name: str = fld("", required=True)
    listeners: tuple[Listener, ...] = fld((), required=True)
    addresses: tuple[GatewaySpecAddress, ...] = fld(())
    infrastructure: GatewayInfrastructure | None = fld()
    allowed_listeners: AllowedListeners | None = fld()
    tls: GatewayTLSConfig | None = fld()
    default_scope: Literal["All", "None"] | None = fld()


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


# -- ReferenceGrant --------------------------------------------------------------------------
@dataclass(frozen=True)
class ReferenceGrantFrom:
    """Which kind in which namespace may refer."""

    group: str = fld("", required=True)
    kind: str = fld("", required=True)
    namespace: str = fld("", required=True)


@dataclass(frozen=True)
class ReferenceGrantTo:
    """What may be referred to in the grant's namespace (all of a kind when ``name`` is unset)."""

    group: str = fld("", required=True)
    kind: str = fld("", required=True)
    name: str | None = fld()


@dataclass(frozen=True)
class ReferenceGrant:
    """The spec of a ReferenceGrant."""

    from_: tuple[ReferenceGrantFrom, ...] = fld((), json="from", required=True)
    to: tuple[ReferenceGrantTo, ...] = fld((), required=True)


SPEC_MODELS: dict[str, type] = {
    "GatewayClass": GatewayClass,
    "KubernetesGateway": Gateway,
    "HTTPRoute": HTTPRoute,
    "GRPCRoute": GRPCRoute,
    "TCPRoute": TCPRoute,
    "TLSRoute": TLSRoute,
    "ReferenceGrant": ReferenceGrant,
}
"""The models of the Gateway API kinds, by Mizzen's kind name."""
