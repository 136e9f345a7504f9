"""gRPC Access Log Service: Envoy streams access-log entries to the control plane on the xDS port.

Only the first message of a stream carries the identifier (the Envoy node); the servicer remembers it
for the rest of the stream. The service is lossy by design (Envoy expects no acknowledgement), so a
bad entry is logged and skipped rather than ending the stream.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.data.accesslog.v3 import accesslog_pb2
from envoy.service.accesslog.v3 import als_pb2, als_pb2_grpc
from google.protobuf import json_format

from mizzen.node import Proxy, proxy_from_node

log = logging.getLogger(__name__)


class AccessLogSink(Protocol):
    """Where entries go (implemented by :class:`mizzen.telemetry.metrics.Telemetry`)."""

    def record_http(self, entry: accesslog_pb2.HTTPAccessLogEntry, node: Proxy) -> object:
        """Fold one HTTP access-log entry from ``node`` into the metrics."""

    def record_tcp(self, entry: accesslog_pb2.TCPAccessLogEntry, node: Proxy) -> object:
        """Fold one TCP access-log entry from ``node`` into the metrics."""


class AccessLogService(als_pb2_grpc.AccessLogServiceServicer):  # type: ignore[misc]
    """``envoy.service.accesslog.v3.AccessLogService`` feeding a sink.

    ``token``: when given, a stream must carry ``authorization: Bearer <token>`` metadata (the access
    loggers send it, see ``translate.telemetry``), like the ADS streams on the same port.
    ``is_known(node_id)``: when given, entries from nodes it rejects are dropped (e.g. proxies that
    never connected over xDS), so a stray client cannot invent traffic.
    """

    def __init__(
        self, sink: AccessLogSink, *, token: str | None = None, is_known: Callable[[str], bool] | None = None
    ) -> None:
        self._sink = sink
        self._token = token
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
        if not self._authorized(context):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        node: Proxy | None = None
        accepted = True
        self.streams += 1
        try:
            async for message in request_iterator:
                if message.HasField("identifier"):
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

    def _authorized(self, context: Any) -> bool:
        if self._token is None:
            return True
        for key, value in context.invocation_metadata() or ():
            if key == "authorization" and isinstance(value, str):
                return hmac.compare_digest(value.encode(), f"Bearer {self._token}".encode())
        return False

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
