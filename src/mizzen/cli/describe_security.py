"""``describe``'s security lines, read from the workload's own Envoy config dump as istioctl reads a pod's:
the mTLS mode each inbound port really enforces and the RBAC policies its filters hold.

    Effective PeerAuthentication:
       Workload mTLS mode: STRICT
       Port Level mTLS mode:
          9080: PERMISSIVE
    RBAC policies: ns[default]-policy[details-viewer]-rule[0]

A port's mode comes from its inbound listener's filter chains: chains that terminate TLS and require a
client certificate accept mesh (mTLS) clients, chains without a transport socket accept the others;
both is PERMISSIVE, mTLS only STRICT, plaintext only DISABLE. (The CLI reads the control plane over
HTTP only, so this reads Envoy's config rather than importing the translator's composition.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mizzen.cli import configdump as cd
from mizzen.config.semantics.selectors import POLICY, selects, workload_specific

HCM = "envoy.filters.network.http_connection_manager"
RBAC_FILTERS = ("envoy.filters.http.rbac", "envoy.filters.network.rbac")


def inbound_listener(dump: Mapping[str, Any], port: int) -> Mapping[str, Any] | None:
    """The inbound listener bound to ``port`` (the sidecar's listen port for one workload port)."""
    for lis in cd.listeners(dump):
        sock = lis.get("address", {}).get("socket_address", {})
        if lis.get("traffic_direction") == "INBOUND" and sock.get("port_value") == port:
            return lis
    return None


def _mtls_chain(chain: Mapping[str, Any]) -> bool:
    context = chain.get("transport_socket", {}).get("typed_config", {})
    return bool(context.get("require_client_certificate"))


def listener_mode(listener: Mapping[str, Any]) -> str:
    """``STRICT``, ``PERMISSIVE`` or ``DISABLE`` as the listener's chains enforce it ("" without chains)."""
    chains = list(listener.get("filter_chains", []))
    mtls = any(_mtls_chain(c) for c in chains)
    other = any("transport_socket" not in c for c in chains)
    if mtls:
        return "PERMISSIVE" if other else "STRICT"
    return "DISABLE" if chains else ""


def rbac_policies(listener: Mapping[str, Any]) -> list[str]:
    """Policy names of the first enforcing RBAC filter of the listener (HTTP, else network), as istioctl
    lists them; the same filters are on every chain of a port."""
    for chain in listener.get("filter_chains", []):
        filters = list(chain.get("filters", []))
        hcm = next((f for f in filters if f.get("name") == HCM), None)
        candidates = hcm.get("typed_config", {}).get("http_filters", []) if hcm is not None else filters
        for f in candidates:
            rules = f.get("typed_config", {}).get("rules") if f.get("name") in RBAC_FILTERS else None
            if isinstance(rules, Mapping) and isinstance(rules.get("policies"), Mapping):
                return [str(k) for k in rules["policies"]]
    return []


def rbac_lines(dump: Mapping[str, Any], ports: Sequence[tuple[int, int]]) -> list[str]:
    """``[<port> ]RBAC policies: ...`` per (workload port, listen port), the port prefix when there are
    several (istioctl's format)."""
    out = []
    for number, listen in ports:
        lis = inbound_listener(dump, listen)
        policies = rbac_policies(lis) if lis is not None else []
        if policies:
            prefix = f"{number} " if len(ports) > 1 else ""
            out.append(f"{prefix}RBAC policies: {', '.join(policies)}")
    return out


def port_modes(dump: Mapping[str, Any], ports: Sequence[tuple[int, int]]) -> dict[int, str]:
    """Workload port -> the mode its inbound listener enforces (ports without a listener left out)."""
    out = {}
    for number, listen in ports:
        lis = inbound_listener(dump, listen)
        mode = listener_mode(lis) if lis is not None else ""
        if mode:
            out[number] = mode
    return out


def peer_authentication_lines(modes: Mapping[int, str], configured: str, applied: Sequence[str]) -> list[str]:
    """istioctl's block: the workload's mode (one mode on every port, else ``configured``, the mode the
    PeerAuthentications compose to), the ports that differ, then the applied PeerAuthentications."""
    distinct = set(modes.values())
    workload = distinct.pop() if len(distinct) == 1 else configured
    out = ["Effective PeerAuthentication:", f"   Workload mTLS mode: {workload}"]
    differing = sorted((p, m) for p, m in modes.items() if m != workload)
    if differing:
        out.append("   Port Level mTLS mode:")
        out += [f"      {port}: {mode}" for port, mode in differing]
    if applied:
        out += ["Applied PeerAuthentication:", "   " + ", ".join(applied)]
    return out


def composed_peer_authentication(
    pas: Sequence[Mapping[str, Any]], labels: Mapping[str, str], namespace: str
) -> tuple[str, list[str]]:
    """(mode, ``name.namespace`` of each applying PeerAuthentication) composed from the stored objects:
    mesh (istio-system), then namespace, then workload selector, each non-UNSET mode overriding."""
    mode, applied = "PERMISSIVE", []
    for scope in ("mesh", "namespace", "workload"):
        for pa in pas:
            meta = pa.get("metadata", {})
            ns, name = str(meta.get("namespace", "default")), str(meta.get("name", ""))
            sel = (pa.get("spec", {}).get("selector") or {}).get("matchLabels")
            specific = workload_specific(POLICY, sel)
            is_mesh = ns == "istio-system" and not specific
            is_ns = ns == namespace and not specific
            is_wl = ns == namespace and specific and selects(POLICY, sel, labels)
            if {"mesh": is_mesh, "namespace": is_ns, "workload": is_wl}[scope]:
                m = (pa.get("spec", {}).get("mtls") or {}).get("mode", "UNSET")
                if m != "UNSET":
                    mode = m
                applied.append(f"{name}.{ns}")
    return mode, applied
