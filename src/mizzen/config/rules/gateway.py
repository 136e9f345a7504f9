"""Istio's Gateway rules: servers, hosts, port names, protocols and TLS consistency."""

from __future__ import annotations

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.gateway import Gateway, Server, ServerTLSSettings
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found

# Istio's protocol names (matched case-insensitively, as protocol.Parse does).
PROTOCOLS = frozenset(
    {
        "HTTP",
        "HTTPS",
        "HTTP2",
        "GRPC",
        "GRPC-WEB",
        "TCP",
        "TLS",
        "UDP",
        "MONGO",
        "REDIS",
        "MYSQL",
        "THRIFT",
        "HTTP_PROXY",
    }
)
TLS_PROTOCOLS = frozenset({"HTTPS", "TLS"})
TLS_ORDER = ("TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3")


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one Gateway."""
    gw: Gateway = parse_spec(res)
    out: Found = []
    if not gw.servers:
        out.append(violation("MZ2301", "gateway must have at least one server", f"{root}.servers"))
    common.labels(gw.selector, f"{root}.selector", out)
    seen: set[str] = set()
    for i, server in enumerate(gw.servers):
        path = f"{root}.servers[{i}]"
        _server(server, path, out)
        name = server.port.name if server.port else None
        if name:
            if name in seen:
                out.append(
                    violation(
                        "MZ2303", f"port names in servers must be unique: duplicate name {name}", f"{path}.port.name"
                    )
                )
            seen.add(name)
    return out


def is_protocol(value: str) -> bool:
    """Whether Istio knows the port protocol (case-insensitive)."""
    return value.upper() in PROTOCOLS


def _server(server: Server, path: str, out: Found) -> None:
    if not server.hosts:
        out.append(violation("MZ2302", "server config must contain at least one host", f"{path}.hosts"))
    for j, h in enumerate(server.hosts):
        problem = names.namespaced_host_problem(h) if "/" in h else names.wildcard_host_problem(h)
        if problem is not None:
            out.append(violation("MZ2004", problem, f"{path}.hosts[{j}]"))
    protocol = ""
    if server.port is not None:
        protocol = server.port.protocol.upper()
        if not server.port.name:
            out.append(violation("MZ1003", "port name must be set", f"{path}.port.name"))
        if server.port.protocol and not is_protocol(server.port.protocol):
            out.append(
                violation(
                    "MZ2306",
                    f'invalid protocol "{server.port.protocol}", supported protocols are '
                    "HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP, HTTPS, TLS",
                    f"{path}.port.protocol",
                )
            )
        if not (server.bind or "").startswith("unix://"):
            common.port(server.port.number, f"{path}.port.number", out)
        if server.port.target_port:
            out.append(violation("MZ1001", "targetPort is not supported", f"{path}.port.targetPort"))
    if server.bind and not server.bind.startswith("unix://") and (p := names.ip_problem(server.bind)):
        out.append(violation("MZ2010", p, f"{path}.bind"))
    _tls(server.tls, protocol, f"{path}.tls", out)


def _tls(tls: ServerTLSSettings | None, protocol: str, path: str, out: Found) -> None:
    if tls is None:
        if protocol in TLS_PROTOCOLS:
            out.append(violation("MZ2304", "server must have TLS settings for HTTPS/TLS protocols", path))
        return
    if protocol and protocol not in TLS_PROTOCOLS:
        if tls.https_redirect is None or tls.mode is not None:
            out.append(violation("MZ2305", "server cannot have TLS settings for plain text HTTP ports", path))
        return
    if tls.https_redirect and protocol in TLS_PROTOCOLS:
        out.append(
            violation(
                "MZ2305",
                "tls.httpsRedirect should only be used with http servers",
                f"{path}.httpsRedirect",
                level="warning",
            )
        )
    mode = tls.mode or "PASSTHROUGH"
    has_credential = bool(tls.credential_name or tls.credential_names or tls.tls_certificates)
    if mode in ("SIMPLE", "MUTUAL", "OPTIONAL_MUTUAL") and not has_credential:
        if not tls.server_certificate:
            out.append(violation("MZ2305", f"{mode} TLS requires a server certificate", f"{path}.serverCertificate"))
        if not tls.private_key:
            out.append(violation("MZ2305", f"{mode} TLS requires a private key", f"{path}.privateKey"))
        if mode != "SIMPLE" and not tls.ca_certificates:
            out.append(violation("MZ2305", f"{mode} TLS requires a client CA bundle", f"{path}.caCertificates"))
    if mode == "ISTIO_MUTUAL" and (tls.server_certificate or tls.private_key or tls.ca_certificates or has_credential):
        out.append(
            violation(
                "MZ2305",
                "cannot have associated private key, server certificate, CA certificates or "
                "credentialName in ISTIO_MUTUAL mode",
                path,
            )
        )
    if (
        tls.min_protocol_version
        and tls.max_protocol_version
        and tls.max_protocol_version != "TLS_AUTO"
        and TLS_ORDER.index(tls.min_protocol_version) > TLS_ORDER.index(tls.max_protocol_version)
    ):
        out.append(violation("MZ2305", "Tls min version is greater than Tls max version", f"{path}.minProtocolVersion"))
