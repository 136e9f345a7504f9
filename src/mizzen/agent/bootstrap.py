"""Envoy v3 bootstrap for a Mizzen sidecar or gateway (pure: no I/O, same input -> same dict).

The bootstrap is all an Envoy knows before it talks to the control plane: who it is (node id and
metadata in Istio's shape, read back by :func:`mizzen.node.proxy_from_node`), where the
control plane is (static cluster ``xds-grpc`` with the bearer token as gRPC initial metadata), that
clusters and listeners come over ADS, and which stats to keep.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from mizzen import __version__
from mizzen.node import Proxy, node_metadata

XDS_CLUSTER = "xds-grpc"
DEFAULT_XDS_ADDRESS = ("127.0.0.1", 15010)

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
    # RDS acceptance per route config, the HTTP-level twin of CDS/LDS update_* above.
    {"safe_regex": {"regex": r"http\..*\.rds\..*\.(update_success|update_rejected|update_failure|version)"}},
)


def build_bootstrap(
    proxy: Proxy,
    *,
    admin_port: int,
    token: str,
    xds_address: tuple[str, int] = DEFAULT_XDS_ADDRESS,
    version: str = __version__,
    api_type: str = "DELTA_GRPC",  # the ADS variant: GRPC (State of the World) or DELTA_GRPC (incremental)
) -> dict[str, Any]:
    """The Envoy v3 bootstrap (proto-JSON dict) for ``proxy``, with its admin on 127.0.0.1:``admin_port``."""
    return {
        "node": {
            "id": proxy.node_id,
            "cluster": service_cluster(proxy),
            "metadata": node_metadata(proxy, admin_port=admin_port, version=version),
        },
        "admin": {"address": _socket("127.0.0.1", admin_port)},
        "static_resources": {"clusters": [_xds_cluster(*xds_address)]},
        "dynamic_resources": {
            "ads_config": {
                "api_type": api_type,
                "transport_api_version": "V3",
                "set_node_on_first_message_only": True,
                "grpc_services": [
                    {
                        "envoy_grpc": {"cluster_name": XDS_CLUSTER},
                        "initial_metadata": [{"key": "authorization", "value": f"Bearer {token}"}],
                    }
                ],
            },
            "cds_config": {"ads": {}, "resource_api_version": "V3"},
            "lds_config": {"ads": {}, "resource_api_version": "V3"},
        },
        "stats_config": {"stats_matcher": {"inclusion_list": {"patterns": list(STATS_INCLUSIONS)}}},
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
                {"name": "global config", "static_layer": {"re2.max_program_size.error_level": 32768}},
                # An admin layer lets `POST /runtime_modify` work for debugging, as in Istio.
                {"name": "admin", "admin_layer": {}},
            ]
        },
    }


def service_cluster(proxy: Proxy) -> str:
    """Envoy ``node.cluster`` as Istio sets it: ``<app label or name>.<namespace>``."""
    return f"{proxy.labels.get('app') or proxy.name}.{proxy.namespace}"


def _xds_cluster(host: str, port: int) -> dict[str, Any]:
    # An IP is a STATIC endpoint; a host name (control plane on another machine) is resolved by DNS.
    try:
        ipaddress.ip_address(host)
        discovery = "STATIC"
    except ValueError:
        discovery = "STRICT_DNS"
    return {
        "name": XDS_CLUSTER,
        "type": discovery,
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": XDS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                # gRPC needs HTTP/2; keepalive pings notice a vanished control plane quickly.
                "explicit_http_config": {
                    "http2_protocol_options": {
                        "connection_keepalive": {"interval": "30s", "timeout": "10s"},
                    }
                },
            },
        },
        "upstream_connection_options": {"tcp_keepalive": {"keepalive_time": 300}},
        # One long-lived stream must never trip Envoy's default circuit breakers.
        "circuit_breakers": {
            "thresholds": [
                {"priority": prio, "max_connections": 100000, "max_pending_requests": 100000, "max_requests": 100000}
                for prio in ("DEFAULT", "HIGH")
            ]
        },
    }


def _socket(address: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": address, "port_value": port}}
