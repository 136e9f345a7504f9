"""install() wires the ALS servicer and the HTTP routes in one call."""

from __future__ import annotations

import grpc
import pytest
from aiohttp import web
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from telemetry_fixtures import bookinfo_registry

from mizzen.telemetry.entries import http_entry
from mizzen.telemetry.setup import install


@pytest.mark.asyncio
async def test_install_serves_als_and_registers_routes() -> None:
    """After install, an ALS stream on the gRPC server reaches the returned Telemetry; routes exist."""
    app = web.Application()
    server = grpc.aio.server()
    registry = bookinfo_registry()
    telemetry, traces = install(app, server, lambda: registry, is_known=lambda _id: True)
    assert {r.resource.canonical for r in app.router.routes() if r.resource is not None} >= {
        "/api/mizzen/v1/graph",
        "/api/v2/spans",
        "/api/mizzen/v1/traces",
    }
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        msg = als_pb2.StreamAccessLogsMessage()
        msg.identifier.node.id = "sidecar~127.0.0.1~productpage-v1.default~default.svc.cluster.local"
        msg.http_logs.log_entry.append(http_entry("outbound", cluster="outbound|9080||x.default.svc.cluster.local"))
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            await als_pb2_grpc.AccessLogServiceStub(channel).StreamAccessLogs(iter([msg]))
    finally:
        await server.stop(None)
    assert 'source_workload="productpage-v1"' in telemetry.prometheus_text()
    assert len(traces) == 0
