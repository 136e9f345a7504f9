"""``describe`` lines for security, as ``istioctl x describe pod`` prints them.

    Effective PeerAuthentication:
       Workload mTLS mode: STRICT
       Port Level mTLS mode:
          9080: PERMISSIVE
    Applied PeerAuthentication:
       default.istio-system, ratings-strict.default
    RBAC policies: ns[default]-policy[productpage-viewer]-rule[0]

The mode is the one the workload's inbound listeners really enforce (the same
:func:`~mizzen.translate.security.selection.compose_peer_authentication` the listeners are built
from), and the RBAC line reads the generated filters, as istioctl reads the proxy's config dump.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from mizzen.translate.security import names
from mizzen.translate.security.policy import JSON, Policy
from mizzen.translate.security.selection import MergedPeerAuthentication

S = TypeVar("S")


def peer_authentication_lines(merged: MergedPeerAuthentication, root_namespace: str) -> list[str]:
    """The effective mode (and per-port modes), then the PeerAuthentications that select the workload."""
    out = ["Effective PeerAuthentication:", f"   Workload mTLS mode: {merged.mode}"]
    if merged.per_port:
        out.append("   Port Level mTLS mode:")
        out += [f"      {port}: {mode}" for port, mode in sorted(merged.per_port.items())]
    applied = sorted(merged.applied, key=lambda p: (p.namespace != root_namespace, p.namespace, p.name))
    return out + applied_lines("PeerAuthentication", applied)


def applied_lines(kind: str, policies: Sequence[Policy[S]]) -> list[str]:
    """``Applied <Kind>:`` and the ``name.namespace`` list (nothing when none applies)."""
    if not policies:
        return []
    return [f"Applied {kind}:", "   " + ", ".join(p.ref for p in policies)]


def rbac_policy_names(http_filters: Iterable[JSON]) -> list[str]:
    """The policy names of the first enforcing HTTP RBAC filter (istioctl's "RBAC policies")."""
    for f in http_filters:
        config = f.get("typed_config")
        if f.get("name") != names.RBAC_HTTP or not isinstance(config, dict):
            continue
        rules = config.get("rules")
        policies = rules.get("policies") if isinstance(rules, dict) else None
        if isinstance(policies, dict):
            return [str(k) for k in policies]
    return []


def rbac_policies_line(http_filters: Iterable[JSON], port: int | None = None) -> str | None:
    """``[<port> ]RBAC policies: a, b`` (the port prefix when the service has several ports)."""
    policies = rbac_policy_names(http_filters)
    if not policies:
        return None
    prefix = f"{port} " if port is not None else ""
    return f"{prefix}RBAC policies: {', '.join(policies)}"
