"""Istio's DestinationRule rules: subsets, traffic policy ranges, TLS consistency, export scope."""

from __future__ import annotations

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models import parse_spec
from mizzen.config.models.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    DestinationRule,
    LoadBalancerSettings,
    OutlierDetection,
    TrafficPolicy,
)
from mizzen.config.resource import Resource
from mizzen.config.rules import common
from mizzen.config.rules.common import Found


def check(res: Resource, root: str) -> Found:
    """Every rule violation of one DestinationRule."""
    dr: DestinationRule = parse_spec(res)
    out: Found = []
    if dr.host:
        common.host(dr.host, f"{root}.host", out)
    for i, subset in enumerate(dr.subsets):
        path = f"{root}.subsets[{i}]"
        if subset.name and not names.is_dns1123_label(subset.name):
            out.append(violation("MZ2202", f'subset name is invalid: "{subset.name}"', f"{path}.name"))
        common.labels(subset.labels, f"{path}.labels", out)
        if subset.traffic_policy is not None:
            traffic_policy(subset.traffic_policy, f"{path}.trafficPolicy", out)
    for dup in common.duplicates([s.name for s in dr.subsets if s.name]):
        index = [s.name for s in dr.subsets].index(dup, [s.name for s in dr.subsets].index(dup) + 1)
        out.append(violation("MZ2201", f"duplicate subset names: {dup}", f"{root}.subsets[{index}].name"))
    if dr.traffic_policy is not None:
        traffic_policy(dr.traffic_policy, f"{root}.trafficPolicy", out)
    out.extend(names.export_to_problems(dr.export_to, f"{root}.exportTo"))
    if dr.workload_selector is not None:
        common.labels(dr.workload_selector.match_labels, f"{root}.workloadSelector.matchLabels", out)
        if any(e not in (".", res.namespace) for e in dr.export_to):
            out.append(
                violation(
                    "MZ2203",
                    "destination rule with workload selector must be exported only to its own namespace",
                    f"{root}.exportTo",
                )
            )
    return out


def traffic_policy(tp: TrafficPolicy, path: str, out: Found) -> None:
    """A top-level or subset traffic policy."""
    if not (
        tp.load_balancer
        or tp.connection_pool
        or tp.outlier_detection
        or tp.tls
        or tp.port_level_settings
        or tp.tunnel
        or tp.proxy_protocol
    ):
        out.append(violation("MZ2204", "traffic policy must have at least one field", path))
    _blocks(tp.load_balancer, tp.connection_pool, tp.outlier_detection, tp.tls, path, out)
    for i, pls in enumerate(tp.port_level_settings):
        pp = f"{path}.portLevelSettings[{i}]"
        if pls.port is None or pls.port.number is None:
            out.append(violation("MZ1003", "port must be specified", f"{pp}.port"))
        else:
            common.port(pls.port.number, f"{pp}.port.number", out)
        if not (pls.load_balancer or pls.connection_pool or pls.outlier_detection or pls.tls):
            out.append(violation("MZ2204", "port traffic policy must have at least one field", pp))
        _blocks(pls.load_balancer, pls.connection_pool, pls.outlier_detection, pls.tls, pp, out)
    for dup in common.duplicates([str(p.port.number) for p in tp.port_level_settings if p.port and p.port.number]):
        out.append(
            violation("MZ2204", f"duplicate port number {dup} in portLevelSettings", f"{path}.portLevelSettings")
        )
    if tp.tunnel is not None:
        common.port(tp.tunnel.target_port, f"{path}.tunnel.targetPort", out)


def _blocks(
    lb: LoadBalancerSettings | None,
    pool: ConnectionPoolSettings | None,
    od: OutlierDetection | None,
    tls: ClientTLSSettings | None,
    path: str,
    out: Found,
) -> None:
    if lb is not None:
        _load_balancer(lb, f"{path}.loadBalancer", out)
    if pool is not None:
        _connection_pool(pool, f"{path}.connectionPool", out)
    if od is not None:
        _outlier(od, f"{path}.outlierDetection", out)
    if tls is not None:
        client_tls(tls, f"{path}.tls", out)


def _load_balancer(lb: LoadBalancerSettings, path: str, out: Found) -> None:
    loc = lb.locality_lb_setting
    if loc is not None:
        if loc.distribute and loc.failover:
            out.append(
                violation(
                    "MZ2204", "can not simultaneously specify 'distribute' and 'failover'", f"{path}.localityLbSetting"
                )
            )
        for i, d in enumerate(loc.distribute):
            if d.to and sum(d.to.values()) != 100:
                out.append(
                    violation("MZ2204", "total weight must be 100", f"{path}.localityLbSetting.distribute[{i}].to")
                )
        for i, f in enumerate(loc.failover):
            if f.from_ and f.from_ == f.to:
                out.append(
                    violation(
                        "MZ2204",
                        "locality lb failover settings must specify different regions",
                        f"{path}.localityLbSetting.failover[{i}]",
                    )
                )
    if lb.warmup is not None:
        if lb.warmup.aggression is not None and lb.warmup.aggression < 1:
            out.append(violation("MZ2204", "aggression must be >= 1", f"{path}.warmup.aggression"))
        common.percent_value(lb.warmup.minimum_percent, f"{path}.warmup.minimumPercent", out)
    ch = lb.consistent_hash
    if (
        ch is not None
        and ch.maglev is not None
        and ch.maglev.table_size is not None
        and not _is_prime(ch.maglev.table_size)
    ):
        out.append(violation("MZ2204", "tableSize must be a prime number", f"{path}.consistentHash.maglev.tableSize"))


def _is_prime(n: int) -> bool:
    # Maglev's lookup table must have a prime size; table sizes are small enough for trial division.
    return n >= 2 and all(n % d for d in range(2, int(n**0.5) + 1))


def _non_negative(values: dict[str, int | None], path: str, out: Found) -> None:
    for field, value in values.items():
        if value is not None and value < 0:
            out.append(violation("MZ2204", f"{field} must be non-negative, got {value}", f"{path}.{field}"))


def _connection_pool(pool: ConnectionPoolSettings, path: str, out: Found) -> None:
    if pool.tcp is None and pool.http is None:
        out.append(violation("MZ2204", "must have at least one field (tcp or http)", path))
    if pool.tcp is not None:
        _non_negative({"maxConnections": pool.tcp.max_connections}, f"{path}.tcp", out)
    if (h := pool.http) is not None:
        _non_negative(
            {
                "http1MaxPendingRequests": h.http1_max_pending_requests,
                "http2MaxRequests": h.http2_max_requests,
                "maxRequestsPerConnection": h.max_requests_per_connection,
                "maxRetries": h.max_retries,
                "maxConcurrentStreams": h.max_concurrent_streams,
            },
            f"{path}.http",
            out,
        )


def _outlier(od: OutlierDetection, path: str, out: Found) -> None:
    _non_negative(
        {
            "consecutiveErrors": od.consecutive_errors,
            "consecutive5xxErrors": od.consecutive_5xx_errors,
            "consecutiveGatewayErrors": od.consecutive_gateway_errors,
            "consecutiveLocalOriginFailures": od.consecutive_local_origin_failures,
        },
        path,
        out,
    )
    for field, value in (("maxEjectionPercent", od.max_ejection_percent), ("minHealthPercent", od.min_health_percent)):
        if value is not None and not 0 <= value <= 100:
            out.append(violation("MZ2006", f"{field} must be in range [0, 100], got {value}", f"{path}.{field}"))


def client_tls(tls: ClientTLSSettings, path: str, out: Found) -> None:
    """Client TLS: MUTUAL needs a certificate and key (or credentialName); ISTIO_MUTUAL takes none."""
    if tls.mode == "MUTUAL" and not tls.credential_name:
        if not tls.client_certificate:
            out.append(violation("MZ2205", "client certificate required for mutual tls", f"{path}.clientCertificate"))
        if not tls.private_key:
            out.append(violation("MZ2205", "private key required for mutual tls", f"{path}.privateKey"))
    if tls.mode == "ISTIO_MUTUAL" and (
        tls.client_certificate or tls.private_key or tls.ca_certificates or tls.credential_name
    ):
        out.append(
            violation(
                "MZ2205",
                "cannot specify client certificates or CA certificate or credentialName if mode = ISTIO_MUTUAL",
                path,
            )
        )
    if tls.credential_name and (tls.client_certificate or tls.private_key or tls.ca_certificates):
        out.append(
            violation("MZ2205", "cannot specify client certificates or CA certificate when credentialName is set", path)
        )
