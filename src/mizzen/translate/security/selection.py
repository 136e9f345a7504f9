"""Which security policies apply to one workload, and its effective mTLS mode per port (Istio's
``pilot/pkg/model/authentication.go``, ``authorization.go``, ``policyattachment.go`` and
``security/authn/policy_applier.go`` rules).

Theory of operation
-------------------
PeerAuthentication: the candidates are the policies of the workload's namespace and of the mesh root
namespace whose selector matches the workload. Of those, the *oldest* mesh-wide one (root namespace,
no selector labels), the oldest namespace-wide one and the oldest workload one (selector labels, not
in the root namespace: a selector in the root namespace is ignored) are layered in that order; a layer
whose mode is UNSET (or absent) inherits the one below, and the bottom is PERMISSIVE.
``portLevelMtls`` is read from the workload layer only; an UNSET port takes the workload's mode.

AuthorizationPolicy and RequestAuthentication: policies of the root namespace, then of the workload's
namespace, in creation order, that attach to the workload. A policy with ``targetRef(s)`` attaches only
to a Gateway API gateway (a workload labelled ``gateway.networking.k8s.io/gateway-name``) it names, in
its own namespace; one without attaches by selector (such a gateway accepts selector policies too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.models.security import AuthorizationPolicy, MutualTLS, PeerAuthentication, RequestAuthentication
from mizzen.translate.security.policy import MtlsMode, Policy, Workload, is_namespace_wide, selector_matches

GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
DEFAULT_MODE: MtlsMode = "PERMISSIVE"

P = TypeVar("P")


@dataclass(frozen=True)
class MergedPeerAuthentication:
    """The effective PeerAuthentication of a workload (Istio's ``MergedPeerAuthentication``)."""

    mode: MtlsMode = DEFAULT_MODE
    per_port: Mapping[int, MtlsMode] = field(default_factory=dict)
    applied: tuple[Policy[PeerAuthentication], ...] = ()  # the policies whose selector matches

    def mode_for_port(self, port: int) -> MtlsMode:
        """The mode of a workload port: its ``portLevelMtls`` entry, else the workload's."""
        return self.per_port.get(port, self.mode)


def _mode(mtls: MutualTLS | None) -> MtlsMode | None:
    """A set mode, or ``None`` for UNSET/absent (inherit)."""
    mode = mtls.mode if mtls is not None else None
    if mode is None or mode == "UNSET":
        return None
    return mode


def matching_peer_authentications(
    policies: Iterable[Policy[PeerAuthentication]], workload: Workload, root_namespace: str
) -> tuple[Policy[PeerAuthentication], ...]:
    """PeerAuthentications of the workload's and the root namespace whose selector matches it."""
    return tuple(
        p
        for p in policies
        if p.namespace in (workload.namespace, root_namespace) and selector_matches(p.spec.selector, workload.labels)
    )


def compose_peer_authentication(
    matched: Sequence[Policy[PeerAuthentication]], root_namespace: str
) -> MergedPeerAuthentication:
    """Layer the oldest mesh, namespace and workload policy of ``matched`` (creation order)."""
    wide = [p for p in matched if is_namespace_wide(p.spec.selector)]
    mesh = next((p for p in wide if p.namespace == root_namespace), None)
    namespace = next((p for p in wide if p.namespace != root_namespace), None)
    workload = next((p for p in matched if p not in wide and p.namespace != root_namespace), None)
    mode: MtlsMode = DEFAULT_MODE
    for layer in (mesh, namespace, workload):
        if layer is not None:
            mode = _mode(layer.spec.mtls) or mode
    per_port: dict[int, MtlsMode] = {}
    if workload is not None:
        for port, mtls in sorted(workload.spec.port_level_mtls.items(), key=lambda kv: int(kv[0])):
            per_port[int(port)] = _mode(mtls) or mode
    return MergedPeerAuthentication(mode=mode, per_port=per_port, applied=tuple(matched))


def effective_peer_authentication(
    policies: Iterable[Policy[PeerAuthentication]], workload: Workload, root_namespace: str
) -> MergedPeerAuthentication:
    """The effective mTLS settings of ``workload`` (what its inbound listeners enforce)."""
    return compose_peer_authentication(
        matching_peer_authentications(policies, workload, root_namespace), root_namespace
    )


def namespace_mtls_mode(
    policies: Iterable[Policy[PeerAuthentication]], namespace: str, root_namespace: str
) -> MtlsMode | None:
    """The namespace-level mode Istio infers for clients (``GetNamespaceMutualTLSMode``): the oldest
    namespace-wide policy of ``namespace`` (UNSET inherits the mesh), else the mesh-wide one; ``None``
    when neither exists."""
    wide = [p for p in policies if is_namespace_wide(p.spec.selector)]
    mesh = next((p for p in wide if p.namespace == root_namespace), None)
    mesh_mode = (_mode(mesh.spec.mtls) or DEFAULT_MODE) if mesh is not None else None
    if namespace != root_namespace:
        ns = next((p for p in wide if p.namespace == namespace), None)
        if ns is not None:
            return _mode(ns.spec.mtls) or mesh_mode or DEFAULT_MODE
    return mesh_mode


def _target_refs(
    refs: tuple[PolicyTargetReference, ...], single: PolicyTargetReference | None
) -> tuple[PolicyTargetReference, ...]:
    """``targetRefs``, or the deprecated single ``targetRef`` when that is all there is."""
    return refs or ((single,) if single is not None else ())


def attaches(
    namespace: str,
    selector: LabelSelector | None,
    target_refs: Sequence[PolicyTargetReference],
    workload: Workload,
) -> bool:
    """Istio's ``ShouldAttachPolicy`` for a policy in ``namespace`` and a (non-waypoint) workload."""
    gateway = workload.labels.get(GATEWAY_NAME_LABEL)
    if gateway is None:
        return not target_refs and selector_matches(selector, workload.labels)
    if not target_refs:
        return selector_matches(selector, workload.labels)
    if namespace != workload.namespace:
        return False
    return any(
        (ref.namespace or workload.namespace) == workload.namespace
        and (ref.group or "") == GATEWAY_API_GROUP
        and ref.kind == "Gateway"
        and ref.name == gateway
        for ref in target_refs
    )


@dataclass(frozen=True)
class AuthorizationPolicies:
    """The AuthorizationPolicies that apply to a workload, by action (Istio's
    ``AuthorizationPoliciesResult``); each list in root-namespace-first, creation order."""

    custom: tuple[Policy[AuthorizationPolicy], ...] = ()
    deny: tuple[Policy[AuthorizationPolicy], ...] = ()
    allow: tuple[Policy[AuthorizationPolicy], ...] = ()
    audit: tuple[Policy[AuthorizationPolicy], ...] = ()

    def all(self) -> tuple[Policy[AuthorizationPolicy], ...]:
        """Every applying policy, in evaluation order (CUSTOM, DENY, ALLOW, AUDIT last: it never decides)."""
        return self.custom + self.deny + self.allow + self.audit


def _scoped(policies: Iterable[Policy[P]], workload: Workload, root_namespace: str) -> list[Policy[P]]:
    listed = list(policies)
    order = [root_namespace] + ([workload.namespace] if workload.namespace != root_namespace else [])
    return [p for ns in order for p in listed if p.namespace == ns]


def authorization_policies_for(
    policies: Iterable[Policy[AuthorizationPolicy]], workload: Workload, root_namespace: str
) -> AuthorizationPolicies:
    """The AuthorizationPolicies of the root and the workload's namespace that attach to it."""
    by_action: dict[str, list[Policy[AuthorizationPolicy]]] = {"CUSTOM": [], "DENY": [], "ALLOW": [], "AUDIT": []}
    for p in _scoped(policies, workload, root_namespace):
        if attaches(p.namespace, p.spec.selector, _target_refs(p.spec.target_refs, p.spec.target_ref), workload):
            by_action[p.spec.action or "ALLOW"].append(p)
    return AuthorizationPolicies(
        custom=tuple(by_action["CUSTOM"]),
        deny=tuple(by_action["DENY"]),
        allow=tuple(by_action["ALLOW"]),
        audit=tuple(by_action["AUDIT"]),
    )


def request_authentications_for(
    policies: Iterable[Policy[RequestAuthentication]], workload: Workload, root_namespace: str
) -> tuple[Policy[RequestAuthentication], ...]:
    """The RequestAuthentications of the workload's and the root namespace that attach to it."""
    listed = list(policies)
    order = [workload.namespace] + ([root_namespace] if workload.namespace != root_namespace else [])
    return tuple(
        p
        for ns in order
        for p in listed
        if p.namespace == ns
        and attaches(p.namespace, p.spec.selector, _target_refs(p.spec.target_refs, p.spec.target_ref), workload)
    )
