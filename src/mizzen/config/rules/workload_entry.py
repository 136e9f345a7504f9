"""Istio's WorkloadEntry/WorkloadGroup rules: addresses, ports, labels, service accounts, probes."""

from __future__ import annotations

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.workload_entry import WorkloadEntry, WorkloadGroup
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one WorkloadEntry."""
    we: WorkloadEntry = parse_spec(res)
    out: Found = []
    if not we.address and not we.network:
        out.append(violation("MZ2501", "address must be set", f"{root}.address"))
    entry(we, root, out, static=False)
    return out


def check_group(res: Resource, root: str) -> Found:
    """Every rule violation of one WorkloadGroup."""
    wg: WorkloadGroup = parse_spec(res)
    out: Found = []
    if wg.template is not None:
        if wg.template.address:
            out.append(
                violation("MZ2501", "address must not be set in a WorkloadGroup template", f"{root}.template.address")
            )
        entry(wg.template, f"{root}.template", out, static=False)
    if wg.metadata is not None:
        common.labels(wg.metadata.labels, f"{root}.metadata.labels", out)
    probe = wg.probe
    if probe is not None:
        if probe.http_get is not None:
            common.port(probe.http_get.port, f"{root}.probe.httpGet.port", out)
        if probe.tcp_socket is not None:
            common.port(probe.tcp_socket.port, f"{root}.probe.tcpSocket.port", out)
        if probe.grpc is not None:
            common.port(probe.grpc.port, f"{root}.probe.grpc.port", out)
        if not (probe.http_get or probe.tcp_socket or probe.exec or probe.grpc):
            out.append(
                violation("MZ1003", "probe must specify one of httpGet, tcpSocket, exec or grpc", f"{root}.probe")
            )
    return out


def entry(we: WorkloadEntry, path: str, out: Found, *, static: bool) -> None:
    """A WorkloadEntry spec (standalone, a ServiceEntry endpoint or a WorkloadGroup template)."""
    address = we.address or ""
    if address.startswith("unix://"):
        if len(address) == len("unix://"):
            out.append(violation("MZ2501", "unix:// address must name a socket path", f"{path}.address"))
    elif address:
        if static and names.ip_problem(address) is not None:
            out.append(
                violation("MZ2501", f'endpoint address "{address}" is not a valid IP address', f"{path}.address")
            )
        elif names.ip_problem(address) is not None and names.fqdn_problem(address) is not None:
            out.append(
                violation(
                    "MZ2501", f'invalid address "{address}": must be an IP, a DNS name or unix://', f"{path}.address"
                )
            )
    for name, number in we.ports.items():
        if not names.is_dns1123_label(name):
            out.append(violation("MZ2502", f'invalid port name "{name}"', f"{path}.ports.{name}"))
        common.port(number, f"{path}.ports.{name}", out)
    common.labels(we.labels, f"{path}.labels", out)
    if we.service_account and not names.is_dns1123_subdomain(we.service_account):
        out.append(violation("MZ2501", f'invalid service account "{we.service_account}"', f"{path}.serviceAccount"))
    if we.weight is not None and we.weight < 0:
        out.append(violation("MZ2502", f"weight {we.weight} < 0", f"{path}.weight"))
