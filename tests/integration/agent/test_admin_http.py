"""The agent's admin client (mizzen.agent.http11.AdminClient) against a real UNIX-socket server that
writes HTTP/1.1 by hand: keep-alive reuse, chunked and close-delimited bodies, limits and deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from mizzen.agent import http11
from mizzen.agent.http11 import AdminClient, Http11Error

Reply = Callable[[bytes], bytes | None]  # request head -> raw response (None: never answer)


class Server:
    """Answers each request head with ``reply``; counts connections and keeps the heads it read."""

    def __init__(self, path: Path, reply: Reply) -> None:
        self.path, self.reply = path, reply
        self.connections = 0
        self.heads: list[bytes] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                raw = self.reply(head)
                if raw is None:
                    await asyncio.sleep(3600)
                    return
                writer.write(raw)
                await writer.drain()
                if b"connection: close" in raw.lower():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


Serve = Callable[[Reply], Awaitable[Server]]


@pytest_asyncio.fixture
async def serve(tmp_path: Path) -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(reply: Reply) -> Server:
        server = Server(tmp_path / f"admin{len(servers)}.sock", reply)
        servers.append(await asyncio.start_unix_server(server.handle, path=str(server.path)))
        return server

    yield start
    for s in servers:
        s.close()


def ok(body: bytes, extra: bytes = b"") -> bytes:
    head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: %d\r\n" % len(body)
    return head + extra + b"\r\n" + body


async def test_requests_reuse_one_keep_alive_connection_and_encode_the_query(serve: Serve) -> None:
    server = await serve(lambda head: ok(b"istio_requests_total 1\n"))
    client = AdminClient(str(server.path), timeout_s=5)
    for _ in range(3):
        answer = await client.request("GET", "/stats/prometheus", {"usedonly": "", "filter": "^istio_ x"})
        assert (answer.status, answer.body) == (200, b"istio_requests_total 1\n")
        assert answer.content_type == "text/plain; version=0.0.4"
    assert server.connections == 1
    assert server.heads[0].startswith(b"GET /stats/prometheus?usedonly=&filter=%5Eistio_%20x HTTP/1.1\r\n")
    await client.aclose()


async def test_a_post_says_its_empty_body_and_chunked_or_closing_answers_are_read(serve: Serve) -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    closing = b"HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\nbye"
    answers = iter([chunked, closing])
    server = await serve(lambda head: next(answers))
    client = AdminClient(str(server.path), timeout_s=5)
    assert (await client.request("POST", "/logging", {"level": "debug"})).body == b"hello"
    assert b"content-length: 0" in server.heads[0]
    second = await client.request("GET", "/ready")
    assert (second.status, second.body) == (503, b"bye")
    await client.aclose()


async def test_no_answer_in_time_is_an_admin_error(serve: Serve) -> None:
    server = await serve(lambda head: None)
    with pytest.raises(Http11Error, match="TimeoutError"):
        await AdminClient(str(server.path), timeout_s=0.3).request("GET", "/ready")


async def test_an_oversized_answer_is_refused(serve: Serve, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "MAX_RESPONSE_BYTES", 1000)
    server = await serve(lambda head: ok(b"x" * 5000))
    with pytest.raises(Http11Error, match="over 1000 bytes"):
        await AdminClient(str(server.path), timeout_s=5).request("GET", "/config_dump")


async def test_no_envoy_is_an_admin_error(tmp_path: Path) -> None:
    with pytest.raises(Http11Error, match="FileNotFoundError"):
        await AdminClient(str(tmp_path / "gone.sock"), timeout_s=1).request("GET", "/ready")


async def test_a_probe_get_sends_its_headers_on_a_fresh_connection_and_returns_the_status() -> None:
    """As kubelet's httpGet: `Connection: close`, the probe's own headers; the body is read and dropped."""
    heads: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 302 Found\r\nlocation: /elsewhere\r\ncontent-length: 3\r\n\r\nabc")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        for _ in range(2):
            assert await http11.get_status("127.0.0.1", port, "/ready", (("x-probe", "1"),)) == 302
    finally:
        server.close()
    assert len(heads) == 2  # one connection per probe
    head = heads[0].lower()
    assert head.startswith(b"get /ready http/1.1\r\n")
    assert b"connection: close" in head and b"x-probe: 1" in head and f"host: 127.0.0.1:{port}".encode() in head
