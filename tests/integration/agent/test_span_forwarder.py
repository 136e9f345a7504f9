"""The agent's span socket: Envoy-style POSTs over a UNIX socket reach the control plane with the agent's
credential, keep-alive requests work, and anything but the span path is 404."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from aiohttp import web

from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.spans import SpanForwarder

TOKEN = "mzt.abc.secret"


@pytest_asyncio.fixture
async def collector() -> AsyncIterator[tuple[str, list[tuple[str, bytes]]]]:
    got: list[tuple[str, bytes]] = []

    async def spans(request: web.Request) -> web.Response:
        got.append((request.headers.get("Authorization", ""), await request.read()))
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/api/v2/spans", spans)
    runner = web.AppRunner(app)
    await runner.setup()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", got
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_batches_are_forwarded_with_the_agent_credential(
    collector: tuple[str, list[tuple[str, bytes]]], tmp_path: Path
) -> None:
    """Two batches on one keep-alive connection arrive with the agent's bearer token; other paths get 404."""
    url, got = collector
    client = ControlPlaneClient(url, TOKEN)
    forwarder = SpanForwarder(client)
    path = tmp_path / "spans.sock"
    await forwarder.start(str(path))
    try:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(path)), base_url="http://zipkin") as c:
            for body in (b'[{"traceId":"1"}]', b'[{"traceId":"2"}]'):
                resp = await c.post("/api/v2/spans", content=body, headers={"Content-Type": "application/json"})
                assert resp.status_code == 202
            assert (await c.get("/anything")).status_code == 404
    finally:
        await forwarder.stop()
        await client.aclose()
    assert got == [(f"Bearer {TOKEN}", b'[{"traceId":"1"}]'), (f"Bearer {TOKEN}", b'[{"traceId":"2"}]')]
    assert forwarder.forwarded == 2


@pytest.mark.asyncio
async def test_a_batch_goes_up_the_channel_when_it_takes_it_else_over_http(
    collector: tuple[str, list[tuple[str, bytes]]], tmp_path: Path
) -> None:
    """With the agent channel open (``via`` takes the batch) Envoy is answered 202 and nothing is posted;
    when ``via`` declines (channel down or backed up) the batch is posted as before."""
    url, got = collector
    client = ControlPlaneClient(url, TOKEN)
    forwarder = SpanForwarder(client)
    queued: list[tuple[str, bytes]] = []
    open_ = True

    def via(content_type: str, body: bytes) -> bool:
        if open_:
            queued.append((content_type, body))
        return open_

    forwarder.via = via
    path = tmp_path / "spans.sock"
    await forwarder.start(str(path))
    try:
        async with httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(path)), base_url="http://zipkin") as c:
            headers = {"Content-Type": "application/json"}
            assert (await c.post("/api/v2/spans", content=b'[{"traceId":"1"}]', headers=headers)).status_code == 202
            open_ = False
            assert (await c.post("/api/v2/spans", content=b'[{"traceId":"2"}]', headers=headers)).status_code == 202
    finally:
        await forwarder.stop()
        await client.aclose()
    assert queued == [("application/json", b'[{"traceId":"1"}]')]
    assert got == [(f"Bearer {TOKEN}", b'[{"traceId":"2"}]')] and forwarder.forwarded == 2
