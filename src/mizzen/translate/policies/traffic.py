"""DestinationRule ``trafficPolicy`` -> cluster fields (load balancing, connection pool, outlier
detection, upstream TLS), with port-level and subset-level overrides applied block by block."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mizzen.config.models.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    ConsistentHashLB,
    HTTPCookie,
    HTTPSettings,
    LoadBalancerSettings,
    OutlierDetection,
    PortTrafficPolicy,
    Subset,
    TrafficPolicy,
)
from mizzen.config.semantics import durations
from mizzen.translate import names
from mizzen.translate.common import JSONDict, proto_duration

MAX_U32 = 4294967295
_SIMPLE_LB = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "RANDOM": "RANDOM",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "UNSPECIFIED": "LEAST_REQUEST",
}


@dataclass(frozen=True)
class PolicyBlocks:
    """The traffic-policy blocks that apply to one cluster (each replaced whole by an override)."""

    load_balancer: LoadBalancerSettings | None = None
    connection_pool: ConnectionPoolSettings | None = None
    outlier_detection: OutlierDetection | None = None
    tls: ClientTLSSettings | None = None

    def overridden_by(self, policy: TrafficPolicy | PortTrafficPolicy) -> PolicyBlocks:
        """These blocks with every block ``policy`` sets replacing ours."""
        return replace(
            self,
            load_balancer=policy.load_balancer or self.load_balancer,
            connection_pool=policy.connection_pool or self.connection_pool,
            outlier_detection=policy.outlier_detection or self.outlier_detection,
            tls=policy.tls or self.tls,
        )


def effective_policy(policy: TrafficPolicy | None, subset: Subset | None, port: int) -> PolicyBlocks:
    """The policy blocks that apply to one (subset, port) cluster: top level < port level < subset
    level < subset port level, each block replaced whole (Istio's ``MergeSubsetTrafficPolicy``)."""
    out = _port_level(PolicyBlocks(), policy, port)
    if subset is not None:
        out = _port_level(out, subset.traffic_policy, port)
    return out


def _port_level(blocks: PolicyBlocks, policy: TrafficPolicy | None, port: int) -> PolicyBlocks:
    if policy is None:
        return blocks
    blocks = blocks.overridden_by(policy)
    for pls in policy.port_level_settings:
        if pls.port is not None and pls.port.number == port:
            blocks = blocks.overridden_by(pls)
    return blocks


def _count(value: int | None) -> int:
    """An optional limit as Envoy's unsigned count (unset and negative are 0)."""
    return max(0, value or 0)


def _consistent_hash(lb: LoadBalancerSettings | None) -> ConsistentHashLB | None:
    """The ``consistentHash`` block when it says anything (an empty one means no hashing)."""
    ch = lb.consistent_hash if lb is not None else None
    return ch if ch is not None and ch != ConsistentHashLB() else None


def apply_load_balancer(cluster: JSONDict, lb: LoadBalancerSettings | None) -> None:
    """``loadBalancer.simple`` / ``consistentHash`` -> ``lb_policy`` (+ ring-hash/maglev config)."""
    cluster["lb_policy"] = "LEAST_REQUEST"
    simple = lb.simple if lb is not None else None
    if simple == "PASSTHROUGH":
        cluster["type"] = "ORIGINAL_DST"
        cluster["lb_policy"] = "CLUSTER_PROVIDED"
        cluster.pop("eds_cluster_config", None)
    elif simple is not None and simple in _SIMPLE_LB:
        cluster["lb_policy"] = _SIMPLE_LB[simple]
    ch = _consistent_hash(lb)
    if ch is None:
        return
    if ch.maglev is not None:
        cluster["lb_policy"] = "MAGLEV"
        if _count(ch.maglev.table_size):
            cluster["maglev_lb_config"] = {"table_size": _count(ch.maglev.table_size)}
    else:
        ring = _count(ch.ring_hash.minimum_ring_size) if ch.ring_hash is not None else 0
        cluster["lb_policy"] = "RING_HASH"
        cluster["ring_hash_lb_config"] = {"minimum_ring_size": ring or _count(ch.minimum_ring_size) or 1024}


def hash_policy(lb: LoadBalancerSettings | None) -> list[JSONDict]:
    """Route-side ``hash_policy`` for a consistent-hash destination (empty when not hashing)."""
    ch = _consistent_hash(lb)
    if ch is None:
        return []
    if ch.http_header_name:
        return [{"header": {"header_name": ch.http_header_name}}]
    cookie = ch.http_cookie
    if cookie is not None and cookie != HTTPCookie():
        out: JSONDict = {"name": cookie.name}
        if cookie.path:
            out["path"] = cookie.path
        ttl = proto_duration(cookie.ttl)
        if ttl is not None:
            out["ttl"] = ttl
        return [{"cookie": out}]
    if ch.use_source_ip:
        return [{"connection_properties": {"source_ip": True}}]
    if ch.http_query_parameter_name:
        return [{"query_parameter": {"name": ch.http_query_parameter_name}}]
    return []


def circuit_breakers(pool: ConnectionPoolSettings | None) -> JSONDict:
    """Thresholds from ``connectionPool`` (Istio emits 2^32-1 for everything unset or zero)."""
    tcp = pool.tcp if pool is not None else None
    http = pool.http if pool is not None else None
    return {
        "thresholds": [
            {
                "max_connections": _count(tcp.max_connections if tcp else None) or MAX_U32,
                "max_pending_requests": _count(http.http1_max_pending_requests if http else None) or MAX_U32,
                "max_requests": _count(http.http2_max_requests if http else None) or MAX_U32,
                "max_retries": _count(http.max_retries if http else None) or MAX_U32,
                "track_remaining": True,
            }
        ]
    }


def apply_connection_pool(cluster: JSONDict, pool: ConnectionPoolSettings | None, h2: bool) -> None:
    """Connection-pool fields beyond circuit breaking: connect timeout, keepalive, protocol options."""
    tcp = pool.tcp if pool is not None else None
    http = pool.http if pool is not None else None
    timeout = proto_duration(tcp.connect_timeout) if tcp else None
    if timeout is not None:
        cluster["connect_timeout"] = timeout
    if tcp is not None and tcp.tcp_keepalive is not None:
        keepalive = tcp.tcp_keepalive
        ka: JSONDict = {}
        if _count(keepalive.probes):
            ka["keepalive_probes"] = _count(keepalive.probes)
        for value, dst in ((keepalive.time, "keepalive_time"), (keepalive.interval, "keepalive_interval")):
            secs = durations.whole_seconds(value) if value else None
            if secs is not None:
                ka[dst] = max(1, secs)
        cluster["upstream_connection_options"] = {"tcp_keepalive": ka}
    common: JSONDict = {}
    idle = proto_duration(http.idle_timeout) if http else None
    if idle is not None:
        common["idle_timeout"] = idle
    if http is not None and _count(http.max_requests_per_connection):
        common["max_requests_per_connection"] = _count(http.max_requests_per_connection)
    max_duration = proto_duration(tcp.max_connection_duration) if tcp else None
    if max_duration is not None:
        common["max_connection_duration"] = max_duration
    cluster_options = _protocol_options(http, common, h2)
    if cluster_options is not None:
        cluster["typed_extension_protocol_options"] = {names.HTTP_PROTOCOL_OPTIONS: cluster_options}


def _protocol_options(settings: HTTPSettings | None, common: JSONDict, h2: bool) -> JSONDict | None:
    """``HttpProtocolOptions``: common options, and the upstream protocol (client's, h2 or HTTP/1.1)."""
    upgrade = settings is not None and settings.h2_upgrade_policy == "UPGRADE"
    h2_options: JSONDict = {}
    if settings is not None and _count(settings.max_concurrent_streams):
        h2_options["max_concurrent_streams"] = _count(settings.max_concurrent_streams)
    options: JSONDict = {"@type": names.T_HTTP_PROTOCOL_OPTIONS}
    if common:
        options["common_http_protocol_options"] = common
    if settings is not None and settings.use_client_protocol:
        options["use_downstream_protocol_config"] = {"http_protocol_options": {}, "http2_protocol_options": h2_options}
    elif h2 or upgrade:
        options["explicit_http_config"] = {"http2_protocol_options": h2_options}
    elif common:
        options["explicit_http_config"] = {"http_protocol_options": {}}
    return options if len(options) > 1 else None


def outlier_detection(od: OutlierDetection) -> JSONDict:
    """``outlierDetection`` -> Envoy ``outlier_detection`` (enforcing 100% for configured counters)."""
    out: JSONDict = {}
    if od.consecutive_5xx_errors is not None:
        n = _count(od.consecutive_5xx_errors)
        out["consecutive_5xx"] = n
        out["enforcing_consecutive_5xx"] = 100 if n else 0
    else:
        out["enforcing_consecutive_5xx"] = 0 if od.consecutive_gateway_errors is not None else 100
    if od.consecutive_gateway_errors is not None:
        n = _count(od.consecutive_gateway_errors)
        out["consecutive_gateway_failure"] = n
        out["enforcing_consecutive_gateway_failure"] = 100 if n else 0
    for value, dst in ((od.interval, "interval"), (od.base_ejection_time, "base_ejection_time")):
        converted = proto_duration(value)
        if converted is not None:
            out[dst] = converted
    if od.max_ejection_percent is not None:
        out["max_ejection_percent"] = _count(od.max_ejection_percent)
    if od.split_external_local_origin_errors:
        out["split_external_local_origin_errors"] = True
        if od.consecutive_local_origin_failures is not None:
            out["consecutive_local_origin_failure"] = _count(od.consecutive_local_origin_failures)
    out["enforcing_success_rate"] = 0
    return out


def healthy_panic_threshold(od: OutlierDetection) -> JSONDict:
    """``common_lb_config`` from ``minHealthPercent`` (0 when unset: Envoy's panic mode off, as Istio)."""
    return {"healthy_panic_threshold": {"value": float(od.min_health_percent or 0)}}
