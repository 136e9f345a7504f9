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
from typing import Literal

from mizzen.config.models import gateway_api_routes as routes
from mizzen.config.schema import fld

FromNamespaces = Literal["All", "Selector", "Same", "None"]
TLSModeType = Literal["Terminate", "Passthrough"]


# -- references ------------------------------------------------------------------------------
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


SPEC_MODELS: dict[str, type] = {  # the routes' models are in gateway_api_routes
    "GatewayClass": GatewayClass,
    "KubernetesGateway": Gateway,
    "HTTPRoute": routes.HTTPRoute,
    "GRPCRoute": routes.GRPCRoute,
    "TCPRoute": routes.TCPRoute,
    "TLSRoute": routes.TLSRoute,
    "ReferenceGrant": ReferenceGrant,
}
"""The models of the Gateway API kinds, by Mizzen's kind name."""
