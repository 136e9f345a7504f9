"""The agent's span forwarder: Envoy's ``zipkin`` cluster is this UNIX socket; batches go to the control plane.

Envoy's Zipkin tracer POSTs JSON v2 batches to ``/api/v2/spans``; the agent passes each one on: up its
agent channel when the control plane said ``ready`` on it (one frame, no HTTP request; Envoy is answered
202 at once), else as an HTTP POST with its credential (Envoy's config holds none), answering with the
control plane's status. The control plane stores them and forwards them to an external collector if
``mesh.yaml`` names one. The HTTP/1.1 side is :func:`mizzen.agent.http11.serve` (h11) on asyncio's
UNIX server: a web framework would cost every agent a third of a second of start-up for one route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from mizzen.agent import http11
from mizzen.agent.cpclient import ControlPlaneClient
from mizzen.agent.errors import ControlPlaneCallError

log = logging.getLogger(__name__)

MAX_BATCH = 16 * 1024 * 1024
SPANS_PATH = b"/api/v2/spans"


class SpanForwarder:
    """An HTTP/1.1 server on a UNIX socket accepting Zipkin batches."""

    def __init__(self, client: ControlPlaneClient) -> None:
        """Forward each batch with ``client`` (the workload's credential)."""
        self._client = client
        self._server: asyncio.Server | None = None
        self.forwarded = 0
        # (content type, body) -> queued; set once the agent channel exists (False: post it instead)
        self.via: Callable[[str, bytes], bool] | None = None

    async def start(self, path: str) -> None:
        """Listen on the UNIX socket ``path``."""
        self._server = await asyncio.start_unix_server(self._connection, path)

    async def stop(self) -> None:
        """Stop listening; batches already read have been forwarded."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await http11.serve(reader, writer, self._forward, max_body=MAX_BATCH)

    async def _forward(self, request: http11.Request) -> int:
        if request.method != b"POST" or request.target.split(b"?")[0] != SPANS_PATH:
            return 404
        body = request.body
        content_type = request.header(b"content-type", b"application/json")
        if self.via is not None and self.via(content_type.decode("latin-1"), body):
            self.forwarded += 1
            return 202
        try:
            status = await self._client.post_spans(body, content_type.decode("latin-1"))
        except ControlPlaneCallError as exc:
            log.warning("dropped a span batch: %s", exc)
            return 503
        self.forwarded += 1
        return status
