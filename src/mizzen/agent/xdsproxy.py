"""Istio's xDS proxy: Envoy's ``xds-grpc`` cluster is this UNIX socket; every call is forwarded upstream.

Any gRPC method (ADS, the access-log service, whatever Envoy opens on ``xds-grpc``) is relayed byte for
byte, both ways, on the agent's channel to the control plane, with the agent's credential added; so
Envoy's configuration never holds one. A status the control plane ends a stream with (a refused node, a
revoked credential) is passed back to Envoy unchanged. gRPC's framing is the same for every arity, so
one stream-stream handler serves client-streaming methods like the access-log service too.

Failover: each call goes to the replica :class:`~mizzen.agent.upstream.Upstream` has connected. When that
replica becomes unreachable, the relay reports it and ends Envoy's stream as UNAVAILABLE; Envoy keeps its
configuration, retries within its ADS backoff (well under a second at first), and the retry is relayed
to the next replica, which sends the same configuration (the translation is deterministic).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import grpc

from mizzen.agent.upstream import MESSAGE_OPTIONS, Upstream, credential_metadata, unreachable

log = logging.getLogger(__name__)

Metadata = tuple[tuple[str, str], ...]


class XdsProxy:
    """A gRPC server on a UNIX socket relaying every method to ``channel``."""

    def __init__(self, upstream: Upstream, token: Callable[[], str]) -> None:
        """Relay over ``upstream``, adding the credential ``token()`` returns at each stream."""
        self._upstream = upstream
        self._token = token
        self._server: grpc.aio.Server | None = None
        self.forwarded = 0  # streams relayed so far (for tests and logs)

    async def start(self, path: str) -> None:
        """Listen on the UNIX socket ``path`` (Envoy's ``xds-grpc`` cluster)."""
        server = grpc.aio.server(options=MESSAGE_OPTIONS)
        server.add_generic_rpc_handlers((_Relay(self),))
        server.add_insecure_port(f"unix:{path}")
        await server.start()
        self._server = server

    async def stop(self) -> None:
        """Stop relaying; open streams end."""
        if self._server is not None:
            await self._server.stop(0.5)
            self._server = None

    async def relay(
        self, method: str, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[bytes]:
        """Forward one call: Envoy's messages up, the control plane's down, its final status back."""
        self.forwarded += 1
        channel = await self._upstream.ready()
        # With one control plane a stream waits for the channel to (re)connect, so Envoy's retry backoff adds
        # nothing to the time back after a link returns; with several, UNAVAILABLE moves on to the next one.
        call = channel.stream_stream(method)(
            requests, metadata=credential_metadata(self._token()), wait_for_ready=self._upstream.single
        )
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as exc:
            log.info("upstream %s ended: %s %s", method, exc.code().name, exc.details())
            if unreachable(exc):
                await self._upstream.failed(channel)
            await context.abort(exc.code(), exc.details() or "")
        finally:
            call.cancel()


class _Relay(grpc.GenericRpcHandler):  # type: ignore[misc]  # grpc ships no type stubs
    def __init__(self, proxy: XdsProxy) -> None:
        self._proxy = proxy

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method = str(handler_call_details.method)

        # grpc.aio recognises a streaming handler by it being an async generator function itself.
        async def behaviour(requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
            async for response in self._proxy.relay(method, requests, context):
                yield response

        return grpc.stream_stream_rpc_method_handler(behaviour)
