"""Auto mTLS on the endpoint side: the EDS metadata that tells a client's cluster which endpoints run a
sidecar (Istio's ``pilot/pkg/xds/endpoints/mtls_checker.go`` and ``AppendLbEndpointMetadata``), and the
mode Istio infers for a destination service (``BestEffortInferServiceMTLSMode``).

An endpoint carries ``filter_metadata["envoy.transport_socket_match"] = {"tlsMode": "istio"}`` when its
workload runs a sidecar (label ``security.istio.io/tlsMode: istio``; agent-registered workloads carry it)
and mTLS to it is on: a DestinationRule TLS mode for the cluster decides (only ISTIO_MUTUAL keeps the
label); with none, the endpoint's own PeerAuthentication for its port must not be DISABLE.
"""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.config.models.destination_rule import DestinationRule, TrafficPolicy
from mizzen.translate.security import names
from mizzen.translate.security.policy import JSON, MtlsMode

TlsModeName = str  # "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL"


def _policy_tls_mode(policy: TrafficPolicy | None, port: int) -> TlsModeName | None:
    """The TLS mode a traffic policy sets for ``port``: a port-level ``tls`` wins over the top level."""
    if policy is None:
        return None
    mode = (policy.tls.mode or "DISABLE") if policy.tls is not None else None
    for settings in policy.port_level_settings:
        if settings.port is not None and settings.port.number == port and settings.tls is not None:
            return settings.tls.mode or "DISABLE"
    return mode


def dr_tls_mode_for_endpoints(dr: DestinationRule | None, subset: str | None, port: int) -> TlsModeName | None:
    """The DR's TLS mode for a cluster's endpoints: the subset's, else the DR's (``None``: not set)."""
    if dr is None:
        return None
    if not subset:
        return _policy_tls_mode(dr.traffic_policy, port)
    for s in dr.subsets:
        if s.name == subset:
            return _policy_tls_mode(s.traffic_policy, port) or _policy_tls_mode(dr.traffic_policy, port)
    return None


def endpoint_mtls_enabled(dr_mode: TlsModeName | None, endpoint_tls_mode: str, endpoint_port_mode: MtlsMode) -> bool:
    """Whether the endpoint keeps its ``tlsMode`` label in EDS.

    ``endpoint_port_mode`` is the endpoint workload's effective PeerAuthentication mode for the
    endpoint's workload port (:func:`mizzen.translate.security.selection.effective_peer_authentication`).
    """
    if dr_mode is not None:
        return dr_mode == "ISTIO_MUTUAL"
    return endpoint_tls_mode == names.TLS_MODE_ISTIO and endpoint_port_mode != "DISABLE"


def endpoint_filter_metadata(endpoint_tls_mode: str, mtls_enabled: bool) -> JSON:
    """Entries to merge into an LbEndpoint's ``metadata.filter_metadata``: the transport-socket match
    label, or nothing (``disabled`` and unlabelled endpoints get none, as in Istio)."""
    if not mtls_enabled or endpoint_tls_mode in ("", "disabled"):
        return {}
    return {names.TRANSPORT_SOCKET_MATCH: {names.TLS_MODE_KEY: endpoint_tls_mode}}


def infer_service_mode(
    *,
    mesh_external: bool,
    passthrough: bool,
    endpoint_tls_modes: Iterable[str],
    namespace_mode: MtlsMode | None,
) -> MtlsMode | None:
    """The mode a client assumes for a service (Istio's BestEffortInferServiceMTLSMode): ``None`` for
    MESH_EXTERNAL; for passthrough services (resolution NONE or LB PASSTHROUGH) DISABLE unless every
    endpoint runs a sidecar; else the namespace's mode
    (:func:`mizzen.translate.security.selection.namespace_mtls_mode`), PERMISSIVE by default."""
    if mesh_external:
        return None
    if passthrough:
        modes = list(endpoint_tls_modes)
        if not modes or any(m == "disabled" for m in modes):
            return "DISABLE"
    return namespace_mode or "PERMISSIVE"


def service_accounts(
    identities: Iterable[tuple[str, str]], trust_domain: str, extra: Iterable[str] = ()
) -> tuple[str, ...]:
    """SPIFFE IDs of a service's workloads (``(namespace, service account)`` pairs; empty accounts are
    skipped) plus ``extra`` (a ServiceEntry's ``subjectAltNames``), sorted and unique."""
    ids = {names.spiffe_id(trust_domain, ns, sa) for ns, sa in identities if sa}
    return tuple(sorted(ids | set(extra)))
