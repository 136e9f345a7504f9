"""Istio's ServiceEntry rules: hosts, addresses, ports and the resolution/endpoint combinations."""

from __future__ import annotations

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.service_entry import ServiceEntry
from mizzen.config.resource import Resource
from mizzen.config.rules import common, workload_entry
from mizzen.config.rules.common import Found
from mizzen.config.rules.gateway import is_protocol


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one ServiceEntry."""
    se: ServiceEntry = parse_spec(res)
    out: Found = []
    for i, h in enumerate(se.hosts):
        if h == "*":
            out.append(violation("MZ2004", "invalid host *", f"{root}.hosts[{i}]"))
        else:
            common.host(h, f"{root}.hosts[{i}]", out)
    common.cidrs(se.addresses, f"{root}.addresses", out)
    _ports(se, root, out)
    _resolution(se, root, out)
    port_names = {p.name for p in se.ports}
    for i, ep in enumerate(se.endpoints):
        path = f"{root}.endpoints[{i}]"
        workload_entry.entry(ep, path, out, static=se.resolution in (None, "NONE", "STATIC"))
        for name in ep.ports:
            if name not in port_names:
                out.append(
                    violation(
                        "MZ2402", f"endpoint port {name} is not defined by the service entry", f"{path}.ports.{name}"
                    )
                )
    if se.workload_selector is not None:
        common.labels(se.workload_selector.labels, f"{root}.workloadSelector.labels", out)
    out.extend(names.export_to_problems(se.export_to, f"{root}.exportTo"))
    return out


def _ports(se: ServiceEntry, root: str, out: Found) -> None:
    for i, p in enumerate(se.ports):
        path = f"{root}.ports[{i}]"
        common.port(p.number, f"{path}.number", out)
        if p.target_port:
            common.port(p.target_port, f"{path}.targetPort", out)
        if p.name and not names.is_dns1123_label(p.name):
            out.append(violation("MZ2402", f'invalid port name "{p.name}"', f"{path}.name"))
        if p.protocol and not is_protocol(p.protocol):
            out.append(violation("MZ2306", f"unsupported protocol: {p.protocol}", f"{path}.protocol"))
    for dup in common.duplicates([p.name for p in se.ports if p.name]):
        out.append(violation("MZ2402", f"port names must be unique: duplicate name {dup}", f"{root}.ports"))
    for dup in common.duplicates([str(p.number) for p in se.ports if p.number]):
        out.append(violation("MZ2402", f"port number {dup} is used more than once", f"{root}.ports"))


def _resolution(se: ServiceEntry, root: str, out: Found) -> None:
    res = se.resolution or "NONE"
    path = f"{root}.resolution"
    if se.endpoints and se.workload_selector is not None:
        out.append(violation("MZ2403", "only one of WorkloadSelector or Endpoints is allowed in Service Entry", root))
    if res == "NONE" and se.endpoints:
        out.append(violation("MZ2401", "no endpoints should be provided for resolution type none", f"{root}.endpoints"))
    if res == "STATIC" and not se.endpoints and se.workload_selector is None:
        out.append(violation("MZ2401", "endpoints must be provided if service entry discovery mode is static", path))
    if res in ("DNS", "DNS_ROUND_ROBIN") and not se.endpoints and any("*" in h for h in se.hosts):
        out.append(
            violation(
                "MZ2401",
                f"wildcard host is not allowed for resolution mode {res} without endpoints; use DYNAMIC_DNS or NONE",
                path,
            )
        )
    if res == "DNS_ROUND_ROBIN" and len(se.endpoints) > 1:
        out.append(
            violation(
                "MZ2401", "there must only be 0 or 1 endpoint for resolution mode DNS_ROUND_ROBIN", f"{root}.endpoints"
            )
        )
    if res == "DYNAMIC_DNS":
        if se.endpoints:
            out.append(
                violation(
                    "MZ2401", "no endpoints should be provided for resolution type DYNAMIC_DNS", f"{root}.endpoints"
                )
            )
        if any(not h.startswith("*") for h in se.hosts):
            out.append(violation("MZ2401", "DYNAMIC_DNS resolution requires wildcard hosts", f"{root}.hosts"))
    if res in ("DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS") and any("/" in a for a in se.addresses):
        out.append(violation("MZ2401", "CIDR addresses are allowed only for NONE/STATIC resolution types", path))
