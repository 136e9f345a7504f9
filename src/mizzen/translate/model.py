"""The translator's inputs and output: what the mesh looks like (:class:`MeshSnapshot`) and what one proxy gets.

Both are immutable. ``translate(proxy, mesh)`` is a pure function of them; the control plane builds the
:class:`~mizzen.node.Proxy` (who asks) from the node metadata the agent puts in Envoy's bootstrap, and a
MeshSnapshot from the store and the registry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mizzen.config import yamlsafe
from mizzen.config.mesh_telemetry import MeshTelemetry, parse_mesh_telemetry
from mizzen.config.models import (
    AuthorizationPolicy,
    DestinationRule,
    Gateway,
    PeerAuthentication,
    RequestAuthentication,
    Secret,
    Sidecar,
    Telemetry,
    Typed,
    VirtualService,
    only,
)
from mizzen.config.telemetry_settings import DEFAULT_METRICS, MetricsSettings
from mizzen.registry.model import RegistrySnapshot


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
    zipkin_cluster_static: bool = False  # the bootstrap defines `zipkin` (the agent's span socket): no CDS cluster
    # Istio's enableAutoMtls: a client sidecar originates ISTIO_MUTUAL to endpoints that run a sidecar.
    enable_auto_mtls: bool = True
    # Istio's defaultConfig.gatewayTopology.numTrustedProxies: how many proxies in front of the gateways
    # to trust in X-Forwarded-For (the original client, `remoteIpBlocks`, is the address that many hops back).
    gateway_num_trusted_proxies: int = 0
    trust_domain_aliases: tuple[str, ...] = ()
    # Istio's standard metrics, kept by Envoy's stats access loggers (translate/stats_logger.py): the
    # Telemetry API's resolution for the proxies (one value for every proxy until it is resolved per proxy).
    metrics: MetricsSettings = DEFAULT_METRICS
    # accessLogFile/Encoding, enableTracing, defaultProviders, extensionProviders (the Telemetry API's inputs).
    telemetry: MeshTelemetry = field(default_factory=MeshTelemetry)


def _security_fields(data: Mapping[str, object], source: str) -> tuple[bool, tuple[str, ...]]:
    """MeshConfig's ``enableAutoMtls`` (default true) and ``trustDomainAliases`` from Istio's YAML keys;
    ``ValueError`` naming ``source`` for a wrong type."""
    auto = data.get("enableAutoMtls", True)
    if not isinstance(auto, bool):
        raise ValueError(f"{source}: enableAutoMtls must be true or false, not {auto!r}")
    aliases = data.get("trustDomainAliases") or []
    if not isinstance(aliases, list) or not all(isinstance(a, str) and a for a in aliases):
        raise ValueError(f"{source}: trustDomainAliases must be a list of trust domain names")
    return auto, tuple(aliases)


def _gateway_trusted_proxies(data: Mapping[str, Any], where: str) -> int:
    """``defaultConfig.gatewayTopology.numTrustedProxies`` of a mesh.yaml (Istio's default 0); a value
    that is not a non-negative integer is an error naming the file and field."""
    topology = ((data.get("defaultConfig") or {}).get("gatewayTopology")) or {}
    value = topology.get("numTrustedProxies", 0) if isinstance(topology, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"{where}: defaultConfig.gatewayTopology.numTrustedProxies must be a non-negative integer, not {value!r}"
        )
    return value


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
    peer_authentications: tuple[Typed[PeerAuthentication], ...] = ()
    authorization_policies: tuple[Typed[AuthorizationPolicy], ...] = ()
    request_authentications: tuple[Typed[RequestAuthentication], ...] = ()
    telemetries: tuple[Typed[Telemetry], ...] = ()
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
            peer_authentications=only(items, PeerAuthentication),
            authorization_policies=only(items, AuthorizationPolicy),
            request_authentications=only(items, RequestAuthentication),
            telemetries=only(items, Telemetry),
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


def _one_span_collector(address: str, telemetry: MeshTelemetry, where: str) -> None:
    """Spans travel through the agents to the control plane, which forwards them to one external collector
    (``defaultConfig.tracing.zipkin.address``, else the ``zipkin`` extension provider): zipkin collectors
    that differ would leave some spans where the user did not send them, so they are an error."""
    collectors = [("defaultConfig.tracing.zipkin.address", address)] if address else []
    for i, p in enumerate(telemetry.extension_providers):
        if p.zipkin is not None:
            collectors.append((f"extensionProviders[{i}].zipkin", f"{p.zipkin.service}:{p.zipkin.port}"))
    for field_path, collector in collectors[1:]:
        if collector != collectors[0][1]:
            raise ValueError(
                f"{where}: {field_path} ({collector}) differs from {collectors[0][0]} ({collectors[0][1]}): "
                "Mizzen forwards every span to one Zipkin collector"
            )


def load_mesh_config(path: Path) -> MeshConfig:
    """Read the Istio MeshConfig subset Mizzen uses from a ``mesh.yaml`` (absent file: Istio's defaults).

    The one reader of mesh.yaml for the control plane and for offline ``mizzen test``; a wrong value is a
    ``ValueError`` naming the file and field."""
    if not path.exists():
        return MeshConfig()
    data: dict[str, Any] = yamlsafe.load(path.read_text(encoding="utf-8"), str(path)) or {}
    otp = (data.get("outboundTrafficPolicy") or {}).get("mode", "ALLOW_ANY")
    if otp not in ("ALLOW_ANY", "REGISTRY_ONLY"):
        raise ValueError(f"{path}: outboundTrafficPolicy.mode must be ALLOW_ANY or REGISTRY_ONLY, not {otp!r}")
    tracing = (data.get("defaultConfig") or {}).get("tracing") or {}
    zipkin = str(((tracing.get("zipkin") or {}).get("address")) or "")
    auto_mtls, aliases = _security_fields(data, str(path))
    sampling = tracing.get("sampling", 1.0)
    if isinstance(sampling, bool) or not isinstance(sampling, int | float) or not 0 <= sampling <= 100:
        raise ValueError(f"{path}: defaultConfig.tracing.sampling must be a percentage (0-100), not {sampling!r}")
    log_format = data.get("accessLogFormat", "")
    if not isinstance(log_format, str):
        raise ValueError(f"{path}: accessLogFormat must be a string, not {log_format!r}")
    telemetry = parse_mesh_telemetry(data, str(path))
    _one_span_collector(zipkin, telemetry, str(path))
    return MeshConfig(
        gateway_num_trusted_proxies=_gateway_trusted_proxies(data, str(path)),
        zipkin_address=zipkin,
        outbound_traffic_policy=otp,
        connect_timeout=str(data.get("connectTimeout", "10s")),
        trust_domain=str(data.get("trustDomain", "cluster.local")),
        root_namespace=str(data.get("rootNamespace", "istio-system")),
        tracing_sampling=float(sampling),
        access_log_format=log_format,
        telemetry=telemetry,
        enable_auto_mtls=auto_mtls,
        trust_domain_aliases=aliases,
    )
