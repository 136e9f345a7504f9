"""Shared builders for xds unit tests: small but real Envoy resources."""

from __future__ import annotations

from mizzen.xds import types
from mizzen.xds.snapshot import Snapshot


def cluster(name: str, timeout: str = "1s") -> dict[str, object]:
    return {"name": name, "type": "EDS", "connect_timeout": timeout,
            "eds_cluster_config": {"eds_config": {"ads": {}, "resource_api_version": "V3"}}}


def cla(name: str, port: int = 8080) -> dict[str, object]:
    return {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
        "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}]}


def listener(name: str, port: int, route: str) -> dict[str, object]:
    return {"name": name, "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
                         ".HttpConnectionManager",
                "stat_prefix": name,
                "rds": {"route_config_name": route, "config_source": {"ads": {}, "resource_api_version": "V3"}},
                "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}]}]}


def route(name: str, cluster_name: str, prefix: str = "/") -> dict[str, object]:
    return {"name": name, "virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
        {"match": {"prefix": prefix}, "route": {"cluster": cluster_name}}]}]}


def snapshot(clusters: dict[str, str] | None = None, *, ports: dict[str, int] | None = None,
             routes: dict[str, str] | None = None, listeners: dict[str, tuple[int, str]] | None = None) -> Snapshot:
    """clusters: name->timeout; ports: cluster->endpoint port; routes: name->cluster; listeners: name->(port, route)."""
    clusters = {"a": "1s", "b": "1s"} if clusters is None else clusters
    ports = ports or {}
    routes = {"r1": "a"} if routes is None else routes
    listeners = {"l1": (15001, "r1")} if listeners is None else listeners
    return Snapshot.from_dicts({
        types.CLUSTER: {n: cluster(n, t) for n, t in clusters.items()},
        types.ENDPOINT: {n: cla(n, ports.get(n, 8080)) for n in clusters},
        types.LISTENER: {n: listener(n, p, r) for n, (p, r) in listeners.items()},
        types.ROUTE: {n: route(n, c) for n, c in routes.items()},
    })
