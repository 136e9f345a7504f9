"""The grpc.aio shell around the sans-IO ADS streams: one task per stream, SotW or delta.

``StreamAggregatedResources`` (State of the World, :class:`~mizzen.xds.stream.Stream`) and
``DeltaAggregatedResources`` (incremental, :class:`~mizzen.xds.delta.DeltaStream`) are served on the same
port from the same :class:`SnapshotCache`; each Envoy picks one through its bootstrap's ``api_type``.

Each stream gets an inbox fed by a reader task (requests) and by the :class:`SnapshotCache` (wake-ups),
and a loop that hands every item to the sans-IO state machine and writes the responses it returns.
Wake-ups coalesce: while a stream is busy writing, any number of snapshot sets leave a single wake-up,
and the stream then reads the newest snapshot. The server knows nothing of Istio; the control plane
learns about proxies through ``on_connect``/``on_disconnect`` and feeds the cache. Credentials are
checked through :mod:`mizzen.xds.auth`: a grant per stream, the node admitted before it is registered,
snapshots filtered per grant, revoked grants closed by :meth:`XdsServer.revalidate`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any as AnyType

import grpc
from envoy.service.discovery.v3 import discovery_pb2

from mizzen.xds import types
from mizzen.xds.auth import ALLOW_ALL, BearerToken, StreamAuthenticator, StreamGrant, Unauthenticated
from mizzen.xds.cache import SnapshotCache
from mizzen.xds.delta import DeltaStream
from mizzen.xds.errors import ProtocolError
from mizzen.xds.metrics import XdsMetrics
from mizzen.xds.protocol import (
    Acked,
    Action,
    AdsStream,
    Connected,
    DeltaResponse,
    Ignored,
    Nacked,
    NodeInfo,
    Reply,
    Response,
)
from mizzen.xds.snapshot import Snapshot
from mizzen.xds.status import ProxyStatus, TypeStatus
from mizzen.xds.stream import Stream

log = logging.getLogger(__name__)

SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService"
SDS_SERVICE = "envoy.service.secret.v3.SecretDiscoveryService"  # same messages, one type: Secret
NodeCallback = Callable[[NodeInfo], Awaitable[None]]
AckCallback = Callable[[str, str, str], None]  # (node_id, type_url, version)
RequestCallback = Callable[[str, str, tuple[str, ...]], None]  # (node_id, type_url, resource names)

_WAKE = object()
_CLOSED = object()
_SUPERSEDED = object()
_REVOKED = object()
REVOKED_MESSAGE = "the stream's credential was revoked or expired"


class _Connection:
    """One open ADS stream: the state machine plus the shell's bookkeeping."""

    def __init__(self, context: grpc.aio.ServicerContext, stream: AdsStream, grant: StreamGrant) -> None:
        self.stream = stream
        self.context = context
        self.grant = grant
        self.inbox: asyncio.Queue[object] = asyncio.Queue()
        self.wake_pending = False
        self.connected_since = time.time()
        self.peer = str(context.peer())
        self.pushes: dict[str, tuple[str, float]] = {}  # type -> (nonce, snapshot set time) awaiting ACK

    @property
    def node_id(self) -> str:
        return self.stream.node.node_id if self.stream.node else ""

    def wake(self) -> None:
        if not self.wake_pending:
            self.wake_pending = True
            self.inbox.put_nowait(_WAKE)


class XdsServer:
    """An ADS server (State of the World and delta) serving per-node snapshots from a :class:`SnapshotCache`."""

    def __init__(
        self,
        cache: SnapshotCache,
        *,
        token: str | None = None,
        authenticator: StreamAuthenticator | None = None,
        on_connect: NodeCallback | None = None,
        on_disconnect: NodeCallback | None = None,
        on_ack: AckCallback | None = None,
        sds: bool = False,
        one_stream_per_node: bool = True,
        on_request: RequestCallback | None = None,
    ) -> None:
        """``authenticator`` checks each stream (``token`` is shorthand for one static bearer token; neither =
        no auth). Callbacks see every admitted stream. ``sds``: serve the SDS service (State of the World)
        instead of ADS (the agent's secrets). ``one_stream_per_node``: a node's new stream replaces its old
        one (ADS); SDS clients open one stream per secret, so the agent turns this off. ``on_request`` sees
        the resource names of every State-of-the-World request before it is answered (the agent's SDS adds
        secrets on demand)."""
        self.cache = cache
        self.metrics = XdsMetrics()
        self._auth = authenticator if authenticator is not None else BearerToken(token) if token is not None else None
        self._sds = sds
        self._supersede = one_stream_per_node
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._on_ack = on_ack
        self._on_request = on_request
        self._current: dict[str, _Connection] = {}  # node id -> the stream serving it
        self._streams: set[_Connection] = set()  # every open stream, identified or not (revalidate)
        self._server: grpc.aio.Server | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._extra_services: list[Callable[[grpc.aio.Server], None]] = []

    def add_service(self, register: Callable[[grpc.aio.Server], None]) -> None:
        """Serve another gRPC service on the same port (e.g. Envoy's access-log service); call before start."""
        self._extra_services.append(register)

    async def start(self, host: str = "127.0.0.1", port: int = 0, *, tls: tuple[bytes, bytes] | None = None) -> int:
        """Listen on ``host:port`` (0 = a free port) and return the bound port; ``tls`` = (chain PEM, key PEM)."""
        server = self._build()
        address = f"{host}:{port}"
        if tls is not None:
            bound: int = server.add_secure_port(address, grpc.ssl_server_credentials([(tls[1], tls[0])]))
        else:
            bound = server.add_insecure_port(address)
        await server.start()
        self._server = server
        log.info("xDS server listening on %s:%d%s", host, bound, " (TLS)" if tls is not None else "")
        return bound

    async def start_unix(self, path: str) -> None:
        """Listen on the UNIX socket ``path`` (the agent's local SDS socket)."""
        server = self._build()
        server.add_insecure_port(f"unix:{path}")
        await server.start()
        self._server = server

    def _build(self) -> grpc.aio.Server:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                ("grpc.max_send_message_length", 256 * 1024 * 1024),
                # Find proxies that vanished without closing their stream (host gone, network cut), as
                # Istio does (30 s / 10 s); tolerate clients' own keepalive pings.
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_timeout_ms", 10_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.http2.min_recv_ping_interval_without_data_ms", 10_000),
                ("grpc.http2.max_ping_strikes", 0),
            ]
        )
        handler = grpc.stream_stream_rpc_method_handler(
            self._handle,
            request_deserializer=discovery_pb2.DiscoveryRequest.FromString,
            response_serializer=_identity,
        )
        delta = grpc.stream_stream_rpc_method_handler(
            self._handle_delta,
            request_deserializer=discovery_pb2.DeltaDiscoveryRequest.FromString,
            response_serializer=_identity,
        )
        methods = {"StreamSecrets": handler} if self._sds else {"StreamAggregatedResources": handler}
        if not self._sds:
            methods["DeltaAggregatedResources"] = delta
        service = SDS_SERVICE if self._sds else SERVICE
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
        for register in self._extra_services:
            register(server)
        return server

    async def stop(self, grace: float = 0.5) -> None:
        """Close every stream and stop listening."""
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)

    def status(self) -> list[ProxyStatus]:
        """Sync status of every connected proxy, sorted by node id."""
        return [self._proxy_status(self._current[n]) for n in sorted(self._current)]

    def proxy_status(self, node_id: str) -> ProxyStatus | None:
        """Sync status of one connected proxy, or None when it is not connected."""
        conn = self._current.get(node_id)
        return self._proxy_status(conn) if conn else None

    def sent_resources(
        self, node_id: str, *, acked: bool = False, type_urls: Collection[str] | None = None
    ) -> dict[str, Mapping[str, bytes]]:
        """``{type_url: {name: Any bytes}}`` last sent to (or, with ``acked``, ACKed by) a connected node.

        Read-only mappings, not copies: proxy-status reads them for every proxy on every poll. ``type_urls``
        limits the answer to those types.
        """
        conn = self._current.get(node_id)
        if conn is None:
            return {}
        return {
            t: s.acked if acked else s.sent for t, s in conn.stream.types.items() if type_urls is None or t in type_urls
        }

    def revalidate(self) -> int:
        """Close every stream whose grant is no longer valid (a revoked or expired credential); return how many."""
        closing = [c for c in self._streams if not c.grant.valid()]
        for conn in closing:
            conn.inbox.put_nowait(_REVOKED)
        return len(closing)

    def metrics_text(self) -> str:
        """The server's metrics in Prometheus text format."""
        self.metrics.connected = len(self._current)
        return self.metrics.render()

    @staticmethod
    def _proxy_status(conn: _Connection) -> ProxyStatus:
        assert conn.stream.node is not None  # only identified streams are registered
        states = conn.stream.types
        return ProxyStatus(
            node=conn.stream.node,
            connected_since=conn.connected_since,
            peer=conn.peer,
            types=tuple(TypeStatus.of(states[t]) for t in types.ordered(states)),
            api=conn.stream.api,
        )

    # --- one stream -------------------------------------------------------------------------------

    async def _handle_delta(self, requests: AsyncIterator[AnyType], context: grpc.aio.ServicerContext) -> None:
        await self._handle(requests, context, DeltaStream())

    async def _handle(
        self, requests: AsyncIterator[AnyType], context: grpc.aio.ServicerContext, stream: AdsStream | None = None
    ) -> None:
        grant = ALLOW_ALL
        if self._auth is not None:
            try:
                grant = self._auth.authenticate(tuple(context.invocation_metadata() or ()))
            except Unauthenticated as exc:
                log.warning("refused an xDS stream from %s: %s", context.peer(), exc)
                await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        conn = _Connection(context, stream or Stream(), grant)
        self._streams.add(conn)
        reader = asyncio.create_task(self._read(requests, conn))
        try:
            await self._serve(conn)
        finally:
            reader.cancel()
            self._streams.discard(conn)
            self._closed(conn)

    async def _read(self, requests: AsyncIterator[AnyType], conn: _Connection) -> None:
        try:
            async for request in requests:
                conn.inbox.put_nowait(request)
        except (grpc.RpcError, asyncio.CancelledError) as exc:
            log.debug("ADS stream %s read ended: %r", conn.peer, exc)
        except Exception:  # e.g. an undecodable request: end this stream, visibly
            log.exception("ADS stream %s: reading requests failed", conn.peer)
        finally:
            conn.inbox.put_nowait(_CLOSED)

    async def _serve(self, conn: _Connection) -> None:
        while True:
            item = await conn.inbox.get()
            if item is _CLOSED:
                return
            if item is _SUPERSEDED:
                await conn.context.abort(grpc.StatusCode.ABORTED, f"superseded by a newer stream for {conn.node_id}")
            if item is _REVOKED:
                await conn.context.abort(
                    grpc.StatusCode.UNAUTHENTICATED, "the stream's credential was revoked or expired"
                )
            if item is _WAKE:
                conn.wake_pending = False
                snapshot = _visible(conn.grant, self.cache.get(conn.node_id))
                await self._push(conn, conn.stream.snapshot_updated(snapshot), woken=True)
                continue
            # The hook runs before the request is answered, so what it adds is in that answer (the first
            # request names the node, so it is told right after that request is read).
            known = conn.stream.node is not None
            if known:
                self._requested(conn, item)
            try:
                actions = conn.stream.receive(item)
            except ProtocolError as exc:
                log.warning("ADS stream %s: %s", conn.peer, exc)
                await conn.context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            if not known:
                self._requested(conn, item)
            await self._act(conn, actions)

    def _requested(self, conn: _Connection, request: AnyType) -> None:
        names = getattr(request, "resource_names", None)
        if self._on_request is None or names is None or conn.stream.node is None:
            return
        try:
            self._on_request(conn.node_id, request.type_url, tuple(names))
        except Exception:  # a hook must never break the stream
            log.exception("on_request hook failed")

    async def _act(self, conn: _Connection, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, (Response, DeltaResponse)):
                await self._push(conn, [action], woken=False)
            elif isinstance(action, Connected):
                await self._connected(conn, action.node)
            elif isinstance(action, Acked):
                self._acked(conn, action)
            elif isinstance(action, Nacked):
                self.metrics.nacks[action.type_url] += 1
                conn.pushes.pop(action.type_url, None)
                log.warning(
                    "proxy %s rejected %s (nonce %s): %s",
                    conn.node_id,
                    types.SHORT_NAMES.get(action.type_url, action.type_url),
                    action.nonce,
                    action.message,
                )
            elif isinstance(action, Ignored):
                self.metrics.stale[action.type_url] += 1

    async def _push(self, conn: _Connection, responses: Sequence[Reply], *, woken: bool) -> None:
        set_time = self.cache.set_time(conn.node_id) if woken else None
        for response in responses:
            if set_time is not None:
                conn.pushes[response.type_url] = (response.nonce, set_time)
            await conn.context.write(response.serialize())
            self.metrics.pushes[response.type_url] += 1
            self.metrics.resources[response.type_url] += len(response.resources)

    def _acked(self, conn: _Connection, ack: Acked) -> None:
        pending = conn.pushes.get(ack.type_url)
        if pending is not None and pending[0] == ack.nonce:
            del conn.pushes[ack.type_url]
            self.metrics.observe_latency(time.monotonic() - pending[1])
        if self._on_ack is not None:
            try:
                self._on_ack(conn.node_id, ack.type_url, ack.version)
            except Exception:  # a measuring hook must never break the stream
                log.exception("on_ack hook failed")

    async def _connected(self, conn: _Connection, node: NodeInfo) -> None:
        refusal = conn.grant.admit(node)
        if refusal is not None:  # before anything is registered: the real node's stream stays untouched
            log.warning("refused node %s from %s: %s", node.node_id, conn.peer, refusal)
            await conn.context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
        previous = self._current.get(node.node_id) if self._supersede else None
        if previous is not None:
            log.warning(
                "node %s opened a new stream (%s); closing the old one (%s)", node.node_id, conn.peer, previous.peer
            )
            previous.inbox.put_nowait(_SUPERSEDED)
        self._current[node.node_id] = conn
        self.cache.watch(node.node_id, conn.wake)
        log.info(
            "proxy %s connected from %s (Envoy %s, %s)", node.node_id, conn.peer, node.envoy_version, conn.stream.api
        )
        if self._on_connect is not None:
            try:
                await self._on_connect(node)
            except Exception:  # the proxy retries; without a snapshot there is nothing right to serve
                log.exception("on_connect for %s failed; closing its stream", node.node_id)
                await conn.context.abort(grpc.StatusCode.UNAVAILABLE, "control plane could not prepare config")
        conn.wake()  # serve whatever snapshot exists now (on_connect normally just set it)

    def _closed(self, conn: _Connection) -> None:
        node = conn.stream.node
        if node is None:
            return
        self.cache.unwatch(node.node_id, conn.wake)
        if self._current.get(node.node_id) is not conn:
            return  # superseded: the node is still connected through its newer stream
        del self._current[node.node_id]
        log.info("proxy %s disconnected", node.node_id)
        if self._on_disconnect is not None:
            task = asyncio.get_running_loop().create_task(self._notify_disconnect(self._on_disconnect, node))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    @staticmethod
    async def _notify_disconnect(callback: NodeCallback, node: NodeInfo) -> None:
        try:
            await callback(node)
        except Exception:  # the stream is gone; nothing to abort, but the failure must be visible
            log.exception("on_disconnect for %s failed", node.node_id)


def _identity(data: bytes) -> bytes:
    return data


def _visible(grant: StreamGrant, snapshot: Snapshot | None) -> Snapshot | None:
    """The part of ``snapshot`` the grant may see (the whole snapshot when nothing is restricted)."""
    if snapshot is None:
        return None
    updates = {}
    for type_url in snapshot.type_urls:
        allowed = grant.visible(type_url)
        if allowed is not None:
            updates[type_url] = {n: b for n, b in snapshot.resources(type_url).items() if allowed(n)}
    return snapshot.replace(updates) if updates else snapshot
