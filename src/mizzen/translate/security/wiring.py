"""The security policies of one proxy, read from its :class:`~mizzen.translate.scope.Scope`: what the
listener, gateway, cluster and endpoint builders call to place the part-1 builders.

- inbound HTTP chains and gateways: :func:`http_security_filters` (CUSTOM, jwt_authn, AUDIT/DENY/ALLOW RBAC)
- inbound TCP chains: :func:`tcp_security_filters` (network RBAC, before tcp_proxy)
- the mTLS mode of an inbound port: :func:`peer_authentication`
- outbound clusters: :func:`cluster_transport` (DestinationRule ``tls`` and auto mTLS)
- EDS endpoints: :class:`EndpointLabeller` (the ``tlsMode`` transport-socket match)

Pure: everything comes from the scope's :class:`~mizzen.translate.model.MeshSnapshot`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from mizzen.config.models import Typed
from mizzen.config.models.destination_rule import ClientTLSSettings
from mizzen.config.models.security import PeerAuthentication
from mizzen.registry.model import Endpoint, Service, ServicePort
from mizzen.translate import names as translate_names
from mizzen.translate.model import MeshSnapshot
from mizzen.translate.scope import Scope
from mizzen.translate.security.authz import http_rbac_filters, tcp_rbac_filters
from mizzen.translate.security.endpoints import (
    endpoint_filter_metadata,
    endpoint_mtls_enabled,
    infer_service_mode,
    service_accounts,
)
from mizzen.translate.security.jwt import inbound_http_security_filters, jwt_authn_filter
from mizzen.translate.security.policy import JSON, MtlsMode, Policy, Workload
from mizzen.translate.security.rbac_rules import Context
from mizzen.translate.security.selection import (
    MergedPeerAuthentication,
    authorization_policies_for,
    effective_peer_authentication,
    namespace_mtls_mode,
    request_authentications_for,
)
from mizzen.translate.security.upstream import UpstreamTarget, UpstreamTransport, upstream_transport

S = TypeVar("S")
H2_PROTOCOLS = frozenset({"HTTP2", "GRPC", "GRPC-WEB"})


def _policies(configs: Iterable[Typed[S]]) -> tuple[Policy[S], ...]:
    return tuple(
        Policy(namespace=c.namespace, name=c.name, spec=c.spec, annotations=dict(c.metadata.annotations))
        for c in configs
    )


def peer_authentications(mesh: MeshSnapshot) -> tuple[Policy[PeerAuthentication], ...]:
    """The snapshot's PeerAuthentications as builder input (creation order)."""
    return _policies(mesh.peer_authentications)


def workload_of(scope: Scope) -> Workload:
    """The proxy as the workload policies select."""
    return Workload(scope.proxy.namespace, dict(scope.proxy.labels))


def trust_domains(mesh: MeshSnapshot) -> list[str]:
    """The mesh's trust domain and its aliases (peers of any of them are accepted)."""
    return [mesh.mesh.trust_domain, *mesh.mesh.trust_domain_aliases]


def _context(scope: Scope, port_map: Mapping[int, int]) -> Context:
    mesh = scope.mesh.mesh
    return Context(
        policy_namespace=scope.proxy.namespace,
        trust_domain=mesh.trust_domain,
        trust_domain_aliases=mesh.trust_domain_aliases,
        port_map=dict(port_map),
    )


def _jwks_cluster(scope: Scope, host: str, port: int) -> str | None:
    """The outbound cluster Envoy fetches a jwksUri through (a service of the proxy's scope)."""
    svc = scope.service(host)
    if svc is None or svc.port(port) is None:
        return None
    return translate_names.outbound_cluster(port, "", svc.hostname)


def http_security_filters(scope: Scope, port_map: Mapping[int, int] | None = None) -> list[JSON]:
    """The security HTTP filters of the proxy's policies, in Istio's order (go before fault/cors/router).

    ``port_map`` maps workload ports to the ports connections really arrive on (a sidecar's listener
    ports); gateways bind the numbers their policies name, so they pass none.
    """
    mesh = scope.mesh
    root = mesh.mesh.root_namespace
    workload = workload_of(scope)
    authz = authorization_policies_for(_policies(mesh.authorization_policies), workload, root)
    ras = request_authentications_for(_policies(mesh.request_authentications), workload, root)
    rbac = http_rbac_filters(authz, _context(scope, port_map or {}))
    jwt = jwt_authn_filter(
        ras, lambda host, port: _jwks_cluster(scope, host, port), clear_route_cache=scope.proxy.type == "router"
    )
    return inbound_http_security_filters(rbac, jwt)


def tcp_security_filters(scope: Scope, port_map: Mapping[int, int] | None = None) -> list[JSON]:
    """The network RBAC filters of the proxy's AuthorizationPolicies (go before tcp_proxy)."""
    mesh = scope.mesh
    authz = authorization_policies_for(
        _policies(mesh.authorization_policies), workload_of(scope), mesh.mesh.root_namespace
    )
    return list(tcp_rbac_filters(authz, _context(scope, port_map or {})).filters)


def peer_authentication(scope: Scope) -> MergedPeerAuthentication:
    """The proxy's effective PeerAuthentication (its inbound listeners' modes)."""
    mesh = scope.mesh
    return effective_peer_authentication(peer_authentications(mesh), workload_of(scope), mesh.mesh.root_namespace)


# -- outbound -------------------------------------------------------------------------------------


def service_mode(mesh: MeshSnapshot, svc: Service, endpoints: Sequence[Endpoint], passthrough: bool) -> MtlsMode | None:
    """The mTLS mode a client assumes for ``svc`` (Istio's best-effort inference)."""
    ns_mode = namespace_mtls_mode(peer_authentications(mesh), svc.namespace, mesh.mesh.root_namespace)
    return infer_service_mode(
        mesh_external=svc.location == "MESH_EXTERNAL",
        passthrough=passthrough,
        endpoint_tls_modes=[e.tls_mode for e in endpoints],
        namespace_mode=ns_mode,
    )


def cluster_transport(
    scope: Scope,
    svc: Service,
    port: ServicePort,
    subset: str,
    tls: ClientTLSSettings | None,
    *,
    dynamic: bool,
    passthrough: bool,
) -> UpstreamTransport:
    """The transport socket(s) of one outbound cluster: DR ``tls`` (already merged for the subset and
    port), else auto mTLS to endpoints that run a sidecar."""
    mesh = scope.mesh
    endpoints = scope.endpoints_of(svc.hostname, port.number)
    policy = scope.destination_policy(svc.hostname)
    source = policy.source
    extra: tuple[str, ...] = ()
    target = UpstreamTarget(
        cluster_name=translate_names.outbound_cluster(port.number, subset, svc.hostname),
        sni=translate_names.sni_key(port.number, subset, svc.hostname),
        service_accounts=service_accounts(
            ((e.namespace or svc.namespace, e.service_account) for e in endpoints), mesh.mesh.trust_domain, extra
        ),
        mesh_external=svc.location == "MESH_EXTERNAL",
        service_entry=svc.source_kind == "ServiceEntry",
        http2=port.protocol.upper() in H2_PROTOCOLS,
        dynamic=dynamic,
        sidecar=scope.proxy.type == "sidecar",
        dr_has_workload_selector=source is not None and source.spec.workload_selector is not None,
    )
    return upstream_transport(
        tls,
        target,
        service_mode=service_mode(mesh, svc, endpoints, passthrough),
        auto_mtls=mesh.mesh.enable_auto_mtls,
    )


@dataclass
class EndpointLabeller:
    """Auto mTLS metadata for EDS endpoints: ``tlsMode: istio`` on endpoints whose workload runs a
    sidecar that accepts mTLS on the endpoint's port (memoized per workload while one build runs)."""

    mesh: MeshSnapshot
    _policies: tuple[Policy[PeerAuthentication], ...] | None = None
    _modes: dict[tuple[str, tuple[tuple[str, str], ...]], MergedPeerAuthentication] = field(default_factory=dict)

    def _peer_authentication(self, ep: Endpoint) -> MergedPeerAuthentication:
        key = (ep.namespace, ep.labels)
        merged = self._modes.get(key)
        if merged is None:
            if self._policies is None:
                self._policies = peer_authentications(self.mesh)
            merged = effective_peer_authentication(
                self._policies, Workload(ep.namespace, ep.label_map), self.mesh.mesh.root_namespace
            )
            self._modes[key] = merged
        return merged

    def for_cluster(self, dr_tls: ClientTLSSettings | None) -> Callable[[Endpoint], JSON]:
        """:meth:`filter_metadata` for the endpoints of one cluster."""
        return lambda ep: self.filter_metadata(ep, dr_tls)

    def filter_metadata(self, ep: Endpoint, dr_tls: ClientTLSSettings | None) -> JSON:
        """Entries to merge into the endpoint's ``filter_metadata`` for a cluster whose DR TLS is ``dr_tls``."""
        if not ep.tls_mode:
            return {}
        dr_mode = (dr_tls.mode or "DISABLE") if dr_tls is not None else None
        port_mode = self._peer_authentication(ep).mode_for_port(ep.service_port)
        return endpoint_filter_metadata(ep.tls_mode, endpoint_mtls_enabled(dr_mode, ep.tls_mode, port_mode))
