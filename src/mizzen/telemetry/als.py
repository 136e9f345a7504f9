"""gRPC Access Log Service: Envoy streams access-log entries to the control plane on the xDS port.

Only the first message of a stream carries the identifier (the Envoy node); the servicer remembers it
for the rest of the stream. The service is lossy by design (Envoy expects no acknowledgement), so a
bad entry is logged and skipped rather than ending the stream.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from google.protobuf import json_format

from mizzen.node import Proxy, proxy_from_node
from mizzen.xds.auth import ALLOW_ALL, BearerToken, StreamAuthenticator, StreamGrant, Unauthenticated
from mizzen.xds.protocol import node_info

log = logging.getLogger(__name__)


class AccessLogSink(Protocol):
    """Where entries go (implemented by :class:`mizzen.telemetry.metrics.Telemetry`)."""

    def record_http(self, entry: accesslog_pb2.HTTPAccessLogEntry, node: Proxy) -> object:
        """Fold one HTTP access-log entry from ``node`` into the metrics."""

    def record_tcp(self, entry: accesslog_pb2.TCPAccessLogEntry, node: Proxy) -> object:
        """Fold one TCP access-log entry from ``node`` into the metrics."""


class AccessLogService(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    """``envoy.service.accesslog.v3.AccessLogService`` feeding a sink.

    ``authenticator``: checks each stream's credential like the ADS streams on the same port (the agent
    adds it; Envoy's config holds none); the stream's node must be one the grant admits, and a stream
    whose credential is revoked ends at its next message. ``token`` is shorthand for one static token.
    ``is_known(node_id)``: when given, entries from nodes it rejects are dropped (e.g. proxies that
    never connected over xDS), so a stray client cannot invent traffic.
    """

    def __init__(
        self,
        sink: AccessLogSink,
        *,
        token: str | None = None,
        authenticator: StreamAuthenticator | None = None,
        is_known: Callable[[str], bool] | None = None,
    ) -> None:
        self._sink = sink
        self._auth = authenticator if authenticator is not None else BearerToken(token) if token is not None else None
        self._is_known = is_known
        self.streams = 0  # open streams, for the control plane's own metrics

    def add_to_server(self, server: grpc.aio.Server) -> None:
        """Register this servicer on a grpc.aio server (the xDS server, port 15010)."""
        als_pb2_grpc.add_AccessLogServiceServicer_to_server(self, server)

    async def StreamAccessLogs(  # the gRPC method name, as generated
        self,
        request_iterator: AsyncIterator[als_pb2.StreamAccessLogsMessage],
        context: Any,
    ) -> als_pb2.StreamAccessLogsResponse:
        """Consume one Envoy's stream until it closes."""
        grant = await self._grant(context)
        node: Proxy | None = None
        accepted = True
        self.streams += 1
        try:
            async for message in request_iterator:
                if not grant.valid():
                    await context.abort(grpc.StatusCode.UNAUTHENTICATED, "the stream's credential was revoked")
                if message.HasField("identifier"):
                    refusal = grant.admit(node_info(message.identifier.node))
                    if refusal is not None:
                        await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal)
                    node = node_of(message.identifier.node)
                    accepted = self._is_known is None or self._is_known(message.identifier.node.id)
                    if not accepted:
                        log.warning("ignoring access logs from unknown node %s", message.identifier.node.id)
                if node is None or not accepted:
                    continue
                self._deliver(message, node)
        finally:
            self.streams -= 1
        return als_pb2.StreamAccessLogsResponse()

    async def _grant(self, context: Any) -> StreamGrant:
        if self._auth is None:
            return ALLOW_ALL
        try:
            return self._auth.authenticate(tuple(context.invocation_metadata() or ()))
        except Unauthenticated as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise  # abort raises; this keeps type checkers sure no grant is returned

    def _deliver(self, message: als_pb2.StreamAccessLogsMessage, node: Proxy) -> None:
        for http in message.http_logs.log_entry:
            try:
                self._sink.record_http(http, node)
            except Exception:  # one malformed entry must not end the proxy's stream
                log.exception("dropping HTTP access-log entry from %s", node.id)
        for tcp in message.tcp_logs.log_entry:
            try:
                self._sink.record_tcp(tcp, node)
            except Exception:
                log.exception("dropping TCP access-log entry from %s", node.id)


def node_of(node: base_pb2.Node) -> Proxy:
    """The proxy an Envoy node stands for (same decoding the xDS server uses)."""
    metadata = json_format.MessageToDict(node.metadata) if node.HasField("metadata") else {}
    proxy = proxy_from_node(node.id, metadata)
    if proxy.name:
        return proxy
    # No NAME in metadata (a hand-written bootstrap): fall back to the node id's "name.ns" part.
    parts = node.id.split("~")
    if len(parts) == 4 and "." in parts[2]:
        name, namespace = parts[2].rsplit(".", 1)
        return proxy_from_node(node.id, {**metadata, "NAME": name, "NAMESPACE": namespace})
    return proxy
