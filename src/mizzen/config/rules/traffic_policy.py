"""Istio's rules for traffic policies (DestinationRule and Sidecar connection pools): load balancing,
locality, connection pools, outlier detection, client TLS, tunnels."""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.config.codes import violation
from mizzen.config.models.destination_rule import (
    ClientTLSSettings,
    ConnectionPoolSettings,
    Distribute,
    Failover,
    HTTPCookie,
    HTTPSettings,
    LoadBalancerSettings,
    LocalityLoadBalancerSetting,
    OutlierDetection,
    PortTrafficPolicy,
    TrafficPolicy,
    ZoneAwareFailover,
    ZoneAwareLoadBalancerSetting,
)
from mizzen.config.rules import hosts
from mizzen.config.rules.common import Found, int_percent, warn

TOPOLOGY_LABELS = frozenset(
    {"topology.kubernetes.io/region", "topology.kubernetes.io/zone", "topology.istio.io/subzone"}
)
MAX_MAGLEV = 5000011
CONFIGMAP = "configmap://"


def _bad(message: str, path: str, out: Found) -> None:
    out.append(violation("MZ2204", message, path))


def traffic_policy(tp: TrafficPolicy, namespace: str, path: str, out: Found) -> None:
    """A top-level or subset traffic policy (Istio's ``validateTrafficPolicy``)."""
    fields = (tp.outlier_detection, tp.connection_pool, tp.load_balancer, tp.tls, tp.tunnel, tp.proxy_protocol)
    if all(f is None for f in fields) and not tp.port_level_settings and tp.retry_budget is None:
        _bad("traffic policy must have at least one field", path, out)
        return
    if tp.tunnel is not None and tp.proxy_protocol is not None:
        _bad("tunnel and proxyProtocol must not be set together", path, out)
        return
    outlier(tp.outlier_detection, f"{path}.outlierDetection", out)
    connection_pool(tp.connection_pool, f"{path}.connectionPool", out)
    load_balancer(tp.load_balancer, tp.outlier_detection, f"{path}.loadBalancer", out)
    client_tls(tp.tls, namespace, f"{path}.tls", out)
    _port_level(tp.port_level_settings, namespace, f"{path}.portLevelSettings", out)
    if (t := tp.tunnel) is not None:
        if not (hosts.fqdn_error(t.target_host) is None or hosts.is_ip(t.target_host)):
            _bad(
                f"tunnel target host must be valid FQDN or IP address: {hosts.fqdn_error(t.target_host)}; "
                f"{t.target_host} is not a valid IP",
                f"{path}.tunnel.targetHost",
                out,
            )
        if not 1 <= t.target_port <= 65535:
            _bad(
                f"tunnel target port is invalid: port number {t.target_port} must be in the range 1..65535",
                f"{path}.tunnel.targetPort",
                out,
            )


def _port_level(settings: Sequence[PortTrafficPolicy], namespace: str, path: str, out: Found) -> None:
    for i, pls in enumerate(settings):
        pp = f"{path}[{i}]"
        if pls.port is None:
            _bad("portTrafficPolicy must have valid port", pp, out)
        if (
            pls.outlier_detection is None
            and pls.connection_pool is None
            and pls.load_balancer is None
            and pls.tls is None
        ):
            _bad("port traffic policy must have at least one field", pp, out)
            continue
        outlier(pls.outlier_detection, f"{pp}.outlierDetection", out)
        connection_pool(pls.connection_pool, f"{pp}.connectionPool", out)
        load_balancer(pls.load_balancer, pls.outlier_detection, f"{pp}.loadBalancer", out)
        client_tls(pls.tls, namespace, f"{pp}.tls", out)


def outlier(od: OutlierDetection | None, path: str, out: Found) -> None:
    """Outlier detection: percentages in range, local-origin failures need the split enabled."""
    if od is None:
        return
    if od.consecutive_errors:
        out.append(
            violation(
                "MZ1007",
                "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or "
                "consecutive5xxErrors instead",
                f"{path}.consecutiveErrors",
            )
        )
    if not od.split_external_local_origin_errors and (od.consecutive_local_origin_failures or 0) > 0:
        _bad(
            "outlier detection consecutive local origin failures is specified, but split external local origin "
            "errors is set to false",
            f"{path}.consecutiveLocalOriginFailures",
            out,
        )
    int_percent(od.max_ejection_percent, f"{path}.maxEjectionPercent", out)
    int_percent(od.min_health_percent, f"{path}.minHealthPercent", out)


def connection_pool(pool: ConnectionPoolSettings | None, path: str, out: Found) -> None:
    """Connection pool limits: at least one of tcp/http, no negative limits."""
    if pool is None:
        return
    if pool.tcp is None and pool.http is None:
        _bad("connection pool must have at least one field", path, out)
        return
    if pool.http is not None:
        _http_pool(pool.http, f"{path}.http", out)
    if pool.tcp is not None and (pool.tcp.max_connections or 0) < 0:
        _bad("max connections must be non-negative", f"{path}.tcp.maxConnections", out)


def _http_pool(h: HTTPSettings, path: str, out: Found) -> None:
    """HTTP pool limits non-negative; no client protocol with an h2 upgrade; keepalive fully given."""
    for field, value, what in (
        ("http1MaxPendingRequests", h.http1_max_pending_requests, "http1 max pending requests"),
        ("http2MaxRequests", h.http2_max_requests, "http2 max requests"),
        ("maxRequestsPerConnection", h.max_requests_per_connection, "max requests per connection"),
        ("maxRetries", h.max_retries, "max retries"),
        ("maxConcurrentStreams", h.max_concurrent_streams, "max concurrent streams"),
    ):
        if (value or 0) < 0:
            _bad(f"{what} must be non-negative", f"{path}.{field}", out)
    if h.h2_upgrade_policy == "UPGRADE" and h.use_client_protocol:
        _bad("use client protocol must not be true when H2UpgradePolicy is UPGRADE", path, out)
    if (ka := h.http2_keep_alive) is not None:
        for field, given in (("interval", ka.interval), ("timeout", ka.timeout)):
            if given is None:
                _bad(f"http2 keepalive {field} is required", f"{path}.http2KeepAlive.{field}", out)


def load_balancer(lb: LoadBalancerSettings | None, od: OutlierDetection | None, path: str, out: Found) -> None:
    """Consistent hash settings, locality or zone-aware balancing, warm-up."""
    if lb is None:
        return
    if lb.consistent_hash is not None:
        _consistent_hash(lb, f"{path}.consistentHash", out)
    if lb.locality_lb_setting is not None and lb.zone_aware_lb_setting is not None:
        _bad("only one of localityLbSetting and zoneAwareLbSetting can be set", path, out)
    _locality(lb.locality_lb_setting, od, f"{path}.localityLbSetting", out)
    _zone_aware(lb.zone_aware_lb_setting, od, f"{path}.zoneAwareLbSetting", out)
    if (w := lb.warmup) is not None:
        if (w.minimum_percent or 0) > 100:
            _bad("minimumPercent value should be less than or equal to 100", f"{path}.warmup.minimumPercent", out)
        if w.aggression is not None and w.aggression <= 0:
            _bad("aggression should be greater than 0", f"{path}.warmup.aggression", out)


def _consistent_hash(lb: LoadBalancerSettings, path: str, out: Found) -> None:
    ch = lb.consistent_hash
    assert ch is not None
    if ch.http_cookie is not None:
        _cookie_attributes(ch.http_cookie, f"{path}.httpCookie", out)
    if ch.minimum_ring_size:
        out.append(
            violation(
                "MZ1007",
                "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead",
                f"{path}.minimumRingSize",
            )
        )
        if ch.ring_hash is not None or ch.maglev is not None:
            _bad("only one of MinimumRingSize or Maglev/Ringhash can be specified", path, out)
    if ch.maglev is not None:
        _maglev_table_size(ch.maglev.table_size or 0, f"{path}.maglev.tableSize", out)


def _cookie_attributes(cookie: HTTPCookie, path: str, out: Found) -> None:
    """Cookie attributes named, each name once."""
    names: set[str] = set()
    for i, attr in enumerate(cookie.attributes):
        if not attr.name:
            _bad("cookie attribute name cannot be empty", f"{path}.attributes[{i}]", out)
        elif attr.name in names:
            _bad(f"duplicate cookie attribute name: {attr.name}", f"{path}.attributes[{i}]", out)
        names.add(attr.name)


def _maglev_table_size(size: int, path: str, out: Found) -> None:
    """Envoy's Maglev table: set, below its maximum, and prime."""
    if size == 0:
        _bad("tableSize must be set for maglev", path, out)
    if size >= MAX_MAGLEV:
        _bad(f"tableSize must be less than {MAX_MAGLEV} for maglev", path, out)
    if not _is_prime(size):
        _bad("tableSize must be a prime number for maglev", path, out)


def _is_prime(x: int) -> bool:
    """Envoy's primality test, kept exact: 0 is not prime, 1..3 are."""
    if 0 < x < 4:
        return True
    if x % 2 == 0:
        return False
    return all(x % f for f in range(3, int(x**0.5) + 1, 2))


def _locality(loc: LocalityLoadBalancerSetting | None, od: OutlierDetection | None, path: str, out: Found) -> None:
    if loc is None:
        return
    if loc.distribute and loc.failover:
        _bad("can not simultaneously specify 'distribute' and 'failover'", path, out)
        return
    if loc.failover:
        for label in loc.failover_priority:
            if label in TOPOLOGY_LABELS:
                _bad(
                    f"can not simultaneously set 'failover' and topology label '{label}' in 'failover_priority'",
                    path,
                    out,
                )
                return
    if not _distribute(loc.distribute, f"{path}.distribute", out):
        return
    if (loc.failover or loc.failover_priority) and od is None:
        warn("outlier detection policy must be provided for failover", path, out)
    _failovers(loc.failover, "locality lb failover", path, out)


def _distribute(entries: Sequence[Distribute], path: str, out: Found) -> bool:
    """Weights per source summing to 100 over distinct localities; False on a bad weight (Istio stops there)."""
    sources: list[str] = []
    for i, d in enumerate(entries):
        sources.append(d.from_ or "")
        if any(not 0 < w <= 100 for w in d.to.values()):
            _bad("locality weight must be in range [1, 100]", f"{path}[{i}].to", out)
            return False
        if (total := sum(d.to.values())) != 100:
            _bad(f"total locality weight {total} != 100", f"{path}[{i}].to", out)
            return False
        if (problem := locality_overlap(list(d.to))) is not None:
            _bad(problem, f"{path}[{i}].to", out)
    if (problem := locality_overlap(sources)) is not None:
        _bad(problem, path, out)
    return True


def _failovers(entries: Sequence[Failover | ZoneAwareFailover], what: str, path: str, out: Found) -> None:
    only = (
        "only specify region"
        if what.startswith("locality")
        else "only specifies region; zone and subzone failover are handled automatically"
    )
    for i, f in enumerate(entries):
        src, dst, fp = f.from_ or "", f.to or "", f"{path}.failover[{i}]"
        if src == dst:
            _bad(f"{what} settings must specify different regions", fp, out)
        if "/" in src or "/" in dst:
            _bad(f"{what} {only}", fp, out)
        if "*" in src or "*" in dst:
            _bad(f"{what} region should not contain '*' wildcard", fp, out)


def _zone_aware(za: ZoneAwareLoadBalancerSetting | None, od: OutlierDetection | None, path: str, out: Found) -> None:
    if za is None:
        return
    for label in za.failover_priority:
        if label in TOPOLOGY_LABELS:
            _bad(
                f"'failover_priority' for zone aware lb must not use topology label '{label}'; "
                "region- and zone-level routing are handled automatically",
                f"{path}.failoverPriority",
                out,
            )
    if (za.failover or za.failover_priority) and od is None:
        warn("outlier detection policy must be provided for failover", path, out)
    _failovers(za.failover, "zone aware lb failover", path, out)


def locality_overlap(localities: list[str]) -> str | None:
    """Istio's ``validateLocalities``: at most one trailing ``*``; no locality covering another."""
    seen: dict[str, dict[str, set[str]]] = {}
    for loc in localities:
        if "*" in loc and (loc.count("*") > 1 or not loc.endswith("*")):
            return f"locality {loc} wildcard '*' number can not exceed 1 and must be in the end"
        if "*" in seen:
            return f"locality {loc} overlap with previous specified ones"
        items = loc.split("/", 2)
        if any(item == "" for item in items):
            return f"locality {loc} must not contain empty region/zone/subzone info"
        if _overlaps(seen, items):
            return f"locality {loc} overlap with previous specified ones"
    return None


def _overlaps(seen: dict[str, dict[str, set[str]]], items: list[str]) -> bool:
    region = items[0]
    if len(items) == 1:
        if region in seen:
            return True
        seen[region] = {"*": {"*"}}
        return False
    zones = seen.setdefault(region, {})
    if "*" in zones:
        return True
    if len(items) == 2:
        if items[1] in zones:
            return True
        zones[items[1]] = {"*"}
        return False
    subzones = zones.setdefault(items[1], set())
    if "*" in subzones or items[2] in subzones:
        return True
    subzones.add(items[2])
    return False


def client_tls(tls: ClientTLSSettings | None, namespace: str, path: str, out: Found) -> None:
    """Istio's ``ValidateTLS`` for upstream TLS."""
    if tls is None:
        return
    if tls.credential_name and tls.credential_name.startswith(CONFIGMAP):
        _configmap_credential(tls.credential_name, namespace, f"{path}.credentialName", out)
    if tls.insecure_skip_verify:
        _insecure_skip_verify(tls, path, out)
    if tls.mode in ("SIMPLE", "MUTUAL") and tls.credential_name:
        if tls.client_certificate or tls.ca_certificates or tls.private_key or tls.ca_crl:
            _tls("cannot specify client certificates or CA certificate or CA CRL If credentialName is set", path, out)
        return
    if tls.mode == "MUTUAL":
        if not tls.client_certificate:
            _tls("client certificate required for mutual tls", f"{path}.clientCertificate", out)
        if not tls.private_key:
            _tls("private key required for mutual tls", f"{path}.privateKey", out)


def _insecure_skip_verify(tls: ClientTLSSettings, path: str, out: Found) -> None:
    """With verification off, nothing that only serves verification may be given."""
    if tls.mode == "SIMPLE" and (tls.ca_certificates or tls.credential_name or tls.subject_alt_names):
        _tls(
            "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true",
            path,
            out,
        )
    if tls.mode == "MUTUAL" and (tls.ca_certificates or tls.subject_alt_names):
        _tls("cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true", path, out)


def _configmap_credential(name: str, namespace: str, path: str, out: Found) -> None:
    ns, slash, rest = name.removeprefix(CONFIGMAP).partition("/")
    rest = rest.split("/", 1)[0]
    if not slash:
        problem = f'invalid resource name "{name}". Expected namespace and name'
    elif not ns:
        problem = f'invalid resource name "{name}". Expected namespace'
    elif not rest:
        problem = f'invalid resource name "{name}". Expected name'
    elif ns != namespace:
        _tls(
            f'invalid configmap:// credentialName: namespace must match the configuration namespace "{namespace}"',
            path,
            out,
        )
        return
    else:
        return
    _tls(f"invalid configmap:// credentialName: {problem}", path, out)


def _tls(message: str, path: str, out: Found) -> None:
    out.append(violation("MZ2205", message, path))
