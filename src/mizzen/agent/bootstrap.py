"""Envoy v3 bootstrap for a Mizzen sidecar or gateway (pure: no I/O, same input -> same dict).

The bootstrap is all an Envoy knows before it talks to the control plane: who it is (node id and
metadata in Istio's shape, read back by :func:`mizzen.node.proxy_from_node`), where its agent
is (UNIX sockets: static clusters ``xds-grpc`` for ADS and the access-log service, ``sds-grpc`` for its
certificates, ``zipkin`` for spans; the agent forwards them to the control plane with its credential),
that clusters and listeners come over ADS, and which stats to keep. It holds no credential and no key;
Envoy's admin API listens on a UNIX socket of mode 0600 only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mizzen import __version__
from mizzen.node import Proxy, node_metadata

XDS_CLUSTER = "xds-grpc"
SDS_CLUSTER = "sds-grpc"  # mizzen.security.sds.SDS_CLUSTER, Istio's name
ZIPKIN_CLUSTER = "zipkin"  # as in Istio's bootstrap; the translator then emits none (zipkin_cluster_static)
ADMIN_SOCKET_MODE = 0o600


@dataclass(frozen=True)
class AgentPaths:
    """The agent's UNIX sockets Envoy is pointed at (see :class:`mizzen.agent.sockets.AgentSockets`)."""

    xds: str
    sds: str
    spans: str
    admin: str


# Envoy creates every stat of every cluster and listener unless told otherwise; with hundreds of
# clusters the default set costs about 2.5x the memory and 10x the CDS apply time (measured,
# reference/perf.md §4.4). Like Istio's bootstrap we keep an inclusion list, limited to what
# `mizzen proxy-status`/`proxy-config`, the telemetry layer and the dashboard read:
STATS_INCLUSIONS: tuple[dict[str, Any], ...] = (
    {"prefix": "cluster_manager."},  # CDS update_success/rejected, active/warming cluster counts
    {"prefix": "listener_manager."},  # LDS update_*, listener counts and drains
    {"prefix": "server."},  # state (LIVE), uptime, memory, hot-restart epoch
    {"prefix": "control_plane."},  # connected_state to the control plane
    # Per-cluster request/connection counters and histograms (upstream_rq_2xx, upstream_rq_time,
    # upstream_rq_retry, upstream_cx_active...), circuit-breaker gauges and outlier ejections: the
    # request metrics and traffic-policy views. Full-match RE2, evaluated once per stat name.
    {
        "safe_regex": {
            "regex": r"cluster\..*\.(upstream_rq_|upstream_cx_|circuit_breakers\."
            r"|outlier_detection\.).*"
        }
    },
    # Per-listener HTTP request counters (downstream_rq_2xx/5xx, downstream_rq_time, downstream_cx_*).
    {"safe_regex": {"regex": r"http\..*\.downstream_(rq|cx)_.*"}},
    # mTLS on the wire: handshakes and failures of each cluster's and listener's TLS (a few counters each;
    # the per-cipher/curve stats stay out).
    {
        "safe_regex": {
            "regex": r"(cluster|listener)\..*\.ssl\.(handshake|connection_error|no_certificate"
            r"|fail_verify_.*|session_reused)"
        }
    },
    # RDS acceptance per route config, the HTTP-level twin of CDS/LDS update_* above.
    {"safe_regex": {"regex": r"http\..*\.rds\..*\.(update_success|update_rejected|update_failure|version)"}},
    # AuthorizationPolicy outcomes of the HTTP and network RBAC filters, enforced and dry-run (Istio's
    # bootstrap keeps the same suffixes): denied requests on the dashboard, shadow rules checkable.
    {"suffix": "rbac.allowed"},
    {"suffix": "rbac.denied"},
    {"suffix": "shadow_allowed"},
    {"suffix": "shadow_denied"},
    # Istio's standard metrics, kept by the stats access loggers under their prefix (mizzen.meshstats).
    {"prefix": "istio."},
)
# How often Envoy merges its workers' histograms into what /stats shows (Envoy's default 5s). The Istio
# request histograms of the stats loggers are read from /stats/prometheus, so they should be at most this
# old when a reader scrapes. (stats_flush_on_admin would merge on each read, but the merge completes after
# the answer: every reader would see the histograms one scrape late.)
STATS_FLUSH_INTERVAL = "1s"


INTERNAL_LISTENER_EXTENSION: dict[str, Any] = {
    "name": "envoy.bootstrap.internal_listener",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3.InternalListener",
        "buffer_size_kb": 64,
    },
}

# Envoy's Zipkin batching (runtime keys): a batch per worker each second, up to this many spans.
ZIPKIN_MIN_FLUSH_SPANS = 100
ZIPKIN_FLUSH_INTERVAL_MS = 1000
# How soon Envoy reopens its ADS stream after it broke (a restarted control plane, a restarted agent):
# Envoy's default backoff (0.5 s base, 30 s max) left proxies unsynced for up to 15 s after a restart;
# 0.1 s doubling to at most 1 s resyncs within about a second of the control plane being back.
ADS_RETRY: dict[str, Any] = {"retry_back_off": {"base_interval": "0.1s", "max_interval": "1s"}}


def build_bootstrap(
    proxy: Proxy,
    *,
    paths: AgentPaths,
    version: str = __version__,
    api_type: str = "DELTA_GRPC",  # the ADS variant: GRPC (State of the World) or DELTA_GRPC (incremental)
) -> dict[str, Any]:
    """The Envoy v3 bootstrap (proto-JSON dict) for ``proxy``, reaching its agent at ``paths``."""
    return {
        "node": {
            "id": proxy.node_id,
            "cluster": service_cluster(proxy),
            "metadata": node_metadata(proxy, admin=f"unix:{paths.admin}", version=version),
            **({"locality": _locality(proxy.locality)} if proxy.locality else {}),
        },
        "admin": {"address": _pipe(paths.admin, ADMIN_SOCKET_MODE)},
        "static_resources": {
            "clusters": [
                _grpc_cluster(XDS_CLUSTER, paths.xds),
                _grpc_cluster(SDS_CLUSTER, paths.sds),
                _http_cluster(ZIPKIN_CLUSTER, paths.spans),
            ]
        },
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                # Envoy takes the ADS backoff from EnvoyGrpc.retry_policy (GrpcService.retry_policy is ignored there).
                "grpc_services": [{"envoy_grpc": {"cluster_name": XDS_CLUSTER, "retry_policy": ADS_RETRY}}],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "stats_config": {"stats_matcher": {"inclusion_list": {"patterns": list(STATS_INCLUSIONS)}}},
        "stats_flush_interval": STATS_FLUSH_INTERVAL,
        # Internal listeners (as in Istio's bootstrap): CONNECT tunnels from HTTPS_PROXY clients enter one
        # per TLS port, which routes them by SNI like Istio's outbound listener.
        "bootstrap_extensions": [INTERNAL_LISTENER_EXTENSION],
        # Envoy warns at start-up when no connection limit is configured; state one (as high as Istio's).
        "overload_manager": {
            "resource_monitors": [
                {
                    "name": "envoy.resource_monitors.global_downstream_max_connections",
                    "typed_config": {
                        "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections"
                        ".v3.DownstreamConnectionsConfig",
                        "max_active_downstream_connections": 2147483647,
                    },
                }
            ]
        },
        "layered_runtime": {
            "layers": [
                # VirtualService regexes are user input; Envoy's default RE2 program-size limit (100)
                # rejects moderately long ones, so raise it as Istio does.
                # Zipkin batches: one per worker each second at most, up to 100 spans (Envoy's defaults, 5 spans
                # or 5 s, post a batch per 5 sampled spans; each batch costs the agent and control plane a call).
                {
                    "name": "global config",
                    "static_layer": {
                        "re2.max_program_size.error_level": 32768,
                        "tracing.zipkin.min_flush_spans": ZIPKIN_MIN_FLUSH_SPANS,
                        "tracing.zipkin.flush_interval_ms": ZIPKIN_FLUSH_INTERVAL_MS,
                    },
                },
                # An admin layer lets `POST /runtime_modify` work for debugging, as in Istio.
                {"name": "admin", "admin_layer": {}},
            ]
        },
    }


def service_cluster(proxy: Proxy) -> str:
    """Envoy ``node.cluster`` as Istio sets it: ``<app label or name>.<namespace>``."""
    return f"{proxy.labels.get('app') or proxy.name}.{proxy.namespace}"


def _grpc_cluster(name: str, path: str) -> dict[str, Any]:
    """A static HTTP/2 cluster on the agent's UNIX socket ``path`` (gRPC needs HTTP/2)."""
    cluster = _http_cluster(name, path)
    cluster["typed_extension_protocol_options"] = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "explicit_http_config": {"http2_protocol_options": {}},
        },
    }
    # Long-lived streams (ADS, SDS, access logs) must never trip Envoy's default circuit breakers.
    cluster["circuit_breakers"] = {
        "thresholds": [
            {"priority": prio, "max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000}
            for prio in ("DEFAULT", "HIGH")
        ]
    }
    return cluster


def _http_cluster(name: str, path: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _pipe(path)}}]}],
        },
    }


def _pipe(path: str, mode: int | None = None) -> dict[str, Any]:
    pipe: dict[str, Any] = {"path": path}
    if mode is not None:
        pipe["mode"] = mode
    return {"pipe": pipe}


def _locality(locality: str) -> dict[str, str]:
    """Envoy's node locality from ``region/zone/subzone`` (Istio's bootstrap sets it too)."""
    keys = ("region", "zone", "sub_zone")
    return {k: v for k, v in zip(keys, locality.split("/"), strict=False) if v}
