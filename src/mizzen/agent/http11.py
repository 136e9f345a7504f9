"""The agent's own HTTP/1.1, on h11 (sans-IO; h11 is confined to this module): a small client for Envoy's
admin UNIX socket (:class:`AdminClient`, the agent channel's hot path), the readiness probe's GET
(:func:`get_status`) and the request loop of the span socket (:func:`serve`, for :mod:`mizzen.agent.spans`).

The control plane scrapes every proxy through its agent every 2 s, so each answer's cost is paid per
workload all the time: through httpx a request over the admin socket cost ~1.3 ms of agent CPU, through
this client ~0.25 ms (measured against a real Envoy: 300 keep-alive requests each). It does only what the
admin interface needs: one request at a time per connection, no request body, keep-alive connections
reused, a response size limit and a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import h11

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # a config_dump of a large mesh fits; a runaway answer does not
MAX_IDLE = 2  # idle keep-alive connections kept
READ_CHUNK = 256 * 1024


class Http11Error(Exception):
    """No complete HTTP answer (Envoy's admin or a probed app): unreachable, timed out, malformed or oversized."""


@dataclass(frozen=True)
class AdminResponse:
    """What Envoy answered."""

    status: int
    content_type: str
    body: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    h11: h11.Connection

    def close(self) -> None:
        self.writer.close()


class AdminClient:
    """Requests to the Envoy admin listening on the UNIX socket ``path``."""

    def __init__(self, path: str, *, timeout_s: float) -> None:
        """Nothing connects before the first request."""
        self.path, self.timeout_s = path, timeout_s
        self._idle: list[_Connection] = []

    async def request(self, method: str, path: str, params: dict[str, str] | None = None) -> AdminResponse:
        """``method path?params``; :class:`Http11Error` when Envoy's admin does not answer in time."""
        target = path + ("?" + urlencode(params, quote_via=quote) if params else "")
        conn = self._idle.pop() if self._idle else None
        try:
            async with asyncio.timeout(self.timeout_s):
                if conn is None:
                    conn = await self._connect()
                response = await _exchange(conn, method, target)
        except (OSError, TimeoutError, h11.ProtocolError, Http11Error) as exc:
            if conn is not None:
                conn.close()
            raise Http11Error(f"{method} {path}: {exc!r}") from exc
        if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE and len(self._idle) < MAX_IDLE:
            conn.h11.start_next_cycle()
            self._idle.append(conn)
        else:
            conn.close()
        return response

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_unix_connection(self.path, limit=READ_CHUNK)
        return _Connection(reader, writer, h11.Connection(h11.CLIENT))

    async def aclose(self) -> None:
        """Close the idle connections."""
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()


async def _exchange(
    conn: _Connection, method: str, target: str, headers: list[tuple[str, str]] | None = None
) -> AdminResponse:
    if headers is None:
        headers = [("host", "envoy-admin")] + ([] if method == "GET" else [("content-length", "0")])
    conn.writer.write(conn.h11.send(h11.Request(method=method, target=target, headers=headers)) or b"")
    conn.writer.write(conn.h11.send(h11.EndOfMessage()) or b"")
    await conn.writer.drain()
    status, content_type, chunks, size = 0, "text/plain", [], 0
    while True:
        event = conn.h11.next_event()
        if event is h11.NEED_DATA:
            data = await conn.reader.read(READ_CHUNK)
            if not data and conn.h11.their_state is not h11.SEND_BODY:
                raise Http11Error("connection closed before the response")
            conn.h11.receive_data(data)
        elif isinstance(event, h11.Response):
            status = event.status_code
            content_type = dict(event.headers).get(b"content-type", b"text/plain").decode("latin-1")
        elif isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_RESPONSE_BYTES:
                raise Http11Error(f"response over {MAX_RESPONSE_BYTES} bytes")
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return AdminResponse(status, content_type, b"".join(chunks))
        elif isinstance(event, h11.ConnectionClosed):
            raise Http11Error("connection closed before the response")


async def get_status(host: str, port: int, target: str, headers: tuple[tuple[str, str], ...] = ()) -> int:
    """``GET target`` on a fresh TCP connection to ``host:port`` (``Connection: close``, as kubelet's HTTP
    probes disable keep-alive); the response's status code, its body read and dropped. :class:`Http11Error`
    when there is no complete answer; the caller bounds the time."""
    reader, writer = await asyncio.open_connection(host, port, limit=READ_CHUNK)
    conn = _Connection(reader, writer, h11.Connection(h11.CLIENT))
    try:
        sent = [("host", f"{host}:{port}"), ("user-agent", "mizzen-probe"), ("connection", "close"), *headers]
        return (await _exchange(conn, "GET", target, sent)).status
    except h11.ProtocolError as exc:
        raise Http11Error(f"GET {target}: {exc!r}") from exc
    finally:
        conn.close()


@dataclass(frozen=True)
class Request:
    """One request a :func:`serve` loop read."""

    method: bytes
    target: bytes
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes

    def header(self, name: bytes, default: bytes = b"") -> bytes:
        """The first value of header ``name`` (lower case)."""
        return next((v for k, v in self.headers if k == name), default)


async def serve(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Callable[[Request], Awaitable[int]],
    *,
    max_body: int,
) -> None:
    """Serve one connection's requests in turn, each answered with ``handle``'s status and no body; a body
    over ``max_body`` bytes is answered 413 and ends the connection. Closes the connection when done."""
    conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
    try:
        while await _serve_one(conn, reader, writer, handle, max_body):
            conn.start_next_cycle()
    except (h11.ProtocolError, ConnectionError) as exc:
        log.debug("HTTP connection ended: %r", exc)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def _serve_one(
    conn: h11.Connection,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    handle: Callable[[Request], Awaitable[int]],
    max_body: int,
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
            if len(body) > max_body:
                await _respond(conn, writer, 413)
                return False
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            headers = tuple((bytes(k), bytes(v)) for k, v in request.headers)
            status = await handle(Request(bytes(request.method), bytes(request.target), headers, bytes(body)))
            await _respond(conn, writer, status)
            return conn.our_state is h11.DONE and conn.their_state is h11.DONE
        else:  # ConnectionClosed, or a message without a request line
            return False


async def _respond(conn: h11.Connection, writer: asyncio.StreamWriter, status: int) -> None:
    writer.write(conn.send(h11.Response(status_code=status, headers=[(b"content-length", b"0")])) or b"")
    writer.write(conn.send(h11.EndOfMessage()) or b"")
    await writer.drain()
