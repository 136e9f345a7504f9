"""``destinationrule.SubsetSelectPodAnalyzer`` (IST0174 unknown host, IST0173 subsets without pods) and
``destinationrule.CaCertificateAnalyzer`` (IST0128, IST0129)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, labels_of, spec_list, spec_map
from .kube import Pod

REGION, ZONE, SUBZONE = "topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"
HOSTNAME = "kubernetes.io/hostname"
_VERIFYING_MODES = ("SIMPLE", "MUTUAL")


def _pod_labels(pod: Pod, nodes: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """A pod's labels plus the topology labels Istio derives from its node (region, zone, hostname)."""
    out = dict(pod.labels)
    node = nodes.get(pod.node_name, {}) if pod.node_name else {}
    region, zone, subzone = node.get(REGION, ""), node.get(ZONE, ""), node.get(SUBZONE, "")
    locality = region + (f"/{zone}" + (f"/{subzone}" if subzone else "") if zone else "")
    parts = [*locality.split("/"), "", ""][:3]
    for key, value in zip((REGION, ZONE, SUBZONE), parts, strict=True):
        if value:
            out[key] = value
    if pod.node_name:
        out[HOSTNAME] = pod.node_name
    return out


def analyze_subsets(ctx: Context) -> None:
    """IST0174 for a host no Service/ServiceEntry defines; else IST0173 per subset no pod matches."""
    nodes = {n.name: n.labels for n in ctx.kube("Node")}
    pods = [_pod_labels(p, nodes) for p in ctx.pods]
    for dr in ctx.of("DestinationRule"):
        host = str(dr.spec.get("host") or "")
        svc = ctx.find_service(dr.namespace, [str(e) for e in spec_list(dr.spec.get("exportTo"))], host)
        if svc is None:
            ctx.report(m.UNKNOWN_DR_HOST, dr, host, path="spec.host")
            continue
        for i, subset in enumerate(spec_list(dr.spec.get("subsets"))):
            subset = spec_map(subset)
            selector = {**svc.selector, **labels_of(subset.get("labels"))}
            if not any(subset_of(selector, labels) for labels in pods):
                ctx.report(
                    m.DR_SUBSET_NOT_SELECT_PODS, dr, str(subset.get("name") or ""), path=f"spec.subsets[{i}].name"
                )


def _unverified(tls: Mapping[str, Any], selected: bool) -> str | None:
    """The mode when TLS is originated without a CA to check the server (a credential counts only with a selector)."""
    mode = str(tls.get("mode") or "")
    if mode in _VERIFYING_MODES and not tls.get("caCertificates") and not (tls.get("credentialName") and selected):
        return mode
    return None


def analyze_ca_certificates(ctx: Context) -> None:
    """IST0128 (destination level) / IST0129 (port level) for the top-level traffic policy."""
    for dr in ctx.of("DestinationRule"):
        _check(ctx, dr, spec_map(dr.spec.get("trafficPolicy")))


def _check(ctx: Context, dr: Resource, policy: Mapping[str, Any]) -> None:
    host, name = str(dr.spec.get("host") or ""), f"{dr.namespace}/{dr.name}"
    selected = isinstance(dr.spec.get("workloadSelector"), Mapping)
    mode = _unverified(spec_map(policy.get("tls")), selected)
    if mode:
        ctx.report(
            m.NO_SERVER_CERT_VERIFICATION_DESTINATION, dr, name, dr.namespace, mode, host, path="spec.trafficPolicy.tls"
        )
    for i, setting in enumerate(spec_list(policy.get("portLevelSettings"))):
        setting = spec_map(setting)
        mode = _unverified(spec_map(setting.get("tls")), selected)
        if mode:
            # istioctl prints the port selector in protobuf text form: "number:443".
            number = spec_map(setting.get("port")).get("number")
            port = f"number:{number}" if number else ""
            ctx.report(
                m.NO_SERVER_CERT_VERIFICATION_PORT,
                dr,
                name,
                dr.namespace,
                mode,
                host,
                port,
                path=f"spec.trafficPolicy.portLevelSettings[{i}].tls",
            )
