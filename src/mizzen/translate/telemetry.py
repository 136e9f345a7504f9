"""Pure builders for the telemetry parts of a proxy's config: access loggers and tracing.

Istio's standard metrics do not come from here: Envoy keeps them itself with the stats access loggers of
:mod:`mizzen.translate.stats_logger` (contract: :mod:`mizzen.meshstats`), and the control plane scrapes
them. The gRPC Access Log Service (ALS) builders below stream every entry to the control plane only when
the mesh turns it on (``MeshConfig.access_log_service``): a per-request cost in Python, kept for meshes
that want every request's facts (and for comparing the two sources).

:mod:`mizzen.translate.filters` (the HCM and tcp_proxy builders) calls these; they take plain values and
return Envoy v3 proto-JSON dicts. The zipkin cluster itself is built in :mod:`mizzen.translate.clusters`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

Direction = Literal["outbound", "inbound", "gateway"]

XDS_CLUSTER = "xds-grpc"
ZIPKIN_CLUSTER = "zipkin"
LOG_NAME = "mizzen"
DIRECTION_TAG = "mizzen.direction"  # custom tag on every ALS entry: which listener side logged it
PEER_ID_HEADER = "x-envoy-peer-metadata-id"  # Istio's header name for the calling proxy's node id
# Client-side (outbound and gateway) entries carry the URI SANs of the upstream TLS connection Envoy
# actually made: the server's verified certificate and the client's own. Empty (so absent) on plaintext.
UPSTREAM_PEER_SAN_TAG = "mizzen.upstream_peer_uri_san"
UPSTREAM_LOCAL_SAN_TAG = "mizzen.upstream_local_uri_san"
TRACE_HEADERS = ("x-b3-traceid", "x-b3-spanid", "x-request-id")

# Istio's default TEXT access-log format (meshConfig.accessLogFormat unset, accessLogEncoding TEXT).
# %RESPONSE_FLAGS% prints FI, DI, NR, UF, UH, UO, UT, URX... as in Istio's logs.
ISTIO_DEFAULT_LOG_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    "%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% "
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    "%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% "
    "%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n"
)

_HTTP_GRPC_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig"
_TCP_GRPC_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig"
_FILE_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
_ZIPKIN_TYPE = "type.googleapis.com/envoy.config.trace.v3.ZipkinConfig"


def http_access_loggers(proxy_direction: Direction) -> list[dict[str, object]]:
    """The ALS access logger of an HTTP connection manager, streaming to the control plane.

    The stream goes to ``xds-grpc``, the agent's socket; the agent adds the workload's credential, so
    Envoy's config carries none.
    """
    config: dict[str, object] = {
        "@type": _HTTP_GRPC_TYPE,
        "common_config": _common_config(proxy_direction),
        # The peer id tells the server side which proxy called (Istio's metadata-exchange idea); the
        # content type tells gRPC from HTTP; the trace id links a metric to its trace.
        "additional_request_headers_to_log": [PEER_ID_HEADER, "content-type", *TRACE_HEADERS],
    }
    return [{"name": "envoy.access_loggers.http_grpc", "typed_config": config}]


def tcp_access_loggers(proxy_direction: Direction) -> list[dict[str, object]]:
    """The ALS access logger of a tcp_proxy filter (pair with :func:`tcp_access_log_options`)."""
    config: dict[str, object] = {
        "@type": _TCP_GRPC_TYPE,
        "common_config": _common_config(proxy_direction),
    }
    return [{"name": "envoy.access_loggers.tcp_grpc", "typed_config": config}]


def tcp_access_log_options(flush_interval: str = "10s") -> dict[str, object]:
    """tcp_proxy ``access_log_options``: log on connect (connections opened) and periodically (bytes).

    Without these, Envoy logs a TCP connection only when it closes, so long-lived connections would be
    invisible in ``istio_tcp_connections_opened_total`` and the byte counters until they end.
    """
    return {"access_log_flush_interval": flush_interval, "flush_access_log_on_connected": True}


def connection_end_only() -> dict[str, object]:
    """An access-log filter passing a tcp_proxy's end-of-connection entry only (not the entries that
    :func:`tcp_access_log_options` adds on connect and periodically)."""
    return {"log_type_filter": {"types": ["TcpUpstreamConnected", "TcpPeriodic"], "exclude": True}}


def file_access_logger(path: str, log_format: str = ISTIO_DEFAULT_LOG_FORMAT) -> dict[str, object]:
    """A file access log in Istio's default text format."""
    return {
        "name": "envoy.access_loggers.file",
        "typed_config": {
            "@type": _FILE_TYPE,
            "path": path,
            "log_format": {"text_format_source": {"inline_string": log_format}},
        },
    }


def peer_id_header(node_id: str) -> dict[str, object]:
    """A ``request_headers_to_add`` entry naming the calling proxy, for outbound and gateway routes.

    The server-side sidecar logs it, so inbound metrics (``reporter="destination"``) know their source.
    """
    return {
        "header": {"key": PEER_ID_HEADER, "value": node_id},
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
    }


def tracing_config(
    sampling_percent: float,
    *,
    cluster: str = ZIPKIN_CLUSTER,
    collector_host: str = "127.0.0.1:15014",
    tags: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """HCM ``tracing`` for a Zipkin (JSON v2) tracer posting to ``/api/v2/spans`` on ``cluster``.

    As Istio does, ``random_sampling`` is the mesh's sampling percentage (Istio's default 1%) and
    client/overall sampling stay at 100%, so a request carrying ``x-b3-sampled: 1`` is always traced.
    ``tags`` become literal custom tags on every span (e.g. ``istio.canonical_service``).
    """
    zipkin: dict[str, object] = {
        "@type": _ZIPKIN_TYPE,
        "collector_cluster": cluster,
        "collector_endpoint": "/api/v2/spans",
        "collector_endpoint_version": "HTTP_JSON",
        "collector_hostname": collector_host,
        "shared_span_context": False,
        "trace_id_128bit": True,
    }
    config: dict[str, object] = {
        "client_sampling": {"value": 100.0},
        "random_sampling": {"value": float(sampling_percent)},
        "overall_sampling": {"value": 100.0},
        "provider": {"name": "envoy.tracers.zipkin", "typed_config": zipkin},
    }
    if tags:
        config["custom_tags"] = [{"tag": k, "literal": {"value": v}} for k, v in sorted(tags.items())]
    return config


def _common_config(direction: Direction) -> dict[str, object]:
    grpc_service: dict[str, object] = {"envoy_grpc": {"cluster_name": XDS_CLUSTER}}
    # A literal tag on every entry says which side logged it, so the server needs no guessing
    # from cluster names (a no-route 404 at an inbound listener has no cluster at all).
    tags: list[dict[str, object]] = [{"tag": DIRECTION_TAG, "literal": {"value": direction}}]
    if direction != "inbound":
        # The entry's own tls_properties describe the downstream connection only; Istio's client-side
        # principals come from the upstream one, which Envoy's formatter reads (value tags, Envoy >= 1.37).
        tags += [
            {"tag": UPSTREAM_PEER_SAN_TAG, "value": "%UPSTREAM_PEER_URI_SAN%"},
            {"tag": UPSTREAM_LOCAL_SAN_TAG, "value": "%UPSTREAM_LOCAL_URI_SAN%"},
        ]
    return {
        "log_name": LOG_NAME,
        "transport_api_version": "V3",
        "grpc_service": grpc_service,
        "custom_tags": tags,
        "buffer_flush_interval": "1s",
    }
