"""The Access Log Service over real gRPC: a grpc.aio client streams entries into Telemetry."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from google.protobuf import struct_pb2
from telemetry_fixtures import REVIEWS, V3_ADDR

from mizzen.telemetry.als import AccessLogService
from mizzen.telemetry.entries import http_entry, tcp_entry
from mizzen.telemetry.metrics import Telemetry

NODE_ID = "sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local"


def _identifier(node_id: str = NODE_ID) -> als_pb2.StreamAccessLogsMessage.Identifier:
    ident = als_pb2.StreamAccessLogsMessage.Identifier(log_name="mizzen")
    ident.node.id = node_id
    meta = struct_pb2.Struct()
    meta.update(
        {
            "NAME": "productpage-v1",
            "NAMESPACE": "default",
            "MIZZEN_PROXY_TYPE": "sidecar",
            "LABELS": {"app": "productpage", "version": "v1"},
        }
    )
    ident.node.metadata.CopyFrom(meta)
    return ident


def _messages(node_id: str, n: int) -> list[als_pb2.StreamAccessLogsMessage]:
    """Envoy's shape: the identifier only on the first message of the stream."""
    out = []
    for i in range(n):
        msg = als_pb2.StreamAccessLogsMessage()
        if i == 0:
            msg.identifier.CopyFrom(_identifier(node_id))
        msg.http_logs.log_entry.append(http_entry("outbound", cluster=f"outbound|9080|v3|{REVIEWS}", upstream=V3_ADDR))
        out.append(msg)
    tcp = als_pb2.StreamAccessLogsMessage()
    tcp.tcp_logs.log_entry.append(
        tcp_entry("outbound", cluster="outbound|3306||db.default.svc.cluster.local", received=7)
    )
    out.append(tcp)
    return out


async def _stream(
    service: AccessLogService, messages: list[als_pb2.StreamAccessLogsMessage], token: str | None = None
) -> None:
    server = grpc.aio.server()
    service.add_to_server(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = als_pb2_grpc.AccessLogServiceStub(channel)

            async def gen() -> AsyncIterator[als_pb2.StreamAccessLogsMessage]:
                for m in messages:
                    yield m

            metadata = (("authorization", f"Bearer {token}"),) if token else None
            await stub.StreamAccessLogs(gen(), metadata=metadata)
    finally:
        await server.stop(None)


@pytest.mark.asyncio
async def test_stream_entries_reach_metrics_with_node_from_first_message(telemetry: Telemetry) -> None:
    """Every entry of a stream is counted under the node named by the stream's first message."""
    await _stream(AccessLogService(telemetry), _messages(NODE_ID, 3))
    text = telemetry.prometheus_text()
    line = next(ln for ln in text.splitlines() if ln.startswith("istio_requests_total{"))
    assert 'source_workload="productpage-v1"' in line and 'source_app="productpage"' in line
    assert 'destination_workload="reviews-v3"' in line and line.endswith(" 3")
    assert "istio_tcp_received_bytes_total{" in text


@pytest.mark.asyncio
async def test_unknown_nodes_are_ignored(telemetry: Telemetry) -> None:
    """With is_known, entries from a node the control plane does not know are dropped."""
    service = AccessLogService(telemetry, is_known=lambda node_id: node_id != NODE_ID)
    await _stream(service, _messages(NODE_ID, 2))
    assert telemetry.prometheus_text() == ""
    assert service.streams == 0


@pytest.mark.asyncio
async def test_token_is_required_when_configured(telemetry: Telemetry) -> None:
    """With a token, a stream without it is UNAUTHENTICATED and one with it is counted."""
    service = AccessLogService(telemetry, token="s3cret")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await _stream(service, _messages(NODE_ID, 1))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert telemetry.prometheus_text() == ""
    await _stream(service, _messages(NODE_ID, 1), token="s3cret")
    assert "istio_requests_total{" in telemetry.prometheus_text()
