"""DestinationRule ``trafficPolicy`` -> cluster fields (load balancing, connection pool, outlier
detection, upstream TLS), with port-level and subset-level overrides applied block by block."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.translate import names
from mizzen.translate.common import JSONDict, as_count, as_list, as_map, duration

MAX_U32 = 4294967295
_BLOCKS = ("loadBalancer", "connectionPool", "outlierDetection", "tls", "tunnel", "proxyProtocol")
_SIMPLE_LB = {
    "ROUND_ROBIN": "ROUND_ROBIN",
    "RANDOM": "RANDOM",
    "LEAST_REQUEST": "LEAST_REQUEST",
    "LEAST_CONN": "LEAST_REQUEST",
    "UNSPECIFIED": "LEAST_REQUEST",
}


def effective_policy(policy: Mapping[str, Any], subset: Mapping[str, Any] | None, port: int) -> dict[str, Any]:
    """The policy blocks that apply to one (subset, port) cluster: top level < port level < subset
    level < subset port level, each block replaced whole (Istio's ``MergeSubsetTrafficPolicy``)."""
    out = _port_level(policy, port)
    if subset is not None:
        out.update(_port_level(as_map(subset.get("trafficPolicy")), port))
    return out


def _port_level(policy: Mapping[str, Any], port: int) -> dict[str, Any]:
    out = {k: policy[k] for k in _BLOCKS if k in policy}
    for pls in as_list(policy.get("portLevelSettings")):
        pls = as_map(pls)
        if as_count(as_map(pls.get("port")).get("number")) == port:
            out.update({k: pls[k] for k in _BLOCKS if k in pls})
    return out


def apply_load_balancer(cluster: JSONDict, lb: Mapping[str, Any]) -> None:
    """``loadBalancer.simple`` / ``consistentHash`` -> ``lb_policy`` (+ ring-hash/maglev config)."""
    cluster["lb_policy"] = "LEAST_REQUEST"
    simple = str(lb.get("simple", "") or "")
    if simple == "PASSTHROUGH":
        cluster["type"] = "ORIGINAL_DST"
        cluster["lb_policy"] = "CLUSTER_PROVIDED"
        cluster.pop("eds_cluster_config", None)
    elif simple in _SIMPLE_LB:
        cluster["lb_policy"] = _SIMPLE_LB[simple]
    ch = as_map(lb.get("consistentHash"))
    if ch:
        maglev = as_map(ch.get("maglev"))
        if "maglev" in ch:
            cluster["lb_policy"] = "MAGLEV"
            if as_count(maglev.get("tableSize")):
                cluster["maglev_lb_config"] = {"table_size": as_count(maglev.get("tableSize"))}
        else:
            ring = as_map(ch.get("ringHash"))
            size = as_count(ring.get("minimumRingSize")) or as_count(ch.get("minimumRingSize")) or 1024
            cluster["lb_policy"] = "RING_HASH"
            cluster["ring_hash_lb_config"] = {"minimum_ring_size": size}


def hash_policy(lb: Mapping[str, Any]) -> list[JSONDict]:
    """Route-side ``hash_policy`` for a consistent-hash destination (empty when not hashing)."""
    ch = as_map(lb.get("consistentHash"))
    if not ch:
        return []
    if ch.get("httpHeaderName"):
        return [{"header": {"header_name": str(ch["httpHeaderName"])}}]
    cookie = as_map(ch.get("httpCookie"))
    if cookie:
        out: JSONDict = {"name": str(cookie.get("name", ""))}
        if cookie.get("path"):
            out["path"] = str(cookie["path"])
        ttl = duration(cookie.get("ttl"))
        if ttl is not None:
            out["ttl"] = ttl
        return [{"cookie": out}]
    if ch.get("useSourceIp"):
        return [{"connection_properties": {"source_ip": True}}]
    if ch.get("httpQueryParameterName"):
        return [{"query_parameter": {"name": str(ch["httpQueryParameterName"])}}]
    return []


def circuit_breakers(pool: Mapping[str, Any]) -> JSONDict:
    """Thresholds from ``connectionPool`` (Istio emits 2^32-1 for everything unset or zero)."""
    tcp, http = as_map(pool.get("tcp")), as_map(pool.get("http"))
    return {
        "thresholds": [
            {
                "max_connections": as_count(tcp.get("maxConnections")) or MAX_U32,
                "max_pending_requests": as_count(http.get("http1MaxPendingRequests")) or MAX_U32,
                "max_requests": as_count(http.get("http2MaxRequests")) or MAX_U32,
                "max_retries": as_count(http.get("maxRetries")) or MAX_U32,
                "track_remaining": True,
            }
        ]
    }


def apply_connection_pool(cluster: JSONDict, pool: Mapping[str, Any], h2: bool) -> None:
    """Connection-pool fields beyond circuit breaking: connect timeout, keepalive, protocol options."""
    tcp, http = as_map(pool.get("tcp")), as_map(pool.get("http"))
    timeout = duration(tcp.get("connectTimeout"))
    if timeout is not None:
        cluster["connect_timeout"] = timeout
    keepalive = as_map(tcp.get("tcpKeepalive"))
    if "tcpKeepalive" in tcp:
        ka: JSONDict = {}
        if as_count(keepalive.get("probes")):
            ka["keepalive_probes"] = as_count(keepalive.get("probes"))
        for src, dst in (("time", "keepalive_time"), ("interval", "keepalive_interval")):
            secs = duration(keepalive.get(src))
            if secs is not None:
                ka[dst] = max(1, int(float(secs[:-1])))
        cluster["upstream_connection_options"] = {"tcp_keepalive": ka}
    common: JSONDict = {}
    idle = duration(http.get("idleTimeout"))
    if idle is not None:
        common["idle_timeout"] = idle
    if as_count(http.get("maxRequestsPerConnection")):
        common["max_requests_per_connection"] = as_count(http.get("maxRequestsPerConnection"))
    max_duration = duration(tcp.get("maxConnectionDuration"))
    if max_duration is not None:
        common["max_connection_duration"] = max_duration
    upgrade = str(http.get("h2UpgradePolicy", "")) == "UPGRADE"
    h2_options: JSONDict = {}
    if as_count(http.get("maxConcurrentStreams")):
        h2_options["max_concurrent_streams"] = as_count(http.get("maxConcurrentStreams"))
    options: JSONDict = {"@type": names.T_HTTP_PROTOCOL_OPTIONS}
    if common:
        options["common_http_protocol_options"] = common
    if http.get("useClientProtocol"):
        options["use_downstream_protocol_config"] = {"http_protocol_options": {}, "http2_protocol_options": h2_options}
    elif h2 or upgrade:
        options["explicit_http_config"] = {"http2_protocol_options": h2_options}
    elif common:
        options["explicit_http_config"] = {"http_protocol_options": {}}
    if len(options) > 1:
        cluster["typed_extension_protocol_options"] = {names.HTTP_PROTOCOL_OPTIONS: options}


def outlier_detection(od: Mapping[str, Any]) -> JSONDict:
    """``outlierDetection`` -> Envoy ``outlier_detection`` (enforcing 100% for configured counters)."""
    out: JSONDict = {}
    if "consecutive5xxErrors" in od:
        n = as_count(od.get("consecutive5xxErrors"))
        out["consecutive_5xx"] = n
        out["enforcing_consecutive_5xx"] = 100 if n else 0
    else:
        out["enforcing_consecutive_5xx"] = 0 if "consecutiveGatewayErrors" in od else 100
    if "consecutiveGatewayErrors" in od:
        n = as_count(od.get("consecutiveGatewayErrors"))
        out["consecutive_gateway_failure"] = n
        out["enforcing_consecutive_gateway_failure"] = 100 if n else 0
    for src, dst in (("interval", "interval"), ("baseEjectionTime", "base_ejection_time")):
        value = duration(od.get(src))
        if value is not None:
            out[dst] = value
    if "maxEjectionPercent" in od:
        out["max_ejection_percent"] = as_count(od.get("maxEjectionPercent"))
    if od.get("splitExternalLocalOriginErrors"):
        out["split_external_local_origin_errors"] = True
        if "consecutiveLocalOriginFailures" in od:
            out["consecutive_local_origin_failure"] = as_count(od.get("consecutiveLocalOriginFailures"))
    out["enforcing_success_rate"] = 0
    return out


def upstream_tls(tls: Mapping[str, Any], default_sni: str) -> JSONDict | None:
    """DR ``tls`` SIMPLE/MUTUAL -> a ``transport_socket`` (files given by path); others -> ``None``.

    ISTIO_MUTUAL needs the mesh CA (not part of this translator yet); DISABLE is plaintext.
    """
    mode = str(tls.get("mode", "DISABLE"))
    if mode not in ("SIMPLE", "MUTUAL"):
        return None
    common: JSONDict = {}
    if tls.get("caCertificates"):
        validation: JSONDict = {"trusted_ca": {"filename": str(tls["caCertificates"])}}
        sans = [str(s) for s in as_list(tls.get("subjectAltNames"))]
        if sans:
            validation["match_typed_subject_alt_names"] = [{"san_type": "DNS", "matcher": {"exact": s}} for s in sans]
        common["validation_context"] = validation
    if mode == "MUTUAL" and tls.get("clientCertificate") and tls.get("privateKey"):
        common["tls_certificates"] = [
            {
                "certificate_chain": {"filename": str(tls["clientCertificate"])},
                "private_key": {"filename": str(tls["privateKey"])},
            }
        ]
    context: JSONDict = {
        "@type": names.T_UPSTREAM_TLS,
        "common_tls_context": common,
        "sni": str(tls.get("sni") or default_sni),
    }
    return {"name": names.TLS_SOCKET, "typed_config": context}
