"""Node metadata: who an Envoy is, as the agent writes it into the bootstrap and the control plane reads it.

This is the contract between the sidecar agent (:func:`node_metadata` goes into Envoy's bootstrap) and
the control plane (:func:`proxy_from_node` decodes it from the first DiscoveryRequest); telemetry reads
the same identity from access-log streams. It sits beneath every layer so each side imports one
vocabulary instead of reaching into another's package. Keys follow Istio where Istio has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

ProxyType = Literal["sidecar", "router"]

META_NAME = "NAME"
META_NAMESPACE = "NAMESPACE"
META_LABELS = "LABELS"
META_SERVICE_ACCOUNT = "SERVICE_ACCOUNT"
META_INSTANCE_IPS = "INSTANCE_IPS"
META_ISTIO_VERSION = "ISTIO_VERSION"
META_INTERCEPTION_MODE = "INTERCEPTION_MODE"
META_PROXY_TYPE = "MIZZEN_PROXY_TYPE"  # "sidecar" | "router"
META_HTTP_PROXY_PORT = "MIZZEN_HTTP_PROXY_PORT"
META_INBOUND = "MIZZEN_INBOUND"  # [{servicePort, name, protocol, listenPort, appPort}]
META_UPSTREAMS = "MIZZEN_UPSTREAMS"  # [{host, port, listenPort, bind}]
META_ADMIN = "MIZZEN_ADMIN"  # "unix:<agent socket path>" (shown only; admin is reached through the agent)
META_BIND = "MIZZEN_BIND"  # gateway bind address
META_ACCESS_LOG = "MIZZEN_ACCESS_LOG"  # access-log file path
META_PROXY_CONFIG = "PROXY_CONFIG"  # Istio's: the proxy's own ProxyConfig (here only gatewayTopology)
META_CAPTURE_PORTS = "MIZZEN_CAPTURE_PORTS"  # {outbound, inbound}: this capture sidecar's 15001/15006
META_APP_ADDRESS = "MIZZEN_APP_ADDRESS"  # where the sidecar reaches its app (a captured app's veth address)
META_STATS_PORT = "MIZZEN_STATS_PORT"  # the agent's merged Prometheus endpoint (Istio's 15020), if any
META_LOCALITY = "MIZZEN_LOCALITY"  # "region/zone/subzone" (`mizzen run --locality`); also node.locality
LOCALITY_LABEL = "istio-locality"  # Istio's label: "region.zone.subzone" (label values cannot hold "/")
TOPOLOGY_LABELS = ("topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone")


def locality_from_labels(labels: Mapping[str, str]) -> str:
    """A workload's locality as Istio reads it from labels: ``istio-locality`` (dots for slashes), else
    the Kubernetes topology labels (region, zone) and Istio's subzone label; ``""`` when none is set."""
    if labels.get(LOCALITY_LABEL):
        return labels[LOCALITY_LABEL].replace(".", "/")
    parts = [labels.get(key, "") for key in TOPOLOGY_LABELS]
    return "/".join(parts).rstrip("/") if parts[0] else ""


@dataclass(frozen=True)
class InboundPort:
    """A service port the workload serves: the sidecar listens on ``listen_port``, the app on ``app_port``."""

    service_port: int  # e.g. 9080
    name: str  # port name, e.g. "http"
    protocol: str  # "HTTP", "TCP", "GRPC", ...
    listen_port: int  # sidecar inbound listener (the endpoint port other proxies connect to)
    app_port: int  # where the app listens on 127.0.0.1


@dataclass(frozen=True)
class Upstream:
    """An explicit local port for a TCP/gRPC client: ``127.0.0.1:listen_port`` -> ``host:port`` in the mesh."""

    host: str  # as the user wrote it: "reviews" or "reviews.default.svc.cluster.local"
    port: int
    listen_port: int
    bind: str = "127.0.0.1"


@dataclass(frozen=True)
class Proxy:
    """One Envoy connected to the control plane (a sidecar or a gateway)."""

    id: str  # Istio proxy id: "<name>.<namespace>", e.g. "reviews-v2.default"
    type: ProxyType
    name: str
    namespace: str
    ip: str = "127.0.0.1"
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str = "default"
    http_proxy_port: int | None = None  # sidecar outbound HTTP-proxy listener (apps' HTTP_PROXY)
    inbound: tuple[InboundPort, ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    bind_address: str = "127.0.0.1"  # gateways: address their server ports bind to
    access_log: str = ""  # file path for Envoy's access log ("" = none)
    locality: str = ""  # "region/zone/subzone" ("" = none): locality load balancing is relative to it
    # A gateway's own ProxyConfig gatewayTopology.numTrustedProxies (``proxy.istio.io/config``), over the mesh's.
    num_trusted_proxies: int | None = None
    interception: str = "NONE"  # Istio's INTERCEPTION_MODE: "REDIRECT" for `mizzen run --capture` sidecars
    # A capture sidecar's virtualOutbound/virtualInbound ports: Istio's 15001/15006 by default; `mizzen run
    # --capture` picks free ones, since several captured workloads' Envoys share the host's namespace.
    capture_outbound_port: int = 15001
    capture_inbound_port: int = 15006
    app_address: str = "127.0.0.1"  # where the inbound clusters reach the app
    stats_port: int | None = None  # the agent's merged Prometheus endpoint on ``ip`` (None: none)

    @property
    def node_id(self) -> str:
        """Envoy node id in Istio's shape ``<type>~<ip>~<name>.<ns>~<ns>.svc.cluster.local``."""
        return f"{self.type}~{self.ip}~{self.name}.{self.namespace}~{self.namespace}.svc.cluster.local"


def node_metadata(proxy: Proxy, *, admin: str, version: str) -> dict[str, Any]:
    """The bootstrap's node metadata for ``proxy``: what :func:`proxy_from_node` reads back."""
    meta: dict[str, Any] = {
        META_NAME: proxy.name,
        META_NAMESPACE: proxy.namespace,
        META_LABELS: dict(sorted(proxy.labels.items())),
        META_SERVICE_ACCOUNT: proxy.service_account,
        META_INSTANCE_IPS: proxy.ip,
        META_ISTIO_VERSION: f"mizzen-{version}",
        # NONE: listeners bind real ports (Istio's no-capture sidecar mode); REDIRECT: `mizzen run --capture`.
        META_INTERCEPTION_MODE: proxy.interception,
        META_PROXY_TYPE: proxy.type,
        META_ADMIN: admin,  # informational (e.g. unix:<socket>): the control plane reaches it via the agent
        META_BIND: proxy.bind_address,
        META_INBOUND: [
            {
                "servicePort": p.service_port,
                "name": p.name,
                "protocol": p.protocol,
                "listenPort": p.listen_port,
                "appPort": p.app_port,
            }
            for p in proxy.inbound
        ],
        META_UPSTREAMS: [
            {"host": u.host, "port": u.port, "listenPort": u.listen_port, "bind": u.bind} for u in proxy.upstreams
        ],
    }
    if proxy.http_proxy_port is not None:
        meta[META_HTTP_PROXY_PORT] = proxy.http_proxy_port
    if proxy.access_log:
        meta[META_ACCESS_LOG] = proxy.access_log
    if proxy.locality:
        meta[META_LOCALITY] = proxy.locality
    if proxy.interception == "REDIRECT":
        meta[META_CAPTURE_PORTS] = {"outbound": proxy.capture_outbound_port, "inbound": proxy.capture_inbound_port}
    if proxy.app_address != "127.0.0.1":
        meta[META_APP_ADDRESS] = proxy.app_address
    if proxy.stats_port is not None:
        meta[META_STATS_PORT] = proxy.stats_port
    if proxy.num_trusted_proxies is not None:
        meta[META_PROXY_CONFIG] = {"gatewayTopology": {"numTrustedProxies": proxy.num_trusted_proxies}}
    return meta


def proxy_from_node(node_id: str, metadata: Mapping[str, object]) -> Proxy:
    """Decode the agent's node metadata (a protobuf Struct as a dict: numbers arrive as floats)."""
    ptype = str(metadata.get(META_PROXY_TYPE) or node_id.split("~", 1)[0] or "sidecar")
    name = str(metadata.get(META_NAME) or "")
    namespace = str(metadata.get(META_NAMESPACE) or "default")
    ips = str(metadata.get(META_INSTANCE_IPS) or "127.0.0.1").split(",")
    raw_labels = metadata.get(META_LABELS) or {}
    labels = {str(k): str(v) for k, v in raw_labels.items()} if isinstance(raw_labels, Mapping) else {}
    http_port = metadata.get(META_HTTP_PROXY_PORT)
    inbound = tuple(
        InboundPort(
            service_port=int(p["servicePort"]),
            name=str(p.get("name", "")),
            protocol=str(p.get("protocol", "HTTP")),
            listen_port=int(p["listenPort"]),
            app_port=int(p["appPort"]),
        )
        for p in _records(metadata.get(META_INBOUND))
    )
    upstreams = tuple(
        Upstream(
            host=str(u["host"]),
            port=int(u["port"]),
            listen_port=int(u["listenPort"]),
            bind=str(u.get("bind", "127.0.0.1")),
        )
        for u in _records(metadata.get(META_UPSTREAMS))
    )
    return Proxy(
        id=f"{name}.{namespace}",
        type="router" if ptype == "router" else "sidecar",
        name=name,
        namespace=namespace,
        ip=ips[0],
        labels=labels,
        service_account=str(metadata.get(META_SERVICE_ACCOUNT) or "default"),
        http_proxy_port=int(http_port) if isinstance(http_port, int | float | str) and http_port else None,
        inbound=inbound,
        upstreams=upstreams,
        bind_address=str(metadata.get(META_BIND) or "127.0.0.1"),
        access_log=str(metadata.get(META_ACCESS_LOG) or ""),
        locality=str(metadata.get(META_LOCALITY) or "") or locality_from_labels(labels),
        num_trusted_proxies=_trusted_proxies(metadata.get(META_PROXY_CONFIG)),
        interception="REDIRECT" if metadata.get(META_INTERCEPTION_MODE) == "REDIRECT" else "NONE",
        capture_outbound_port=_capture_port(metadata.get(META_CAPTURE_PORTS), "outbound", 15001),
        capture_inbound_port=_capture_port(metadata.get(META_CAPTURE_PORTS), "inbound", 15006),
        app_address=str(metadata.get(META_APP_ADDRESS) or "127.0.0.1"),
        stats_port=_port_or_none(metadata.get(META_STATS_PORT)),
    )


def _port_or_none(value: object) -> int | None:
    """A port number from the node metadata (Struct numbers arrive as floats), else None."""
    return int(value) if isinstance(value, int | float) and 0 < value < 65536 else None


def _capture_port(value: object, key: str, default: int) -> int:
    """One of the capture ports in the node metadata (a port number), else Istio's ``default``."""
    port = value.get(key) if isinstance(value, Mapping) else None
    return int(port) if isinstance(port, int | float) and 0 < port < 65536 else default


def _trusted_proxies(value: object) -> int | None:
    """``gatewayTopology.numTrustedProxies`` of the node's ProxyConfig, if it sets one."""
    topology = value.get("gatewayTopology") if isinstance(value, Mapping) else None
    n = topology.get("numTrustedProxies") if isinstance(topology, Mapping) else None
    return int(n) if isinstance(n, int | float) and n >= 0 else None


def _records(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []
