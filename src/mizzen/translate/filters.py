"""Network and HTTP filter builders shared by sidecar and gateway listeners: the HTTP connection
manager (fault -> cors -> router, as Istio orders them), tcp_proxy, access logs and tracing (the
telemetry parts come from :mod:`mizzen.translate.telemetry`)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Literal

from mizzen.node import Proxy
from mizzen.translate import names, telemetry
from mizzen.translate.clusters import ADS_SOURCE, DNS_CACHE_CONFIG
from mizzen.translate.common import JSONDict
from mizzen.translate.model import MeshConfig
from mizzen.translate.tunnels import connect_target_state

Direction = Literal["outbound", "inbound", "gateway"]


def access_logs(proxy: Proxy, mesh: MeshConfig, direction: Direction, *, tcp: bool = False) -> list[JSONDict]:
    """Access loggers: the access-log service stream to the control plane (Istio's metrics come from
    it) when the mesh enables it, plus a file log in Istio's text format when the proxy asked for one."""
    loggers: list[JSONDict] = []
    if mesh.access_log_service:
        build = telemetry.tcp_access_loggers if tcp else telemetry.http_access_loggers
        loggers += build(direction)
    if proxy.access_log:
        fmt = mesh.access_log_format or telemetry.ISTIO_DEFAULT_LOG_FORMAT
        file_log = telemetry.file_access_logger(proxy.access_log, fmt if fmt.endswith("\n") else fmt + "\n")
        if tcp and mesh.access_log_service:
            # The service stream flushes on connect and periodically (tcp_access_log_options); the file
            # keeps Istio's one line per connection, written when it closes.
            file_log["filter"] = telemetry.connection_end_only()
        loggers.append(file_log)
    return loggers


def tracing(proxy: Proxy, mesh: MeshConfig) -> JSONDict | None:
    """Zipkin tracing with the mesh's sampling percentage (``None`` when no collector is set); spans carry
    the workload's canonical service and namespace as Istio's tags do."""
    if not mesh.zipkin_address:
        return None
    tags = {"istio.canonical_service": proxy.labels.get("app", proxy.name), "istio.namespace": proxy.namespace}
    return telemetry.tracing_config(
        mesh.tracing_sampling,
        cluster=names.ZIPKIN_CLUSTER,
        collector_host=mesh.zipkin_address,
        tags=tags,
    )


def peer_header_filter(proxy: Proxy, mesh: MeshConfig) -> JSONDict | None:
    """A header_mutation HTTP filter naming this proxy on every request it sends, so the server side's
    access log knows the calling workload (Istio's metadata exchange, done with a header).

    It lives in the proxy's own listener, not in the route configuration, because route configurations
    are shared by every proxy with the same scope (see :mod:`mizzen.translate.sharing`).
    """
    if not mesh.access_log_service:
        return None
    header = telemetry.peer_id_header(proxy.node_id)
    return {
        "name": names.HEADER_MUTATION,
        "typed_config": {"@type": names.T_HEADER_MUTATION, "mutations": {"request_mutations": [{"append": header}]}},
    }


def http_filters(dynamic_forward: bool, *, connect_target: bool = False) -> list[JSONDict]:
    """fault -> cors -> (dynamic forward proxy) -> (set_filter_state) -> router. Empty fault/cors filters
    are always present so per-route configs take effect; set_filter_state (``connect_target``) is off
    unless a route turns it on (the catch-all CONNECT route under ALLOW_ANY, see :mod:`.egress`)."""
    out: list[JSONDict] = [
        {"name": names.FAULT, "typed_config": {"@type": names.T_FAULT}},
        {"name": names.CORS, "typed_config": {"@type": names.T_CORS}},
    ]
    if dynamic_forward:
        out.append(
            {
                "name": names.DFP_FILTER,
                "typed_config": {"@type": names.T_DFP_FILTER, "dns_cache_config": DNS_CACHE_CONFIG},
            }
        )
    if connect_target:
        out.append({"name": names.SET_FILTER_STATE, "typed_config": connect_target_state(), "disabled": True})
    out.append({"name": names.ROUTER, "typed_config": {"@type": names.T_ROUTER}})
    return out


def hcm(
    proxy: Proxy,
    mesh: MeshConfig,
    stat_prefix: str,
    *,
    direction: Direction,
    rds: str | None = None,
    route_config: JSONDict | None = None,
    filters: Sequence[JSONDict] | None = None,
    log_filter: JSONDict | None = None,
) -> JSONDict:
    """An HTTP connection manager network filter using RDS ``rds`` or an inline ``route_config``;
    ``log_filter`` decides which requests its access loggers log."""
    config: JSONDict = {"@type": names.T_HCM, "stat_prefix": stat_prefix}
    if rds is not None:
        config["rds"] = {"config_source": ADS_SOURCE, "route_config_name": rds}
    else:
        config["route_config"] = route_config or {}
    chain = list(filters if filters is not None else http_filters(False))
    peer = peer_header_filter(proxy, mesh) if direction in ("outbound", "gateway") else None
    if peer is not None:  # just before the router, the last filter
        chain.insert(len(chain) - 1, peer)
    config["http_filters"] = chain
    config["stream_idle_timeout"] = "0s"
    config["server_name"] = "istio-envoy"  # Istio's HCMs answer `server: istio-envoy`
    config["normalize_path"] = True
    # Apps reach the sidecar as their HTTP proxy, so requests arrive in absolute form.
    config["http_protocol_options"] = {"allow_absolute_url": True}
    config["upgrade_configs"] = [{"upgrade_type": "websocket"}]
    if direction == "gateway":
        config["use_remote_address"] = True
        # Istio's gatewayTopology: the gateway's own ProxyConfig over the mesh's defaultConfig.
        own = proxy.num_trusted_proxies
        trusted = own if own is not None else mesh.gateway_num_trusted_proxies
        if trusted:
            config["xff_num_trusted_hops"] = trusted
    logs = access_logs(proxy, mesh, direction)
    if logs:
        config["access_log"] = [{**log, "filter": copy.deepcopy(log_filter)} for log in logs] if log_filter else logs
    trace = tracing(proxy, mesh)
    if trace is not None:
        config["tracing"] = trace
    return {"name": names.HCM, "typed_config": config}


def tcp_proxy(
    proxy: Proxy,
    mesh: MeshConfig,
    stat_prefix: str,
    clusters: Sequence[tuple[str, int]],
    direction: Direction = "outbound",
    idle_timeout: str | None = None,
) -> JSONDict:
    """A tcp_proxy to one cluster or a weighted set."""
    config: JSONDict = {"@type": names.T_TCP_PROXY, "stat_prefix": stat_prefix}
    if idle_timeout is not None:
        config["idle_timeout"] = idle_timeout
    if len(clusters) == 1:
        config["cluster"] = clusters[0][0]
    else:
        config["weighted_clusters"] = {"clusters": [{"name": c, "weight": w} for c, w in clusters]}
    logs = access_logs(proxy, mesh, direction, tcp=True)
    if logs:
        config["access_log"] = logs
        if mesh.access_log_service:
            config["access_log_options"] = telemetry.tcp_access_log_options()
    return {"name": names.TCP_PROXY, "typed_config": config}
