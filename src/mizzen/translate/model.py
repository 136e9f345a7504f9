"""The translator's inputs: who asks (a :class:`Proxy`) and what the mesh looks like (:class:`MeshSnapshot`).

Both are immutable. ``translate(proxy, mesh)`` is a pure function of them; the control plane builds a
Proxy from the node metadata the agent puts in Envoy's bootstrap, and a MeshSnapshot from the store and
the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mizzen.config.models import DestinationRule, Gateway, Secret, Sidecar, Typed, VirtualService, only
from mizzen.registry.model import RegistrySnapshot

ProxyType = Literal["sidecar", "router"]


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

    @property
    def node_id(self) -> str:
        """Envoy node id in Istio's shape ``<type>~<ip>~<name>.<ns>~<ns>.svc.cluster.local``."""
        return f"{self.type}~{self.ip}~{self.name}.{self.namespace}~{self.namespace}.svc.cluster.local"


@dataclass(frozen=True)
class MeshConfig:
    """Mesh-wide settings (Istio MeshConfig subset) with Istio's defaults."""

    outbound_traffic_policy: Literal["ALLOW_ANY", "REGISTRY_ONLY"] = "ALLOW_ANY"
    connect_timeout: str = "10s"
    trust_domain: str = "cluster.local"
    root_namespace: str = "istio-system"
    tracing_sampling: float = 1.0  # percent; Istio's default is 1%
    zipkin_address: str = ""  # host:port of a Zipkin collector ("" = no tracing)
    access_log_format: str = ""  # "" = Istio's default text format
    # Stream every request's access-log entry to the control plane (Envoy's gRPC access-log service on
    # the `xds-grpc` cluster), from which Istio's standard metrics are derived.
    access_log_service: bool = False
    telemetry_token: str = ""  # bearer token proxies present to the access-log service
    tracing_token: str = ""  # bearer token for the span collector: only when it is the control plane itself


@dataclass(frozen=True)
class MeshSnapshot:
    """Everything the translator may read: typed config by kind, the registry, mesh settings.

    Each config tuple holds the kind's resources sorted by (creationTimestamp, namespace, name), the
    order Istio uses to break ties. :meth:`of_configs` sorts a mixed list of parsed resources in.
    """

    virtual_services: tuple[Typed[VirtualService], ...] = ()
    destination_rules: tuple[Typed[DestinationRule], ...] = ()
    gateways: tuple[Typed[Gateway], ...] = ()
    sidecars: tuple[Typed[Sidecar], ...] = ()
    secrets: tuple[Typed[Secret], ...] = ()
    registry: RegistrySnapshot = field(default_factory=RegistrySnapshot)
    mesh: MeshConfig = field(default_factory=MeshConfig)

    @classmethod
    def of_configs(
        cls, configs: Iterable[Typed[object]], registry: RegistrySnapshot | None = None, mesh: MeshConfig | None = None
    ) -> MeshSnapshot:
        """The snapshot of parsed resources given in creation order (kinds the translator ignores dropped)."""
        items = list(configs)
        return cls(
            virtual_services=only(items, VirtualService),
            destination_rules=only(items, DestinationRule),
            gateways=only(items, Gateway),
            sidecars=only(items, Sidecar),
            secrets=only(items, Secret),
            registry=registry or RegistrySnapshot(),
            mesh=mesh or MeshConfig(),
        )


@dataclass(frozen=True)
class ProxyResources:
    """The translator's output for one proxy: Envoy v3 resources in proto-JSON form, keyed by name.

    Each value is a dict in Envoy's canonical JSON mapping (snake_case field names as in Envoy's docs;
    nested ``Any`` values carry ``"@type"``), without a top-level ``"@type"`` (the map says the type).
    """

    clusters: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    endpoints: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    listeners: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    routes: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    secrets: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


# --- node metadata: the contract between the agent (writes it into Envoy's bootstrap) and the
# control plane (reads it from the first DiscoveryRequest). Keys follow Istio where Istio has one.
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
META_ADMIN = "MIZZEN_ADMIN"  # "127.0.0.1:<admin port>"
META_BIND = "MIZZEN_BIND"  # gateway bind address
META_ACCESS_LOG = "MIZZEN_ACCESS_LOG"  # access-log file path


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
    )


def _records(value: object) -> list[Mapping[str, Any]]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []
