"""The agent's channel to one control plane, over real loopback: back promptly after a restart, quiet when the
control plane stays away (issue 15: every proxy SYNCED within 2.5 s of a restart)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import grpc

from mizzen.agent.upstream import PROBE_EVERY_S, Upstream
from mizzen.testing.controlplane import free_port

METHOD = "/test.Echo/Name"
PROMPT_S = 0.25  # the port is probed every ~0.1 s; a fresh channel connects in milliseconds


async def replica(name: str, port: int) -> grpc.aio.Server:
    """A gRPC server on ``port`` answering every stream with its name."""

    async def answer(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        async for _ in requests:
            yield name.encode()

    class Handler(grpc.GenericRpcHandler):  # type: ignore[misc]
        def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
            return grpc.stream_stream_rpc_method_handler(answer)

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((Handler(),))
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    await server.start()
    return server


async def ask(upstream: Upstream) -> str:
    """One call as the xDS proxy makes it: on the channel ``ready`` hands out, waiting for it if need be."""
    channel = await upstream.ready()
    call = channel.stream_stream(METHOD)(iter([b"?"]), wait_for_ready=True)
    async for reply in call:
        return bytes(reply).decode()
    return ""


async def stream_until_it_fails(upstream: Upstream) -> None:
    """A long-lived stream (as Envoy's ADS stream is) that ends when its control plane goes away."""

    async def forever() -> AsyncIterator[bytes]:
        yield b"?"
        await asyncio.Event().wait()

    channel = await upstream.ready()
    try:
        async for _ in channel.stream_stream(METHOD)(forever(), wait_for_ready=True):
            pass
    except grpc.aio.AioRpcError as exc:
        assert exc.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_call_reaches_a_restarted_control_plane_promptly_after_gRPCs_backoff_has_grown() -> None:
    """The control plane away for 2-3 s (gRPC's reconnect backoff has reached its 1 s cap), then listening
    again: a call waiting meanwhile is answered within 0.25 s, four times out of four (gRPC's backoff alone:
    anywhere up to 1.2 s)."""
    for _ in range(4):
        port = free_port()
        upstream = Upstream([("127.0.0.1", port)], None)
        try:
            server = await replica("first", port)
            assert await ask(upstream) == "first"
            streaming = asyncio.create_task(stream_until_it_fails(upstream))
            await asyncio.sleep(0.1)
            await server.stop(None)
            await asyncio.wait_for(streaming, 5.0)  # as the xDS proxy's relay sees it: then Envoy asks again
            waiting = asyncio.create_task(ask(upstream))
            await asyncio.sleep(random.uniform(2.0, 3.0))
            assert not waiting.done()
            server = await replica("restarted", port)
            restarted = time.monotonic()
            try:
                assert await asyncio.wait_for(waiting, 5.0) == "restarted"
                took = time.monotonic() - restarted
                assert took < PROMPT_S, f"answered {took:.2f} s after the restart"
            finally:
                await server.stop(None)
        finally:
            await upstream.close()


async def test_an_agent_whose_control_plane_stays_down_stops_probing_after_the_prompt_window() -> None:
    """Nothing listening: the port is probed about every 0.1 s during the prompt window and never after it
    (gRPC's own backoff, at most once a second, is all that is left); a waiting call still gets through."""
    port = free_port()
    upstream = Upstream([("127.0.0.1", port)], None, prompt_window_s=1.0)
    try:
        waiting = asyncio.create_task(ask(upstream))
        await asyncio.sleep(1.2)
        in_window = upstream.probes
        assert 1.0 / (PROBE_EVERY_S * 1.2) / 2 <= in_window <= 1.0 / (PROBE_EVERY_S * 0.8) + 1, in_window
        await asyncio.sleep(2.0)
        assert upstream.probes == in_window, "probing went on after the prompt window"
        server = await replica("late", port)
        try:
            assert await asyncio.wait_for(waiting, 5.0) == "late"
        finally:
            await server.stop(None)
    finally:
        await upstream.close()
