"""``service.PortNameAnalyzer``: Service ports whose name (or appProtocol) does not tell Istio the
protocol (IST0118), and ExternalName Services with such ports (IST0150)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import messages as m
from .context import Context, spec_list, spec_map

PROTOCOLS = frozenset(
    {"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"}
)
_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"})
# Ports Istio treats as TCP without a protocol hint (SMTP, DNS, MySQL, MongoDB).
WELL_KNOWN_TCP = frozenset({25, 53, 3306, 27017})
MANAGED_LABEL = "gateway.istio.io/managed"
MANAGED_VALUES = frozenset({"istio.io-gateway-controller", "istio.io-mesh-controller", "istio.io-eastwest-controller"})


def port_protocol_known(port: Mapping[str, Any]) -> bool:
    """Istio's protocol selection: UDP, ``appProtocol``, or a ``<protocol>[-<suffix>]`` name."""
    if port.get("protocol") == "UDP":
        return True
    name = str(port.get("name") or "")
    if "appProtocol" in port and port["appProtocol"] is not None:
        name = str(port["appProtocol"])
        if name in _APP_PROTOCOLS:
            return True
    if name.lower().startswith("grpc-web"):
        return True
    if name.split("-", 1)[0].lower() in PROTOCOLS:
        return True
    number = port.get("port")
    return isinstance(number, int) and number in WELL_KNOWN_TCP


def analyze_port_names(ctx: Context) -> None:
    """Report each unconventional port of Services outside Istio's own (labels ``istio`` or ``release: istio``)."""
    for svc in ctx.of("Service"):
        labels = svc.metadata.labels
        if "istio" in labels or labels.get("release") == "istio" or labels.get(MANAGED_LABEL) in MANAGED_VALUES:
            continue
        external = svc.spec.get("type") == "ExternalName"
        for i, port in enumerate(spec_list(svc.spec.get("ports"))):
            port = spec_map(port)
            if port_protocol_known(port) and not (external and port.get("name") == "tcp"):
                continue
            if external:
                ctx.report(m.EXTERNAL_NAME_PORT_NAME, svc, path=f"spec.ports[{i}]")
                continue
            number = port.get("port")
            # An absent targetPort prints as 0, as istioctl does for files (the API server would default it).
            target = port.get("targetPort", 0)
            ctx.report(
                m.PORT_NAME_NOT_UNDER_NAMING_CONVENTION,
                svc,
                str(port.get("name") or ""),
                number if isinstance(number, int) else 0,
                str(target),
                path=f"spec.ports[{i}]",
            )
