"""Network and HTTP filter builders shared by sidecar and gateway listeners: the HTTP connection
manager (fault -> cors -> router, as Istio orders them), tcp_proxy, access logs and tracing (the
telemetry parts come from :mod:`mizzen.translate.telemetry`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from mizzen import meshstats
from mizzen.node import Proxy
from mizzen.translate import names, stats_logger, telemetry, telemetry_api
from mizzen.translate.clusters import ADS_SOURCE, DNS_CACHE_CONFIG
from mizzen.translate.common import JSONDict, json_copy
from mizzen.translate.model import MeshConfig
from mizzen.translate.tunnels import connect_target_state

Direction = Literal["outbound", "inbound", "gateway"]


def access_logs(
    proxy: Proxy,
    mesh: MeshConfig,
    direction: Direction,
    *,
    tcp: bool = False,
    service: stats_logger.ServiceTags | None = None,
    resolved: telemetry_api.ProxyTelemetry = telemetry_api.LEGACY,
) -> list[JSONDict]:
    """Access loggers: the stats loggers keeping Istio's metrics in Envoy (:mod:`.stats_logger`; the
    inbound ``service`` is the port's), the access-log service stream to the control plane when the
    mesh enables it, plus the file logs the Telemetry API (``resolved``) or, without any Telemetry
    logging, the MeshConfig asks for (by default the proxy's own file in Istio's text format)."""
    build_stats = stats_logger.tcp_stats_loggers if tcp else stats_logger.http_stats_loggers
    metrics = resolved.metrics_or(mesh.metrics)
    loggers: list[JSONDict] = build_stats(proxy, direction, metrics, service)
    if mesh.access_log_service:
        build = telemetry.tcp_access_loggers if tcp else telemetry.http_access_loggers
        loggers += build(direction)
    providers = resolved.logs(telemetry_api.side_of(direction))
    files = telemetry_api.provider_logs(proxy, mesh, providers) if providers is not None else []
    if not files and (providers is None or mesh.telemetry.access_log_file is not None):
        # Istio: no logger from the Telemetry API means the MeshConfig's accessLogFile (when it is set).
        files = telemetry_api.legacy_file_logs(proxy, mesh)
    for file_log in files:
        if tcp and (mesh.access_log_service or stats_logger.needs_connected_entry(direction, metrics)):
            # The service stream and the opened-connections counter log on connect (and the stream
            # periodically, tcp_access_log_options); the file keeps Istio's one line per connection,
            # written when it closes.
            combined = telemetry_api.and_filters(telemetry.connection_end_only(), file_log.get("filter"))
            file_log["filter"] = combined
        loggers.append(file_log)
    return loggers


def tracing(
    proxy: Proxy,
    mesh: MeshConfig,
    direction: Direction = "outbound",
    resolved: telemetry_api.ProxyTelemetry = telemetry_api.LEGACY,
) -> JSONDict | None:
    """Zipkin tracing with the mesh's sampling percentage (``None`` when no collector is set), or as the
    Telemetry API's tracing for this side says; spans carry the workload's canonical service and
    namespace as Istio's tags do."""
    tags = {"istio.canonical_service": proxy.labels.get("app", proxy.name), "istio.namespace": proxy.namespace}
    if resolved.tracing is not None:
        spec = resolved.tracing.side(telemetry_api.side_of(direction))
        return telemetry_api.telemetry_tracing(proxy, mesh, spec, tags)
    if not mesh.zipkin_address or not mesh.telemetry.enable_tracing:
        return None
    return telemetry.tracing_config(
        mesh.tracing_sampling,
        cluster=names.ZIPKIN_CLUSTER,
        collector_host=mesh.zipkin_address,
        tags=tags,
    )


def peer_header_filter(proxy: Proxy, mesh: MeshConfig) -> JSONDict | None:
    """A header_mutation HTTP filter naming this proxy on every request it sends, so the server side's
    metrics know the calling workload (Istio's metadata exchange, done with headers): the
    :data:`~mizzen.meshstats.PEER_HEADER` for the stats loggers when metrics are on, the node id for the
    access-log service when that is on.

    It lives in the proxy's own listener, not in the route configuration, because route configurations
    are shared by every proxy with the same scope (see :mod:`mizzen.translate.sharing`).
    """
    headers: list[JSONDict] = []
    if mesh.access_log_service:
        headers.append(telemetry.peer_id_header(proxy.node_id))
    if mesh.metrics.enabled:
        value = meshstats.peer_header_value(stats_logger.identity(proxy))
        headers.append(
            {"header": {"key": meshstats.PEER_HEADER, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        )
    if not headers:
        return None
    mutations = [{"append": header} for header in headers]
    return {
        "name": names.HEADER_MUTATION,
        "typed_config": {"@type": names.T_HEADER_MUTATION, "mutations": {"request_mutations": mutations}},
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
    service: stats_logger.ServiceTags | None = None,
    resolved: telemetry_api.ProxyTelemetry = telemetry_api.LEGACY,
) -> JSONDict:
    """An HTTP connection manager network filter using RDS ``rds`` or an inline ``route_config``;
    ``log_filter`` decides which requests its access loggers log; ``service`` is an inbound port's
    destination service for the metrics; ``resolved`` is the proxy's Telemetry."""
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
    logs = access_logs(proxy, mesh, direction, service=service, resolved=resolved)
    if logs and log_filter:
        logs = [_filtered(log, log_filter) for log in logs]
    if logs:
        config["access_log"] = logs
    trace = tracing(proxy, mesh, direction, resolved)
    if trace is not None:
        config["tracing"] = trace
        request_id = telemetry_api.request_id_extension(resolved, direction)
        if request_id is not None:
            config["request_id_extension"] = request_id
    return {"name": names.HCM, "typed_config": config}


def tcp_proxy(
    proxy: Proxy,
    mesh: MeshConfig,
    stat_prefix: str,
    clusters: Sequence[tuple[str, int]],
    direction: Direction = "outbound",
    idle_timeout: str | None = None,
    service: stats_logger.ServiceTags | None = None,
    resolved: telemetry_api.ProxyTelemetry = telemetry_api.LEGACY,
) -> JSONDict:
    """A tcp_proxy to one cluster or a weighted set (``service``: an inbound port's, for the metrics;
    ``resolved``: the proxy's Telemetry)."""
    config: JSONDict = {"@type": names.T_TCP_PROXY, "stat_prefix": stat_prefix}
    if idle_timeout is not None:
        config["idle_timeout"] = idle_timeout
    if len(clusters) == 1:
        config["cluster"] = clusters[0][0]
    else:
        config["weighted_clusters"] = {"clusters": [{"name": c, "weight": w} for c, w in clusters]}
    logs = access_logs(proxy, mesh, direction, tcp=True, service=service, resolved=resolved)
    if logs:
        config["access_log"] = logs
        if mesh.access_log_service:
            config["access_log_options"] = telemetry.tcp_access_log_options()
        elif stats_logger.needs_connected_entry(direction, resolved.metrics_or(mesh.metrics)):
            config["access_log_options"] = {"flush_access_log_on_connected": True}
    return {"name": names.TCP_PROXY, "typed_config": config}


def _filtered(log: JSONDict, log_filter: JSONDict) -> JSONDict:
    """``log`` with ``log_filter`` added to its own filter (a Telemetry CEL filter): both must pass."""
    combined = telemetry_api.and_filters(json_copy(log_filter), log.get("filter"))
    return {**log, "filter": combined}
