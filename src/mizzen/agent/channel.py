"""The agent's end of the agent channel (:mod:`mizzen.channel`): answers the control plane's admin calls.

The agent keeps one stream open to the control plane (reconnecting with backoff) and answers each
request from its own Envoy's admin socket, for the inspection endpoints only
(:func:`mizzen.security.scope.admin_call_problem`) — whatever the control plane asks, nothing else is
reachable through it. It also carries the Envoy's span batches up (:meth:`AdminChannel.send_spans`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path

import grpc

from mizzen import channel as proto
from mizzen.agent.http11 import AdminClient, Http11Error
from mizzen.agent.upstream import Upstream, credential_metadata, unreachable
from mizzen.security.scope import admin_call_problem

log = logging.getLogger(__name__)

# Short and bounded (issue 18: back within 2 s of a link returning); jittered so agents cut off together do
# not all come back in the same instant.
BACKOFF_MIN_S = 0.1
BACKOFF_MAX_S = 1.0
ADMIN_TIMEOUT_S = 30.0
# Span batches queued on the stream beyond this many (a stalled stream) go over HTTP instead.
MAX_QUEUED_SPAN_BATCHES = 64


class AdminChannel:
    """Keeps the channel open and serves requests on it."""

    def __init__(
        self,
        upstream: Upstream,
        token: Callable[[], str],
        proxy_id: str,
        admin_socket: Path,
        logs: Mapping[str, Path] | None = None,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        """Serve admin requests for this workload's Envoy over the agent channel; ``on_ready`` is called each
        time the control plane says ``ready`` on a new stream (the runner re-checks its registration then)."""
        self._upstream = upstream
        self._logs = dict(logs or {})
        self._token = token
        self.proxy_id = proxy_id
        self._admin = AdminClient(str(admin_socket), timeout_s=ADMIN_TIMEOUT_S)
        self.connected = asyncio.Event()
        self.served = 0
        self._outbox: asyncio.Queue[bytes] | None = None
        self._takes_spans = False  # the control plane said ``ready`` (an older one never does: HTTP then)
        self._call_channel = upstream.channel
        self._on_ready = on_ready

    async def run(self) -> None:
        """Serve until cancelled, reconnecting after any failure."""
        backoff = BACKOFF_MIN_S
        try:
            while True:
                try:
                    await self._serve_once()
                    backoff = BACKOFF_MIN_S  # a clean end (control plane restart): reconnect promptly
                except grpc.aio.AioRpcError as exc:
                    level = logging.WARNING if exc.code() == grpc.StatusCode.PERMISSION_DENIED else logging.DEBUG
                    log.log(level, "agent channel ended: %s %s", exc.code().name, exc.details())
                    if unreachable(exc):
                        backoff = BACKOFF_MIN_S  # another replica may answer at once
                        await self._upstream.failed(self._call_channel)
                finally:
                    self.connected.clear()
                await asyncio.sleep(backoff * random.uniform(0.8, 1.2))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
        finally:
            await self._admin.aclose()

    async def _serve_once(self) -> None:
        outbox: asyncio.Queue[bytes] = asyncio.Queue()
        outbox.put_nowait(proto.hello(self.proxy_id).encode())
        self._outbox = outbox
        self._call_channel = channel = await self._upstream.ready()
        call = channel.stream_stream(proto.METHOD)(
            _drain(outbox), metadata=credential_metadata(self._token()), wait_for_ready=self._upstream.single
        )
        handlers: set[asyncio.Task[None]] = set()
        try:
            async for data in call:
                self.connected.set()
                task = asyncio.create_task(self._answer(data, outbox))
                handlers.add(task)
                task.add_done_callback(handlers.discard)
        finally:
            self._outbox, self._takes_spans = None, False
            call.cancel()
            for task in handlers:
                task.cancel()

    def send_spans(self, content_type: str, body: bytes) -> bool:
        """Queue a Zipkin batch up the open stream; False (send it another way) when the control plane has
        not said ``ready`` on it, the stream is backed up, or the batch is too large for a frame. A batch
        queued on a stream that breaks is lost, as a Zipkin reporter's is when its collector goes away."""
        outbox = self._outbox
        if outbox is None or not self._takes_spans or outbox.qsize() >= MAX_QUEUED_SPAN_BATCHES:
            return False
        if len(body) > proto.MAX_SPANS_BYTES:
            return False
        outbox.put_nowait(proto.spans(content_type, body).encode())
        return True

    async def _answer(self, data: bytes, outbox: asyncio.Queue[bytes]) -> None:
        try:
            frame = proto.decode(data)
        except proto.ChannelError as exc:
            log.warning("ignoring a malformed agent channel frame: %s", exc)
            return
        if frame.type == "ready":
            self._takes_spans = True
            if self._on_ready is not None:
                self._on_ready()
            return
        if frame.type != "request":
            return
        rid = int(frame.header.get("id", 0))
        method, path = str(frame.header.get("method", "GET")), str(frame.header.get("path", "")).strip("/")
        query = frame.header.get("query") or {}
        if path.startswith(proto.LOGS_PREFIX):
            outbox.put_nowait(self._log_answer(rid, path.removeprefix(proto.LOGS_PREFIX), query).encode())
            return
        problem = admin_call_problem(method, path)
        if problem is not None:
            outbox.put_nowait(proto.response(rid, 403, "text/plain", problem.encode()).encode())
            return
        try:
            resp = await self._admin.request(method, f"/{path}", params={str(k): str(v) for k, v in query.items()})
            answer = proto.response(rid, resp.status, resp.content_type, resp.body)
        except Http11Error as exc:
            answer = proto.response(rid, 502, "text/plain", f"Envoy admin unreachable: {exc}".encode())
        self.served += 1
        outbox.put_nowait(answer.encode())

    def _log_answer(self, rid: int, kind: str, query: Mapping[str, object]) -> proto.Frame:
        """This workload's log ``kind`` (its last ``tail`` lines), read from the file the agent writes."""
        path = self._logs.get(kind)
        if path is None:
            return proto.response(rid, 404, "text/plain", f"no {kind} log (one of {', '.join(self._logs)})".encode())
        try:
            with path.open("rb") as fh:
                size = fh.seek(0, 2)
                fh.seek(max(0, size - proto.MAX_LOG_BYTES))
                data = fh.read()
        except FileNotFoundError:
            data = b""
        except OSError as exc:
            return proto.response(rid, 500, "text/plain", f"cannot read {kind} log: {exc.strerror}".encode())
        tail = str(query.get("tail", "-1"))
        if tail.lstrip("-").isdigit() and int(tail) >= 0:
            lines = data.splitlines(keepends=True)
            data = b"".join(lines[len(lines) - int(tail) :]) if int(tail) else b""
        return proto.response(rid, 200, "text/plain", data)


async def _drain(outbox: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
    with contextlib.suppress(asyncio.CancelledError):
        while True:
            yield await outbox.get()
