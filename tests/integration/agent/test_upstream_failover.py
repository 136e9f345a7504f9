"""The agent's way to several control-plane replicas, over real loopback: gRPC calls and HTTP requests go to the
next replica when theirs cannot be reached, and stay there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import grpc
import httpx
from aiohttp import web

from mizzen.agent.failover import FailoverTransport
from mizzen.agent.upstream import Upstream, unreachable
from mizzen.testing.controlplane import free_port

METHOD = "/test.Echo/Name"


async def grpc_replica(name: str) -> tuple[grpc.aio.Server, int]:
    """A gRPC server answering every stream with its name."""

    async def answer(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        async for _ in requests:
            yield name.encode()

    class Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return grpc.stream_stream_rpc_method_handler(answer)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, port


async def ask(upstream: Upstream) -> str:
    channel = await upstream.ready()
    call = channel.stream_stream(METHOD)(iter([b"?"]))
    try:
        async for reply in call:
            return bytes(reply).decode()
    except grpc.aio.AioRpcError as exc:
        if unreachable(exc):
            await upstream.failed(channel)
        raise
    return ""


async def test_grpc_moves_to_the_next_replica_when_the_first_is_down_or_dies() -> None:
    """A replica that does not listen is skipped within about a second; when the serving one dies, a stream
    fails UNAVAILABLE, and the next call reaches the other replica at once."""
    first, first_port = await grpc_replica("first")
    second, second_port = await grpc_replica("second")
    upstream = Upstream([("127.0.0.1", free_port()), ("127.0.0.1", first_port), ("127.0.0.1", second_port)], None)
    try:
        started = time.monotonic()
        assert await ask(upstream) == "first"
        assert time.monotonic() - started < 3.0
        assert await ask(upstream) == "first"  # it stays where it connected
        await first.stop(None)
        try:
            await ask(upstream)
        except grpc.aio.AioRpcError as exc:
            assert unreachable(exc)
        moved = time.monotonic()
        assert await ask(upstream) == "second"
        assert time.monotonic() - moved < 2.0
        assert upstream.address == ("127.0.0.1", second_port)
    finally:
        await upstream.close()
        await second.stop(None)


async def http_replica(name: str) -> tuple[web.AppRunner, int]:
    """An HTTP server answering every request with its name and the request's method and body."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(text=f"{name} {request.method} {await request.text()}")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, port


async def test_http_requests_go_to_the_first_replica_that_answers() -> None:
    """A request the first replica refuses is sent (body and all) to the next; later ones stay there, and when
    that one goes away they move on again."""
    runner_b, port_b = await http_replica("b")
    runner_c, port_c = await http_replica("c")
    urls = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{port_b}", f"http://127.0.0.1:{port_c}"]
    transport = FailoverTransport(urls, True)
    async with httpx.AsyncClient(base_url=urls[0], transport=transport) as client:
        assert (await client.post("/x", content=b"body")).text == "b POST body"
        assert transport.current == urls[1]
        await runner_b.cleanup()
        await asyncio.sleep(0)
        assert (await client.put("/x", content=b"again")).text == "c PUT again"
    await runner_c.cleanup()
