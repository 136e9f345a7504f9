"""The control plane's end of the agent channel (:mod:`mizzen.channel`), on the xDS port.

Each agent opens one stream, authenticated like its xDS streams, and says which proxy it serves; a
workload or gateway credential may only serve its own proxy. :meth:`AgentChannels.call` sends a request
down the stream of that proxy's agent and waits for the answer. There is no other way to a proxy's admin:
the relay cannot be aimed at an address. Span batches an agent sends up its stream go to ``on_spans``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field

import grpc

from mizzen import channel as proto
from mizzen.controlplane.xds_auth import CredentialAuthenticator, CredentialGrant
from mizzen.security.scope import channel_problem
from mizzen.xds.auth import Unauthenticated

log = logging.getLogger(__name__)

Answer = tuple[int, str, bytes]  # (status, content type, body)
SpanSink = Callable[[bytes], None]  # takes a Zipkin v2 JSON batch; raises ValueError if it is not one


class ChannelUnavailable(Exception):
    """No agent channel serves the proxy (its agent is not connected), or it closed during the call."""


@dataclass
class _Channel:
    proxy_id: str
    grant: CredentialGrant
    peer: str
    outbox: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    pending: dict[int, asyncio.Future[Answer]] = field(default_factory=dict)

    def close(self) -> None:
        self.outbox.put_nowait(None)


class AgentChannels:
    """Open agent channels by proxy id (``<name>.<namespace>``)."""

    def __init__(self, authenticator: CredentialAuthenticator, on_spans: SpanSink | None = None) -> None:
        self._auth = authenticator
        self._on_spans = on_spans
        self._by_proxy: dict[str, _Channel] = {}
        self._ids = itertools.count(1)

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Serve the channel on a grpc.aio server (the xDS port); call before it starts."""
        handler = grpc.stream_stream_rpc_method_handler(self._connect)
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(proto.SERVICE, {"Connect": handler}),))

    def connected(self, proxy_id: str) -> bool:
        """Whether the agent of ``proxy_id`` has its channel open."""
        return proxy_id in self._by_proxy

    async def call(
        self, proxy_id: str, method: str, path: str, query: Mapping[str, str], timeout: float = 30.0
    ) -> Answer:
        """Ask the agent of ``proxy_id``; :class:`ChannelUnavailable` without a channel, TimeoutError if slow."""
        chan = self._by_proxy.get(proxy_id)
        if chan is None:
            raise ChannelUnavailable(f"the agent of {proxy_id} has no channel to this control plane")
        rid = next(self._ids)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        chan.pending[rid] = future
        chan.outbox.put_nowait(proto.request(rid, method, path, dict(query)).encode())
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            chan.pending.pop(rid, None)

    def revalidate(self) -> int:
        """Close channels whose credential was revoked or expired; return how many."""
        closing = [c for c in self._by_proxy.values() if not c.grant.valid()]
        for chan in closing:
            chan.close()
        return len(closing)

    async def _connect(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        try:
            grant = self._auth.grant(tuple(context.invocation_metadata() or ()))
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        chan = await self._hello(requests, context, grant)
        previous = self._by_proxy.get(chan.proxy_id)
        if previous is not None:
            previous.close()
        self._by_proxy[chan.proxy_id] = chan
        reader = asyncio.create_task(self._read(requests, chan))
        try:
            yield proto.ready().encode()
            while (frame := await chan.outbox.get()) is not None:
                yield frame
        finally:
            reader.cancel()
            if self._by_proxy.get(chan.proxy_id) is chan:
                del self._by_proxy[chan.proxy_id]
            for future in chan.pending.values():
                if not future.done():
                    future.set_exception(ChannelUnavailable(f"the agent channel of {chan.proxy_id} closed"))
        if not grant.valid():
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the channel's credential was revoked or expired")

    async def _hello(
        self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext, grant: CredentialGrant
    ) -> _Channel:
        try:
            first = proto.decode(await anext(aiter(requests)))
        except (StopAsyncIteration, proto.ChannelError) as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the agent channel must start with hello: {exc}")
        proxy_id = str(first.header.get("proxy", ""))
        if first.type != "hello" or not proxy_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the agent channel must start with hello")
        problem = channel_problem(grant.credential, proxy_id)
        if problem is not None:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, problem)
        log.info("agent channel of %s open (%s)", proxy_id, context.peer())
        return _Channel(proxy_id, grant, str(context.peer()))

    async def _read(self, requests: AsyncIterator[bytes], chan: _Channel) -> None:
        with contextlib.suppress(grpc.RpcError, asyncio.CancelledError):
            async for data in requests:
                try:
                    frame = proto.decode(data)
                except proto.ChannelError as exc:
                    log.warning("agent channel of %s: %s", chan.proxy_id, exc)
                    continue
                if frame.type == "spans":
                    self._spans(chan, frame.body)
                    continue
                future = chan.pending.get(int(frame.header.get("id", 0)))
                if frame.type == "response" and future is not None and not future.done():
                    status = int(frame.header.get("status", 502))
                    future.set_result((status, str(frame.header.get("contentType", "text/plain")), frame.body))
        chan.close()  # the agent went away: end our side too

    def _spans(self, chan: _Channel, body: bytes) -> None:
        if self._on_spans is None:
            return
        if len(body) > proto.MAX_SPANS_BYTES:
            log.warning(
                "agent channel of %s: dropped a span batch of %d bytes (at most %d)",
                chan.proxy_id,
                len(body),
                proto.MAX_SPANS_BYTES,
            )
            return
        try:
            self._on_spans(body)
        except ValueError as exc:  # TraceError and JSONDecodeError are ValueErrors
            log.warning("agent channel of %s: dropped an invalid Zipkin v2 span batch: %s", chan.proxy_id, exc)
