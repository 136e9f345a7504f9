"""DestinationRule: policies applied to traffic for a host after routing (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import LabelSelector, PortSelector
from mizzen.config.schema import AnyDuration, Duration, FreeDuration, UInt32, fld

SimpleLB = Literal["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"]


@dataclass(frozen=True)
class CookieAttribute:
    """An extra attribute of a hash cookie."""

    name: str = fld("", required=True)
    value: str | None = fld()


@dataclass(frozen=True)
class HTTPCookie:
    """A cookie used as hash key (generated when missing)."""

    name: str = fld("", required=True)
    path: str | None = fld()
    ttl: FreeDuration | None = fld()
    attributes: tuple[CookieAttribute, ...] = fld(())


@dataclass(frozen=True)
class RingHash:
    """Ring hash settings."""

    minimum_ring_size: UInt32 | None = fld()


@dataclass(frozen=True)
class MagLev:
    """Maglev settings."""

    table_size: UInt32 | None = fld()


@dataclass(frozen=True)
class ConsistentHashLB:
    """Session affinity by header, cookie, source IP or query parameter."""

    http_header_name: str | None = fld(oneof="hash_key")
    http_cookie: HTTPCookie | None = fld(oneof="hash_key")
    use_source_ip: bool | None = fld(oneof="hash_key")
    http_query_parameter_name: str | None = fld(oneof="hash_key")
    ring_hash: RingHash | None = fld(oneof="hash_algorithm")
    maglev: MagLev | None = fld(oneof="hash_algorithm")
    minimum_ring_size: UInt32 | None = fld(deprecated="use ringHash.minimumRingSize")


@dataclass(frozen=True)
class Distribute:
    """Traffic share from one locality to others."""

    from_: str | None = fld(json="from")
    to: Mapping[str, UInt32] = fld(dict)


@dataclass(frozen=True)
class Failover:
    """Failover from one region to another."""

    from_: str | None = fld(json="from")
    to: str | None = fld()


@dataclass(frozen=True)
class LocalityLoadBalancerSetting:
    """Locality-aware load balancing."""

    distribute: tuple[Distribute, ...] = fld(())
    failover: tuple[Failover, ...] = fld(())
    failover_priority: tuple[str, ...] = fld(())
    enabled: bool | None = fld()


@dataclass(frozen=True)
class ZoneAwareFailover:
    """Cross-region failover order for zone-aware load balancing."""

    from_: str | None = fld(json="from")
    to: str | None = fld()


@dataclass(frozen=True)
class ZoneAwareLoadBalancerSetting:
    """Envoy's zone-aware load balancing (an alternative to ``localityLbSetting``)."""

    enabled: bool | None = fld()
    failover: tuple[ZoneAwareFailover, ...] = fld(())
    failover_priority: tuple[str, ...] = fld(())
    min_cluster_size: int | None = fld()


@dataclass(frozen=True)
class WarmupConfiguration:
    """Slow start for new endpoints."""

    duration: Duration | None = fld(required=True)
    minimum_percent: float | None = fld()
    aggression: float | None = fld()


@dataclass(frozen=True)
class LoadBalancerSettings:
    """Load balancing policy."""

    simple: SimpleLB | None = fld(oneof="lb_policy")
    consistent_hash: ConsistentHashLB | None = fld(oneof="lb_policy")
    locality_lb_setting: LocalityLoadBalancerSetting | None = fld()
    warmup_duration_secs: Duration | None = fld(deprecated="use warmup.duration")
    warmup: WarmupConfiguration | None = fld()
    zone_aware_lb_setting: ZoneAwareLoadBalancerSetting | None = fld()


@dataclass(frozen=True)
class TcpKeepalive:
    """TCP keepalive probes."""

    probes: UInt32 | None = fld()
    time: Duration | None = fld()
    interval: Duration | None = fld()


@dataclass(frozen=True)
class TCPSettings:
    """TCP connection pool."""

    max_connections: int | None = fld()
    connect_timeout: Duration | None = fld()
    tcp_keepalive: TcpKeepalive | None = fld()
    max_connection_duration: Duration | None = fld()
    idle_timeout: AnyDuration | None = fld()


@dataclass(frozen=True)
class ConnectionKeepalive:
    """HTTP/2 PING keepalive on upstream connections."""

    interval: Duration | None = fld()
    timeout: Duration | None = fld()


@dataclass(frozen=True)
class HTTPSettings:
    """HTTP connection pool."""

    http1_max_pending_requests: int | None = fld()
    http2_max_requests: int | None = fld()
    max_requests_per_connection: int | None = fld()
    max_retries: int | None = fld()
    idle_timeout: Duration | None = fld()
    h2_upgrade_policy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = fld()
    use_client_protocol: bool | None = fld()
    max_concurrent_streams: int | None = fld()
    http2_keep_alive: ConnectionKeepalive | None = fld()


@dataclass(frozen=True)
class ConnectionPoolSettings:
    """Connection pool (circuit breaker) limits."""

    tcp: TCPSettings | None = fld()
    http: HTTPSettings | None = fld()


@dataclass(frozen=True)
class OutlierDetection:
    """Ejection of failing endpoints."""

    split_external_local_origin_errors: bool | None = fld()
    consecutive_local_origin_failures: UInt32 | None = fld()
    consecutive_gateway_errors: UInt32 | None = fld()
    consecutive_5xx_errors: UInt32 | None = fld()
    interval: Duration | None = fld()
    base_ejection_time: Duration | None = fld()
    max_ejection_percent: int | None = fld()
    min_health_percent: int | None = fld()
    consecutive_errors: int | None = fld(deprecated="use consecutive5xxErrors (no longer translated)")
    outlier_detection_http_error_codes: tuple[int, ...] = fld(())


@dataclass(frozen=True)
class ClientTLSSettings:
    """Upstream TLS origination."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = fld()
    client_certificate: str | None = fld()
    private_key: str | None = fld()
    ca_certificates: str | None = fld()
    credential_name: str | None = fld()
    subject_alt_names: tuple[str, ...] = fld(())
    sni: str | None = fld()
    insecure_skip_verify: bool | None = fld()
    ca_crl: str | None = fld()


@dataclass(frozen=True)
class TunnelSettings:
    """HTTP CONNECT tunnelling to the upstream."""

    protocol: Literal["CONNECT", "POST"] | None = fld()
    target_host: str = fld("", required=True)
    target_port: UInt32 = fld(0, required=True)


@dataclass(frozen=True)
class ProxyProtocol:
    """PROXY protocol towards the upstream."""

    version: Literal["V1", "V2"] | None = fld()


@dataclass(frozen=True)
class RetryBudget:
    """A cap on concurrent retries, as a share of active requests."""

    percent: float | None = fld()
    min_retry_concurrency: UInt32 | None = fld()
    budget_interval: FreeDuration | None = fld()


@dataclass(frozen=True)
class PortTrafficPolicy:
    """Per-port override of the traffic policy (each block replaces the top-level one)."""

    port: PortSelector | None = fld()
    load_balancer: LoadBalancerSettings | None = fld()
    connection_pool: ConnectionPoolSettings | None = fld()
    outlier_detection: OutlierDetection | None = fld()
    tls: ClientTLSSettings | None = fld()


@dataclass(frozen=True)
class TrafficPolicy:
    """Traffic policy of a host or subset."""

    load_balancer: LoadBalancerSettings | None = fld()
    connection_pool: ConnectionPoolSettings | None = fld()
    outlier_detection: OutlierDetection | None = fld()
    tls: ClientTLSSettings | None = fld()
    port_level_settings: tuple[PortTrafficPolicy, ...] = fld(())
    tunnel: TunnelSettings | None = fld()
    proxy_protocol: ProxyProtocol | None = fld()
    retry_budget: RetryBudget | None = fld()


@dataclass(frozen=True)
class Subset:
    """A named group of endpoints selected by labels."""

    name: str = fld("", required=True)
    labels: Mapping[str, str] = fld(dict)
    traffic_policy: TrafficPolicy | None = fld()


@dataclass(frozen=True)
class DestinationRule:
    """The spec of a DestinationRule."""

    host: str = fld("", required=True)
    traffic_policy: TrafficPolicy | None = fld()
    subsets: tuple[Subset, ...] = fld(())
    export_to: tuple[str, ...] = fld(())
    workload_selector: LabelSelector | None = fld()
