"""Build Envoy ALS entries as Envoy would send them: for tests, demos and benchmarks of the aggregator.

The helpers produce real ``envoy.data.accesslog.v3`` protos with the fields our loggers set, so the
code under test sees exactly what a live Envoy stream delivers.
"""

from __future__ import annotations

from envoy.data.accesslog.v3 import accesslog_pb2

from mizzen.node import Proxy
from mizzen.translate.telemetry import DIRECTION_TAG, PEER_ID_HEADER, Direction


def http_entry(
    direction: Direction,
    *,
    cluster: str = "",
    upstream: tuple[str, int] | None = None,
    local: tuple[str, int] | None = None,
    code: int = 200,
    duration_ms: float = 5.0,
    flags: tuple[str, ...] = (),
    authority: str = "",
    peer: Proxy | None = None,
    request_bytes: int = 0,
    response_bytes: int = 0,
    headers: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
) -> accesslog_pb2.HTTPAccessLogEntry:
    """One HTTP entry; ``flags`` are ResponseFlags field names (``fault_injected``...); ``tags`` are
    further custom tags (e.g. the client side's upstream SAN tags)."""
    entry = accesslog_pb2.HTTPAccessLogEntry()
    common = entry.common_properties
    common.custom_tags[DIRECTION_TAG] = direction
    common.custom_tags.update(tags or {})
    common.upstream_cluster = cluster
    if upstream:
        common.upstream_remote_address.socket_address.address = upstream[0]
        common.upstream_remote_address.socket_address.port_value = upstream[1]
    if local:
        common.downstream_local_address.socket_address.address = local[0]
        common.downstream_local_address.socket_address.port_value = local[1]
    common.time_to_last_downstream_tx_byte.FromMilliseconds(int(duration_ms))
    common.time_to_last_downstream_tx_byte.nanos += int((duration_ms % 1) * 1e6)
    for flag in flags:
        setattr(common.response_flags, flag, True)
    entry.protocol_version = accesslog_pb2.HTTPAccessLogEntry.HTTP11
    entry.request.authority = authority
    entry.request.request_method = 1  # GET
    entry.request.request_body_bytes = request_bytes
    for key, value in (headers or {}).items():
        entry.request.request_headers[key] = value
    if peer is not None:
        entry.request.request_headers[PEER_ID_HEADER] = peer.node_id
    entry.response.response_code.value = code
    entry.response.response_body_bytes = response_bytes
    return entry


def tcp_entry(
    direction: Direction,
    *,
    cluster: str = "",
    upstream: tuple[str, int] | None = None,
    stream_id: str = "s1",
    kind: str = "TcpConnectionEnd",
    received: int = 0,
    sent: int = 0,
    tags: dict[str, str] | None = None,
) -> accesslog_pb2.TCPAccessLogEntry:
    """One TCP entry of the given AccessLogType (``TcpUpstreamConnected``, ``TcpPeriodic``...), with
    further custom ``tags``."""
    entry = accesslog_pb2.TCPAccessLogEntry()
    common = entry.common_properties
    common.custom_tags[DIRECTION_TAG] = direction
    common.custom_tags.update(tags or {})
    common.upstream_cluster = cluster
    common.stream_id = stream_id
    common.access_log_type = accesslog_pb2.AccessLogType.Value(kind)
    if upstream:
        common.upstream_remote_address.socket_address.address = upstream[0]
        common.upstream_remote_address.socket_address.port_value = upstream[1]
    entry.connection_properties.received_bytes = received
    entry.connection_properties.sent_bytes = sent
    return entry
