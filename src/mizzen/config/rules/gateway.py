"""Istio's Gateway rules (``ValidateGateway``): servers, hosts, ports, binds and TLS consistency."""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.gateway import Gateway, Port, Server
from mizzen.config.resource import Resource
from mizzen.config.rules import common, hosts, server_tls
from mizzen.config.rules.common import Found

UNIX = "unix://"


def is_protocol(value: str) -> bool:
    """Whether Istio knows the port protocol (case-insensitive)."""
    return common.protocol(value) is not None


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one Gateway."""
    gw: Gateway = parse_spec(res)
    out: Found = []
    if not gw.servers:
        out.append(violation("MZ2301", "gateway must have at least one server", f"{root}.servers"))
    for i, server in enumerate(gw.servers):
        _server(server, f"{root}.servers[{i}]", out)
    names: set[str] = set()
    for i, server in enumerate(gw.servers):
        if server.port is None:
            continue
        path = f"{root}.servers[{i}]"
        name = server.port.name or ""
        if name in names:
            out.append(
                violation("MZ2303", f"port names in servers must be unique: duplicate name {name}", f"{path}.port.name")
            )
        names.add(name)
        if (
            common.protocol(server.port.protocol) not in common.HTTP_PROTOCOLS
            and server.tls
            and server.tls.https_redirect
        ):
            common.warn("tls.httpsRedirect should only be used with http servers", f"{path}.tls.httpsRedirect", out)
    return out


def _server(server: Server, path: str, out: Found) -> None:
    if not server.hosts:
        out.append(violation("MZ2302", "server config must contain at least one host", f"{path}.hosts"))
    for j, h in enumerate(server.hosts):
        for problem in hosts.namespaced_host_errors(h, gateway=True):
            out.append(violation("MZ2004", problem, f"{path}.hosts[{j}]"))
    port_ok = _port(server.port, server.bind or "", f"{path}.port", out)
    _bind(server.port, server.bind or "", f"{path}.bind", out)
    if server.tls is not None:
        server_tls.check(server.tls, f"{path}.tls", out)
    if port_ok and server.port is not None:
        _tls_fits_protocol(server, path, out)


def _port(port: Port | None, bind: str, path: str, out: Found) -> bool:
    """Istio's ``validateServerPort``; returns whether the port has no problem."""
    if port is None:
        return False  # the schema check reports the missing port
    before = len(out)
    if not is_protocol(port.protocol):
        out.append(
            violation(
                "MZ2306",
                f'invalid protocol "{port.protocol}", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, '
                "REDIS, MYSQL, TCP",
                f"{path}.protocol",
            )
        )
    if port.number > 0 or not bind.startswith(UNIX):
        common.port(port.number, f"{path}.number", out)
    if port.target_port:
        out.append(violation("MZ2306", "targetPort has no impact on Gateways", f"{path}.targetPort"))
    if not port.name:
        out.append(violation("MZ1003", "port name must be set", f"{path}.name"))
    return len(out) == before


def _bind(port: Port | None, bind: str, path: str, out: Found) -> None:
    if bind.startswith(UNIX):
        common.unix_address(bind.removeprefix(UNIX), path, out)
        if port is not None and port.number != 0:
            out.append(violation("MZ2010", "port number must be 0 for unix domain socket", path))
    elif bind and (problem := hosts.ip_error(bind)) is not None:
        out.append(violation("MZ2010", problem, path))


def _tls_fits_protocol(server: Server, path: str, out: Found) -> None:
    assert server.port is not None
    proto = common.protocol(server.port.protocol)
    tls = server.tls
    if proto in common.TLS_PROTOCOLS:
        if tls is None:
            out.append(violation("MZ2304", "server must have TLS settings for HTTPS/TLS protocols", f"{path}.tls"))
        return
    if tls is None:
        return
    if proto in common.HTTP_PROTOCOLS:
        passthrough = (tls.mode or "PASSTHROUGH") in ("PASSTHROUGH", "AUTO_PASSTHROUGH")
        if not passthrough or tls.ca_certificates or tls.private_key or tls.server_certificate:
            out.append(violation("MZ2305", "server cannot have TLS settings for plain text HTTP ports", f"{path}.tls"))
    else:
        out.append(violation("MZ2305", "server cannot have TLS settings for non HTTPS/TLS ports", f"{path}.tls"))
