"""IST0118: Service ports whose name (or appProtocol) does not tell Istio the protocol."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import messages as m
from .context import Context, spec_list, spec_map

SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
PROTOCOLS = frozenset(
    {"tcp", "udp", "grpc", "grpc-web", "http", "http_proxy", "http2", "https", "tls", "mongo", "redis", "mysql"}
)
_K8S_APP_PROTOCOLS = frozenset({"kubernetes.io/h2c", "kubernetes.io/ws", "kubernetes.io/wss"})


def port_protocol_known(port: Mapping[str, Any]) -> bool:
    """Istio's port-name convention: ``<protocol>[-<suffix>]``, or ``appProtocol``, or a UDP port."""
    if str(port.get("protocol", "TCP")).upper() == "UDP":
        return True
    name = str(port.get("name", "") or "")
    app = port.get("appProtocol")
    if app is not None:
        name = str(app)
        if name in _K8S_APP_PROTOCOLS:
            return True
    if name.lower().startswith("grpc-web"):
        return True
    return name.split("-", 1)[0].lower() in PROTOCOLS


def analyze_port_names(ctx: Context) -> None:
    """Report each unconventional port of Services outside Kubernetes' system namespaces."""
    for svc in ctx.of("Service"):
        # Like istioctl, skip Kubernetes' own namespaces and Istio's own services (label ``istio``).
        if svc.namespace in SYSTEM_NAMESPACES or "istio" in svc.metadata.labels:
            continue
        if svc.metadata.labels.get("release") == "istio":
            continue
        for i, port in enumerate(spec_list(svc.spec.get("ports"))):
            port = spec_map(port)
            if port_protocol_known(port):
                continue
            number = port.get("port")
            # An absent targetPort prints as 0, as istioctl does for files (the API server would default it).
            target = port.get("targetPort", 0)
            ctx.report(
                m.PORT_NAME_NOT_UNDER_NAMING_CONVENTION,
                svc,
                str(port.get("name", "") or ""),
                number if isinstance(number, int) else 0,
                str(target),
                path=f"spec.ports[{i}]",
            )
