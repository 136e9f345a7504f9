"""DestinationRule analyzers: unknown hosts (IST0174), subsets selecting no workload (IST0173) and
TLS origination without a CA to verify the server (IST0128, IST0129)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, spec_list, spec_map

_VERIFYING_MODES = ("SIMPLE", "MUTUAL")


def analyze_hosts_and_subsets(ctx: Context) -> None:
    """IST0174 for a host no Service/ServiceEntry defines; else IST0173 per subset matching no workload.

    Subsets are only checked when workloads are known (WorkloadEntries in the input or workloads
    passed by the caller): from files alone every subset would look empty.
    """
    for dr in ctx.of("DestinationRule"):
        host = str(dr.spec.get("host", ""))
        export_to = [str(e) for e in spec_list(dr.spec.get("exportTo"))]
        svc = ctx.find_service(dr.namespace, export_to, host)
        if svc is None:
            ctx.report(m.UNKNOWN_DR_HOST, dr, host, path="spec.host")
            continue
        if not ctx.workloads_known:
            continue
        for i, subset in enumerate(spec_list(dr.spec.get("subsets"))):
            subset = spec_map(subset)
            selector = {**svc.selector, **{str(k): str(v) for k, v in spec_map(subset.get("labels")).items()}}
            if not any(subset_of(selector, w.labels) for w in ctx.workloads):
                ctx.report(m.DR_SUBSET_NOT_SELECT_PODS, dr, str(subset.get("name", "")), path=f"spec.subsets[{i}].name")


def _unverified_mode(tls: Mapping[str, Any]) -> str | None:
    mode = str(tls.get("mode", ""))
    if mode in _VERIFYING_MODES and not tls.get("caCertificates") and not tls.get("credentialName"):
        return mode
    return None


def analyze_ca_certificates(ctx: Context) -> None:
    """IST0128 (destination level) / IST0129 (port level): SIMPLE or MUTUAL TLS without caCertificates."""
    for dr in ctx.of("DestinationRule"):
        policy = spec_map(dr.spec.get("trafficPolicy"))
        _check_policy(ctx, dr, policy, "spec.trafficPolicy")
        for i, subset in enumerate(spec_list(dr.spec.get("subsets"))):
            _check_policy(ctx, dr, spec_map(spec_map(subset).get("trafficPolicy")), f"spec.subsets[{i}].trafficPolicy")


def _check_policy(ctx: Context, dr: Resource, policy: Mapping[str, Any], path: str) -> None:
    host, name = str(dr.spec.get("host", "")), f"{dr.namespace}/{dr.name}"
    mode = _unverified_mode(spec_map(policy.get("tls")))
    if mode:
        ctx.report(m.NO_SERVER_CERT_VERIFICATION_DESTINATION, dr, name, dr.namespace, mode, host, path=f"{path}.tls")
    for i, setting in enumerate(spec_list(policy.get("portLevelSettings"))):
        setting = spec_map(setting)
        mode = _unverified_mode(spec_map(setting.get("tls")))
        if mode:
            # istioctl prints the port selector in protobuf text form: "number:443".
            number = spec_map(setting.get("port")).get("number")
            ctx.report(
                m.NO_SERVER_CERT_VERIFICATION_PORT,
                dr,
                name,
                dr.namespace,
                mode,
                host,
                f"number:{number}",
                path=f"{path}.portLevelSettings[{i}].tls",
            )
