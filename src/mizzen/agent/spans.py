"""The agent's span forwarder: Envoy's ``zipkin`` cluster is this UNIX socket; batches go to the control plane.

Envoy's Zipkin tracer POSTs JSON v2 batches to ``/api/v2/spans``; the agent passes each one on: up its
agent channel when the control plane said ``ready`` on it (one frame, no HTTP request; Envoy is answered
202 at once), else as an HTTP POST with its credential (Envoy's config holds none), answering with the
control plane's status. The control plane stores them and forwards them to an external collector if
``mesh.yaml`` names one. The HTTP/1.1 side is h11 (sans-IO, already under httpx) on asyncio's UNIX
server: a web framework would cost every agent a third of a second of start-up for one route.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import h11

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
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        try:
            while await self._one_request(conn, reader, writer):
                conn.start_next_cycle()
        except (h11.ProtocolError, ConnectionError) as exc:
            log.debug("span connection ended: %r", exc)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the client is done with the connection."""
        request: h11.Request | None = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and request is None:
                    return False
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BATCH:
                    await self._respond(conn, writer, 413)
                    return False
            elif isinstance(event, h11.EndOfMessage) and request is not None:
                await self._respond(conn, writer, await self._forward(request, bytes(body)))
                return conn.our_state is h11.DONE and conn.their_state is h11.DONE
            else:  # ConnectionClosed, or a message without a request line
                return False

    async def _forward(self, request: h11.Request, body: bytes) -> int:
        if request.method != b"POST" or request.target.split(b"?")[0] != SPANS_PATH:
            return 404
        content_type = next((v for k, v in request.headers if k == b"content-type"), b"application/json")
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

    @staticmethod
    async def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
        writer.write(conn.send(h11.Response(status_code=status, headers=[(b"content-length", b"0")])) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
