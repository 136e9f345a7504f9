"""The translator's telemetry builders produce Envoy config that Envoy's own protos accept."""

from __future__ import annotations

from envoy.config.trace.v3 import zipkin_pb2
from envoy.extensions.access_loggers.file.v3 import file_pb2
from envoy.extensions.access_loggers.grpc.v3 import als_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm
from envoy.extensions.filters.network.tcp_proxy.v3 import tcp_proxy_pb2
from google.protobuf import json_format

from mizzen.translate import telemetry as t

# Importing registers the typed_config messages json_format resolves "@type" with (as xds/encode.py does).
_REGISTERED = (zipkin_pb2, file_pb2, als_pb2)


def _hcm(**fields: object) -> hcm.HttpConnectionManager:
    return json_format.ParseDict({"stat_prefix": "x", **fields}, hcm.HttpConnectionManager())


def test_http_loggers_parse_and_stream_to_xds_grpc() -> None:
    """HTTP loggers: ALS on xds-grpc with log name mizzen and the direction tag, then the file log."""
    msg = _hcm(access_log=[*t.http_access_loggers("outbound"), t.file_access_logger("/tmp/a.log")])
    assert [a.name for a in msg.access_log] == ["envoy.access_loggers.http_grpc", "envoy.access_loggers.file"]
    config = t.http_access_loggers("outbound")[0]["typed_config"]
    assert isinstance(config, dict)
    common = config["common_config"]
    assert common["log_name"] == "mizzen"
    assert common["grpc_service"] == {"envoy_grpc": {"cluster_name": "xds-grpc"}}  # no credential: the agent adds it
    assert common["custom_tags"][0] == {"tag": "mizzen.direction", "literal": {"value": "outbound"}}
    assert t.PEER_ID_HEADER in config["additional_request_headers_to_log"]


def _tags(loggers: list[dict[str, object]]) -> dict[str, object]:
    config = loggers[0]["typed_config"]
    assert isinstance(config, dict)
    return {tag["tag"]: tag.get("value") for tag in config["common_config"]["custom_tags"]}


def test_client_side_loggers_tag_the_upstream_certificate_sans() -> None:
    """Outbound and gateway loggers (HTTP and TCP) log the upstream connection's URI SANs through
    Envoy's formatter; inbound ones need not (their entries carry the downstream certificates)."""
    for loggers in (
        t.http_access_loggers("outbound"),
        t.http_access_loggers("gateway"),
        t.tcp_access_loggers("outbound"),
    ):
        tags = _tags(loggers)
        assert tags[t.UPSTREAM_PEER_SAN_TAG] == "%UPSTREAM_PEER_URI_SAN%"
        assert tags[t.UPSTREAM_LOCAL_SAN_TAG] == "%UPSTREAM_LOCAL_URI_SAN%"
    for loggers in (t.http_access_loggers("inbound"), t.tcp_access_loggers("inbound")):
        assert set(_tags(loggers)) == {t.DIRECTION_TAG}
    msg = _hcm(access_log=t.http_access_loggers("outbound"))
    common = als_pb2.HttpGrpcAccessLogConfig()
    msg.access_log[0].typed_config.Unpack(common)
    assert [c.WhichOneof("type") for c in common.common_config.custom_tags] == ["literal", "value", "value"]


def test_file_log_uses_istio_default_format_with_response_flags() -> None:
    """The file log is Istio's default TEXT format, including %RESPONSE_FLAGS%."""
    file_log = t.file_access_logger("/tmp/a.log")["typed_config"]
    assert isinstance(file_log, dict)
    fmt = file_log["log_format"]["text_format_source"]["inline_string"]
    assert fmt.startswith(
        '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
        "%RESPONSE_CODE% %RESPONSE_FLAGS% "
    )
    assert fmt.endswith("%ROUTE_NAME%\n")


def test_tcp_loggers_and_options_parse() -> None:
    """TCP loggers and access_log_options parse into a TcpProxy."""
    proxy = json_format.ParseDict(
        {
            "stat_prefix": "x",
            "cluster": "c",
            "access_log": t.tcp_access_loggers("inbound"),
            "access_log_options": t.tcp_access_log_options(),
        },
        tcp_proxy_pb2.TcpProxy(),
    )
    assert proxy.access_log_options.flush_access_log_on_connected


def test_tracing_config_parses_with_sampling() -> None:
    """Tracing: Zipkin JSON v2 to /api/v2/spans with the mesh's random sampling percentage."""
    msg = _hcm(tracing=t.tracing_config(1.0, tags={"istio.canonical_service": "reviews"}))
    assert msg.tracing.random_sampling.value == 1.0
    assert b"authorization" not in msg.tracing.provider.typed_config.value  # spans carry no credential
    assert msg.tracing.provider.name == "envoy.tracers.zipkin"
    assert msg.tracing.custom_tags[0].literal.value == "reviews"


def test_peer_id_header_overwrites() -> None:
    """The peer header names the node and overwrites any value a client sent."""
    header = t.peer_id_header("sidecar~127.0.0.1~a.default~default.svc.cluster.local")
    assert header["append_action"] == "OVERWRITE_IF_EXISTS_OR_ADD"
