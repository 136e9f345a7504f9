"""Network and HTTP filter builders shared by sidecar and gateway listeners: the HTTP connection
manager (fault -> cors -> router, as Istio orders them), tcp_proxy, access logs and tracing."""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.translate import names
from mizzen.translate.clusters import ADS_SOURCE, DNS_CACHE_CONFIG
from mizzen.translate.common import JSONDict
from mizzen.translate.model import MeshConfig, Proxy

# Istio's default text access-log format (MeshConfig accessLogFormat unset, accessLogEncoding TEXT).
ISTIO_TEXT_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)


def access_logs(proxy: Proxy, mesh: MeshConfig) -> list[JSONDict]:
    """A file access log in Istio's format when the proxy asked for one."""
    if not proxy.access_log:
        return []
    fmt = mesh.access_log_format or ISTIO_TEXT_LOG_FORMAT
    if not fmt.endswith("\n"):
        fmt += "\n"
    return [{"name": names.FILE_ACCESS_LOG, "typed_config": {
        "@type": names.T_FILE_ACCESS_LOG, "path": proxy.access_log,
        "log_format": {"text_format_source": {"inline_string": fmt}}}}]


def tracing(mesh: MeshConfig) -> JSONDict | None:
    """Zipkin tracing with the mesh's sampling percentage (``None`` when no collector is set)."""
    if not mesh.zipkin_address:
        return None
    return {
        "random_sampling": {"value": mesh.tracing_sampling},
        "provider": {"name": names.ZIPKIN, "typed_config": {
            "@type": names.T_ZIPKIN, "collector_cluster": names.ZIPKIN_CLUSTER,
            "collector_endpoint": "/api/v2/spans", "collector_endpoint_version": "HTTP_JSON",
            "trace_id_128bit": True, "shared_span_context": False}},
    }


def http_filters(dynamic_forward: bool) -> list[JSONDict]:
    """fault -> cors -> (dynamic forward proxy) -> router. Empty fault/cors filters are always present
    so per-route configs take effect."""
    out: list[JSONDict] = [
        {"name": names.FAULT, "typed_config": {"@type": names.T_FAULT}},
        {"name": names.CORS, "typed_config": {"@type": names.T_CORS}},
    ]
    if dynamic_forward:
        out.append({"name": names.DFP_FILTER, "typed_config": {
            "@type": names.T_DFP_FILTER, "dns_cache_config": DNS_CACHE_CONFIG}})
    out.append({"name": names.ROUTER, "typed_config": {"@type": names.T_ROUTER}})
    return out


def hcm(proxy: Proxy, mesh: MeshConfig, stat_prefix: str, *, rds: str | None = None,
        route_config: JSONDict | None = None, filters: Sequence[JSONDict] | None = None,
        gateway: bool = False) -> JSONDict:
    """An HTTP connection manager network filter using RDS ``rds`` or an inline ``route_config``."""
    config: JSONDict = {"@type": names.T_HCM, "stat_prefix": stat_prefix}
    if rds is not None:
        config["rds"] = {"config_source": ADS_SOURCE, "route_config_name": rds}
    else:
        config["route_config"] = route_config or {}
    config["http_filters"] = list(filters if filters is not None else http_filters(False))
    config["stream_idle_timeout"] = "0s"
    config["normalize_path"] = True
    # Apps reach the sidecar as their HTTP proxy, so requests arrive in absolute form.
    config["http_protocol_options"] = {"allow_absolute_url": True}
    config["upgrade_configs"] = [{"upgrade_type": "websocket"}]
    if gateway:
        config["use_remote_address"] = True
    logs = access_logs(proxy, mesh)
    if logs:
        config["access_log"] = logs
    trace = tracing(mesh)
    if trace is not None:
        config["tracing"] = trace
    return {"name": names.HCM, "typed_config": config}


def tcp_proxy(proxy: Proxy, mesh: MeshConfig, stat_prefix: str,
              clusters: Sequence[tuple[str, int]]) -> JSONDict:
    """A tcp_proxy to one cluster or a weighted set."""
    config: JSONDict = {"@type": names.T_TCP_PROXY, "stat_prefix": stat_prefix}
    if len(clusters) == 1:
        config["cluster"] = clusters[0][0]
    else:
        config["weighted_clusters"] = {"clusters": [{"name": c, "weight": w} for c, w in clusters]}
    logs = access_logs(proxy, mesh)
    if logs:
        config["access_log"] = logs
    return {"name": names.TCP_PROXY, "typed_config": config}
