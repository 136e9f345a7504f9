"""Istio's Sidecar rules (``ValidateSidecar``): ingress and egress listeners, binds, default endpoints,
ingress TLS, connection pools and the outbound traffic policy."""

from __future__ import annotations

import re

from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.sidecar import IstioEgressListener, IstioIngressListener, Sidecar, SidecarPort
from mizzen.config.resource import Resource
from mizzen.config.rules import common, hosts, server_tls, traffic_policy
from mizzen.config.rules.common import Found

UNIX = "unix://"
_HOST_PORT = re.compile(r"(?:\[([^\]]*)\]|([^:\[\]]*)):([^:]*)")
_LOOPBACK_OR_ANY = frozenset({"", "127.0.0.1", "0.0.0.0", "::1", "::"})


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one Sidecar."""
    sc: Sidecar = parse_spec(res)
    out: Found = []
    if sc.workload_selector is not None and not _selector(sc, root, out):
        return out
    if not (sc.egress or sc.ingress or sc.outbound_traffic_policy or sc.inbound_connection_pool):
        out.append(violation("MZ2601", "sidecar: empty configuration provided", root))
        return out
    ports: set[int] = set()
    for i, ing in enumerate(sc.ingress):
        _ingress(ing, ports, f"{root}.ingress[{i}]", out)
    traffic_policy.connection_pool(sc.inbound_connection_pool, f"{root}.inboundConnectionPool", out)
    _egress(sc, res.namespace, root, out)
    _outbound(sc, f"{root}.outboundTrafficPolicy", out)
    return out


def _selector(sc: Sidecar, root: str, out: Found) -> bool:
    """Selector problems stop validation, as in Istio; no labels only warns."""
    assert sc.workload_selector is not None
    before = len(out)
    has_labels = common.selector(sc.workload_selector.labels, f"{root}.workloadSelector.labels", out)
    if len(out) != before:
        return False
    if not has_labels:
        common.warn(
            "sidecar: workload selector specified without labels, will be applied to all services in namespace",
            f"{root}.workloadSelector",
            out,
        )
    return True


def _port(port: SidecarPort, path: str, out: Found, *, allow_unix: bool = False) -> None:
    if port.name:
        common.port_name(port.name, f"{path}.name", out, code="MZ2603")
    common.protocol_name(port.protocol, f"{path}.protocol", out)
    if not (allow_unix and port.number == 0):
        common.port(port.number, f"{path}.number", out)
    if port.target_port:
        out.append(violation("MZ2603", "targetPort has no impact on Sidecars", f"{path}.targetPort"))


def _ingress(ing: IstioIngressListener, ports: set[int], path: str, out: Found) -> None:
    if ing.port is None:
        out.append(violation("MZ2603", "sidecar: port is required for ingress listeners", path))
        return
    _port(ing.port, f"{path}.port", out)
    if ing.bind and (problem := hosts.ip_error(ing.bind)) is not None:
        out.append(violation("MZ2010", problem, f"{path}.bind"))
    if ing.port.number in ports:
        out.append(violation("MZ2603", "sidecar: ports on IP bound listeners must be unique", f"{path}.port.number"))
    ports.add(ing.port.number)
    if ing.default_endpoint:
        _default_endpoint(ing.default_endpoint, f"{path}.defaultEndpoint", out)
    if ing.tls is not None:
        _ingress_tls(ing, f"{path}.tls", out)
    traffic_policy.connection_pool(ing.connection_pool, f"{path}.connectionPool", out)
    pool = ing.connection_pool
    if pool is not None and pool.http is not None and common.protocol(ing.port.protocol) not in common.HTTP_PROTOCOLS:
        common.warn(
            f"sidecar: HTTP connection pool settings are configured for port {ing.port.number} "
            f'("{ing.port.name or ""}") but its protocol is not HTTP ({ing.port.protocol or ""}); '
            "only TCP settings will apply",
            f"{path}.connectionPool.http",
            out,
        )


def _default_endpoint(ep: str, path: str, out: Found) -> None:
    if ep.startswith(UNIX):
        common.unix_address(ep.removeprefix(UNIX), path, out, code="MZ2603")
        return
    m = _HOST_PORT.fullmatch(ep)
    if m is None:
        out.append(violation("MZ2603", f"address {ep}: missing port in address", path))
        return
    host, port = (m.group(1) if m.group(1) is not None else m.group(2)), m.group(3)
    if host not in _LOOPBACK_OR_ANY:
        out.append(
            violation(
                "MZ2603",
                "sidecar: defaultEndpoint must be of form 127.0.0.1:<port>,0.0.0.0:<port>,[::1]:port,[::]:port,"
                "unix://filepath or unset",
                path,
            )
        )
    if not port.isdigit():
        out.append(violation("MZ2603", f"sidecar: defaultEndpoint port ({port}) is not a number", path))
    else:
        common.port(int(port), path, out)


def _ingress_tls(ing: IstioIngressListener, path: str, out: Found) -> None:
    tls = ing.tls
    assert tls is not None and ing.port is not None
    for present, message in (
        (tls.subject_alt_names, "sidecar: subjectAltNames is not supported in ingress tls"),
        (tls.https_redirect, "sidecar: httpsRedirect is not supported"),
        (tls.credential_name, "sidecar: credentialName is not currently supported"),
        (tls.credential_names, "sidecar: credentialNames is not currently supported"),
        (tls.tls_certificates, "sidecar: tls_certificates is not currently supported"),
    ):
        if present:
            out.append(violation("MZ2603", message, path))
    if tls.mode in ("ISTIO_MUTUAL", "AUTO_PASSTHROUGH"):
        out.append(
            violation(
                "MZ2603",
                f"configuration is invalid: cannot set mode to {tls.mode} in sidecar ingress tls",
                f"{path}.mode",
            )
        )
    if common.protocol(ing.port.protocol) not in common.TLS_PROTOCOLS:
        out.append(violation("MZ2305", "server cannot have TLS settings for non HTTPS/TLS ports", path))
    server_tls.check(tls, path, out)


def _egress(sc: Sidecar, namespace: str, root: str, out: Found) -> None:
    ports: set[int] = set()
    sockets: set[str] = set()
    catch_all = False
    for i, e in enumerate(sc.egress):
        path = f"{root}.egress[{i}]"
        if e.port is None:
            if catch_all:
                out.append(violation("MZ2601", "sidecar: egress can have only one listener with empty port", path))
                continue
            if i == len(sc.egress) - 1:
                catch_all = True
            else:
                out.append(
                    violation(
                        "MZ2601",
                        "sidecar: the egress listener with empty port should be the last listener in the list",
                        path,
                    )
                )
        else:
            _egress_port(e, path, out)
            if e.port.number == 0:
                if (e.bind or "") in sockets:
                    out.append(
                        violation(
                            "MZ2601", "sidecar: unix domain socket values for listeners must be unique", f"{path}.bind"
                        )
                    )
                sockets.add(e.bind or "")
            else:
                if e.port.number in ports:
                    out.append(
                        violation(
                            "MZ2601", "sidecar: ports on IP bound listeners must be unique", f"{path}.port.number"
                        )
                    )
                ports.add(e.port.number)
        _egress_hosts(e, namespace, path, out)


def _egress_port(e: IstioEgressListener, path: str, out: Found) -> None:
    assert e.port is not None
    bind = e.bind or ""
    _port(e.port, f"{path}.port", out, allow_unix=True)
    if e.port.number == 0:
        if not bind.startswith(UNIX):
            out.append(
                violation(
                    "MZ2601", "sidecar: ports with 0 value must have a unix domain socket bind address", f"{path}.bind"
                )
            )
        else:
            common.unix_address(bind.removeprefix(UNIX), f"{path}.bind", out)
        if (e.capture_mode or "DEFAULT") not in ("DEFAULT", "NONE"):
            out.append(
                violation(
                    "MZ2601",
                    "sidecar: captureMode must be DEFAULT/NONE for unix domain socket listeners",
                    f"{path}.captureMode",
                )
            )
    elif bind and (problem := hosts.ip_error(bind)) is not None:
        out.append(violation("MZ2010", problem, f"{path}.bind"))


def _egress_hosts(e: IstioEgressListener, namespace: str, path: str, out: Found) -> None:
    if not e.hosts:
        out.append(violation("MZ2601", "sidecar: egress listener must contain at least one host", f"{path}.hosts"))
        return
    imported: dict[str, set[str]] = {}
    for j, h in enumerate(e.hosts):
        hp = f"{path}.hosts[{j}]"
        ns, slash, svc = h.partition("/")
        if slash and not ns.startswith("~"):
            seen = imported.setdefault(namespace if ns == "." else ns, set())
            if (svc != "*" and (svc in seen or "*" in seen)) or (svc == "*" and seen):
                common.warn(f"duplicated egress host: {h}", hp, out)
            seen.add(svc)
        for problem in hosts.namespaced_host_errors(h, gateway=False):
            out.append(violation("MZ2602", problem, hp))
    if "*" in imported.get("*", set()) and len(imported) != 1:
        common.warn("`*/*` host select all resources, no other hosts can be added", f"{path}.hosts", out)


def _outbound(sc: Sidecar, path: str, out: Found) -> None:
    otp = sc.outbound_traffic_policy
    if otp is None or otp.egress_proxy is None:
        return
    if otp.mode != "ALLOW_ANY":
        out.append(
            violation(
                "MZ2601", "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode", path
            )
        )
        return
    proxy = otp.egress_proxy
    if (problem := hosts.fqdn_error(proxy.host)) is not None:
        out.append(violation("MZ2004", problem, f"{path}.egressProxy.host"))
    if proxy.port is None:
        out.append(violation("MZ2601", "sidecar: egress_proxy port must be non-nil", f"{path}.egressProxy.port"))
        return
    common.destination(proxy, f"{path}.egressProxy", out)
