"""Istio's ServiceEntry rules (``ValidateServiceEntry``): hosts, addresses, ports and the endpoint,
address and protocol combinations each resolution mode allows."""

from __future__ import annotations

from collections.abc import Callable

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.service_entry import ServiceEntry
from mizzen.config.resource import Resource
from mizzen.config.rules import common, hosts, workload_entry
from mizzen.config.rules.common import Found
from mizzen.config.rules.gateway import is_protocol

AUTOALLOCATE_LABEL = "networking.istio.io/enable-autoallocate-ip"
USE_WAYPOINT_LABEL = "istio.io/use-waypoint"
DFP_PROTOCOLS = frozenset({"HTTP", "TLS", "GRPC", "HTTP2"})

__all__ = ["check", "is_protocol"]


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one ServiceEntry."""
    se: ServiceEntry = parse_spec(res)
    out: Found = []
    if se.workload_selector is not None:
        before = len(out)
        has_labels = common.selector(se.workload_selector.labels, f"{root}.workloadSelector.labels", out)
        if len(out) != before:
            return out
        if not has_labels:
            common.warn(
                "service entry: workload selector specified without labels, will be applied to all services in "
                "namespace",
                f"{root}.workloadSelector",
                out,
            )
    if se.workload_selector is not None and se.endpoints:
        out.append(violation("MZ2403", "only one of WorkloadSelector or Endpoints is allowed in Service Entry", root))
    _hosts(se, root, out)
    _addresses(se, root, out)
    service_ports = _ports(se, res, root, out)
    resolution = se.resolution or "NONE"
    {"NONE": _none, "STATIC": _static, "DNS": _dns, "DNS_ROUND_ROBIN": _dns, "DYNAMIC_DNS": _dynamic_dns}[resolution](
        se, res, service_ports, root, out
    )
    if resolution != "NONE" and len(se.hosts) > 1:
        for p in se.ports:
            proto = common.protocol(p.protocol)
            if proto not in common.HTTP_PROTOCOLS and proto not in common.TLS_PROTOCOLS:
                out.append(violation("MZ2401", "multiple hosts provided with non-HTTP, non-TLS ports", f"{root}.hosts"))
                break
    common.export_to(res.namespace, se.export_to, f"{root}.exportTo", out, service_entry=True)
    return out


def _hosts(se: ServiceEntry, root: str, out: Found) -> None:
    if not se.hosts:
        out.append(violation("MZ2004", "service entry must have at least one host", f"{root}.hosts"))
    for i, h in enumerate(se.hosts):
        path = f"{root}.hosts[{i}]"
        if h == "*":
            out.append(violation("MZ2004", "invalid host *", path))
            continue
        common.host(h, path, out)
        if se.resolution != "DYNAMIC_DNS" and (problem := hosts.partial_wildcard_error(h)) is not None:
            common.warn(problem, path, out)


def _addresses(se: ServiceEntry, root: str, out: Found) -> None:
    common.subnets(se.addresses, f"{root}.addresses", out)
    if any("/" in a for a in se.addresses) and (se.resolution or "NONE") not in ("NONE", "STATIC"):
        out.append(
            violation("MZ2401", "CIDR addresses are allowed only for NONE/STATIC resolution types", f"{root}.addresses")
        )


def _auto_allocated(se: ServiceEntry, res: Resource) -> bool:
    """Whether Istio assigns a virtual IP itself (its default unless opted out or resolution NONE)."""
    if (se.resolution or "NONE") == "NONE" or se.addresses:
        return False
    return res.metadata.labels.get(AUTOALLOCATE_LABEL, "").lower() != "false"


def _ports(se: ServiceEntry, res: Resource, root: str, out: Found) -> set[str]:
    names: set[str] = set()
    numbers: set[int] = set()
    auto = _auto_allocated(se, res)
    for i, p in enumerate(se.ports):
        path = f"{root}.ports[{i}]"
        if p.name in names:
            out.append(violation("MZ2402", f'service entry port name "{p.name}" already defined', f"{path}.name"))
        if p.number in numbers:
            out.append(violation("MZ2402", f"service entry port {p.number} already defined", f"{path}.number"))
        names.add(p.name)
        numbers.add(p.number)
        if p.target_port:
            common.port(p.target_port, f"{path}.targetPort", out)
        if not se.addresses and not auto and p.protocol in (None, "", "TCP"):
            common.warn(
                "addresses are required for ports serving TCP (or unset) protocol when IP Autoallocation is not "
                "enabled",
                path,
                out,
            )
        common.port_name(p.name, f"{path}.name", out, code="MZ2402")
        common.protocol_name(p.protocol, f"{path}.protocol", out)
        common.port(p.number, f"{path}.number", out)
    return names


def _none(se: ServiceEntry, res: Resource, ports: set[str], root: str, out: Found) -> None:
    if se.endpoints:
        out.append(violation("MZ2401", "no endpoints should be provided for resolution type none", f"{root}.endpoints"))
    if se.workload_selector is not None:
        common.warn("workloadSelector should not be set when resolution mode is NONE", f"{root}.workloadSelector", out)


def _static(se: ServiceEntry, res: Resource, ports: set[str], root: str, out: Found) -> None:
    for i, ep in enumerate(se.endpoints):
        workload_entry.entry(ep, f"{root}.endpoints[{i}]", out, service_ports=ports, allow_fqdn=False)


def _dns(se: ServiceEntry, res: Resource, ports: set[str], root: str, out: Found) -> None:
    resolution = se.resolution or "DNS"
    if not se.endpoints:
        for i, h in enumerate(se.hosts):
            if (problem := hosts.fqdn_error(h)) is not None:
                out.append(
                    violation(
                        "MZ2401",
                        "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for "
                        f"resolution mode {resolution}, {problem}",
                        f"{root}.hosts[{i}]",
                    )
                )
                break
    if resolution == "DNS_ROUND_ROBIN" and len(se.endpoints) > 1:
        out.append(
            violation(
                "MZ2401", f"there must only be 0 or 1 endpoint for resolution mode {resolution}", f"{root}.endpoints"
            )
        )
    for i, ep in enumerate(se.endpoints):
        path = f"{root}.endpoints[{i}]"
        address = ep.address or ""
        if not hosts.is_ip(address) and hosts.fqdn_error(address) is not None:
            out.append(
                violation(
                    "MZ2501", f'endpoint address "{address}" is not a valid FQDN or an IP address', f"{path}.address"
                )
            )
        common.labels(ep.labels, f"{path}.labels", out)
        workload_entry.endpoint_ports(ep, ports, path, out)
    if (
        se.addresses
        and len(se.hosts) > 1
        and any(common.protocol(p.protocol) in common.TCP_PROTOCOLS for p in se.ports)
    ):
        common.warn(
            "service entry can not have more than one host specified simultaneously with address and tcp port",
            f"{root}.hosts",
            out,
        )


def _dynamic_dns(se: ServiceEntry, res: Resource, ports: set[str], root: str, out: Found) -> None:
    def bad(text: str, path: str) -> None:
        out.append(violation("MZ2401", text, f"{root}.{path}"))

    _dynamic_dns_hosts(se, bad)
    _dynamic_dns_traffic(se, res, bad)


def _dynamic_dns_hosts(se: ServiceEntry, bad: Callable[[str, str], None]) -> None:
    """Envoy's dynamic forward proxy finds the destination from the host: wildcard hosts only, no
    addresses or endpoints."""
    mode = "DYNAMIC_DNS"
    if not se.hosts:
        bad(f"at least one wildcard host must be provided for resolution type {mode}", "hosts")
    for i, h in enumerate(se.hosts):
        if not hosts.is_wildcarded(h):
            bad(f"host must be wildcarded for resolution mode {mode}", f"hosts[{i}]")
    if se.addresses:  # Istio's texts, missing spaces included
        bad(
            f"addresses cannot be set for resolution type {mode}. HTTP route domains will only be generated"
            "from the hosts field values",
            "addresses",
        )
    if se.endpoints:
        bad(
            f"endpoints cannot be set for resolution type {mode}. Destination IP address determined from hosts"
            "field values",
            "endpoints",
        )


def _dynamic_dns_traffic(se: ServiceEntry, res: Resource, bad: Callable[[str, str], None]) -> None:
    """The protocols the dynamic forward proxy serves, and the locations it may be used in."""
    mode = "DYNAMIC_DNS"
    for i, p in enumerate(se.ports):
        if common.protocol(p.protocol) not in DFP_PROTOCOLS:
            bad(
                f"only HTTP, TLS, GRPC, and HTTP2 protocols are supported for resolution type {mode}",
                f"ports[{i}].protocol",
            )
    if (se.location or "MESH_EXTERNAL") not in ("MESH_EXTERNAL", "MESH_INTERNAL"):
        bad(f"location must be MESH_EXTERNAL or MESH_INTERNAL for resolution type {mode}", "location")
    waypoint = res.metadata.labels.get(USE_WAYPOINT_LABEL, "")
    if se.location == "MESH_INTERNAL" and waypoint and waypoint.lower() != "none":
        bad(f"location MESH_INTERNAL with resolution type {mode} is not supported when using waypoints", "location")
