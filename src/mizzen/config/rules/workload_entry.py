"""Istio's WorkloadEntry and WorkloadGroup rules: addresses (IP, DNS name or ``unix://`` socket), ports,
labels and readiness probes."""

from __future__ import annotations

from collections.abc import Set

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.workload_entry import ReadinessProbe, WorkloadEntry, WorkloadGroup
from mizzen.config.resource import Resource
from mizzen.config.rules import common, headers, hosts
from mizzen.config.rules.common import Found

UNIX = "unix://"


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one WorkloadEntry."""
    we: WorkloadEntry = parse_spec(res)
    out: Found = []
    entry(we, root, out, service_ports=None, allow_fqdn=True)
    return out


def entry(we: WorkloadEntry, path: str, out: Found, *, service_ports: Set[str] | None, allow_fqdn: bool) -> None:
    """Istio's ``validateWorkloadEntry`` (a WorkloadEntry, or a STATIC ServiceEntry endpoint)."""
    address = we.address or ""
    if not address:
        if not we.network:
            out.append(violation("MZ2501", "address is required", f"{path}.address"))
            return
        common.warn(f'address is unset with network "{we.network}"', f"{path}.address", out)
    unix = address.startswith(UNIX)
    if unix:
        common.unix_address(address.removeprefix(UNIX), f"{path}.address", out, code="MZ2501")
        if we.ports:
            out.append(violation("MZ2501", f"unix endpoint {address} must not include ports", f"{path}.ports"))
    elif address and not hosts.is_ip(address):
        if not allow_fqdn:
            out.append(
                violation("MZ2501", f'endpoint address "{address}" is not a valid IP address', f"{path}.address")
            )
        elif hosts.fqdn_error(address) is not None:
            out.append(
                violation(
                    "MZ2501", f'endpoint address "{address}" is not a valid FQDN or an IP address', f"{path}.address"
                )
            )
    endpoint_ports(we, service_ports, path, out)
    common.labels(we.labels, f"{path}.labels", out)
    if unix and service_ports is not None and len(service_ports) != 1:
        out.append(violation("MZ2402", "exactly 1 service port required for unix endpoints", f"{path}.address"))


def endpoint_ports(we: WorkloadEntry, service_ports: Set[str] | None, path: str, out: Found) -> None:
    """Port map entries: named after a service port (when known), valid names and numbers."""
    for name, number in we.ports.items():
        pp = f"{path}.ports.{name}"
        if service_ports is not None and name not in service_ports:
            out.append(violation("MZ2402", f"endpoint port {number} is not defined by the service entry", pp))
        common.port_name(name, pp, out, code="MZ2502")
        common.port(number, pp, out)


def check_group(res: Resource, root: str) -> Found:
    """Every rule violation of one WorkloadGroup (its template is not validated like a WorkloadEntry)."""
    wg: WorkloadGroup = parse_spec(res)
    out: Found = []
    if wg.template is None:
        return out  # the schema check reports the missing template
    if wg.metadata is not None:
        before = len(out)
        common.labels(wg.metadata.labels, f"{root}.metadata.labels", out)
        if len(out) != before:
            return out
    if wg.probe is not None:
        _probe(wg.probe, f"{root}.probe", out)
    return out


def _probe(probe: ReadinessProbe, path: str, out: Found) -> None:
    for field, value in (
        ("periodSeconds", probe.period_seconds),
        ("initialDelaySeconds", probe.initial_delay_seconds),
        ("timeoutSeconds", probe.timeout_seconds),
        ("successThreshold", probe.success_threshold),
        ("failureThreshold", probe.failure_threshold),
    ):
        if (value or 0) < 0:
            out.append(violation("MZ2503", f"{field} must be non-negative", f"{path}.{field}"))
    if (h := probe.http_get) is not None:
        common.port(h.port, f"{path}.httpGet.port", out)
        if h.scheme and h.scheme not in ("HTTPS", "HTTP"):
            out.append(violation("MZ2503", 'httpGet.scheme must be one of "HTTPS", "HTTP"', f"{path}.httpGet.scheme"))
        for i, header in enumerate(h.http_headers):
            if (problem := headers.probe_name_error(header.name)) is not None:
                out.append(violation("MZ2503", problem, f"{path}.httpGet.httpHeaders[{i}].name"))
    elif (t := probe.tcp_socket) is not None:
        common.port(t.port, f"{path}.tcpSocket.port", out)
    elif (e := probe.exec) is not None:
        if not e.command:
            out.append(violation("MZ2503", "exec.command is required", f"{path}.exec.command"))
    else:
        method = "grpc" if probe.grpc is not None else "<nil>"
        out.append(violation("MZ2503", f"unknown health check method {method}", path))
