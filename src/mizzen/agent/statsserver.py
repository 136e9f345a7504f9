"""The workload's merged Prometheus endpoint: ``GET /stats/prometheus`` on ``--stats-port`` (Istio's :15020).

``/metrics`` answers the same, as on Istio's status port. One answer holds the agent's own scrape counters,
Envoy's stats (read over the admin UNIX socket, with the stats access logger's raw series turned into
Istio's, :func:`mizzen.agent.scrape.envoy_part`) and, when the app is annotated for it, the app's metrics.
Envoy and the app are read side by side, each with a timeout (the scraper's own, a little inside it, else
:data:`SCRAPE_TIMEOUT_S`) and a size cap; a part that fails is left out and counted in
``istio_agent_scrape_failures_total``, so a dead or slow app never costs Prometheus Envoy's part. Each kind
of failure is logged once when it starts and once when it ends, not per scrape. Content type: Prometheus'
text format.

Why a small asyncio server and not aiohttp: the agent imports no aiohttp (serving with it adds ~8 MB of
private memory to every workload, see CHANGELOG), and the endpoint needs one path, one method and no
keep-alive. The request head is bounded (:data:`MAX_HEAD_BYTES`, :data:`HEAD_TIMEOUT_S`); every answer
closes the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

import httpx

from mizzen.agent.cpclient import plain_http_context
from mizzen.agent.errors import AgentError
from mizzen.agent.scrape import (
    CONTENT_TYPE,
    SERVED_PATHS,
    AppTarget,
    ScrapeCounters,
    envoy_part,
    parse_head,
    read_timeout,
)
from mizzen.limits import MAX_APP_METRICS_BYTES, MAX_ENVOY_STATS_BYTES

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 8 * 1024  # request line and headers; a Prometheus scrape sends well under 1 KB
HEAD_TIMEOUT_S = 5.0
SCRAPE_TIMEOUT_S = 5.0  # each upstream read; Prometheus' default scrape timeout is 10 s
MAX_CONNECTIONS = 16  # scrapes in flight at once; more are answered 503 at once
_PASSED = ("user-agent", "x-prometheus-scrape-timeout-seconds")  # scrape headers passed on to Envoy and the app


class StatsServer:
    """Serves the merged endpoint on ``host:port`` until :meth:`stop`."""

    def __init__(
        self,
        host: str,
        port: int,
        admin_socket: Path,
        app: AppTarget | None,
        *,
        timeout_s: float = SCRAPE_TIMEOUT_S,
        label: str = "",
    ) -> None:
        """``app``: the app's metrics target (None: not annotated for scraping); ``label`` names the workload
        in log lines."""
        self.host, self.port, self.app, self.timeout_s, self.label = host, port, app, timeout_s, label
        self.counters = ScrapeCounters()
        plain = plain_http_context()  # both clients speak plain HTTP only
        self._admin = httpx.AsyncClient(
            transport=httpx.AsyncHTTPTransport(uds=str(admin_socket), verify=plain),
            base_url="http://envoy-admin",
            trust_env=False,
            timeout=timeout_s,
        )
        self._http = httpx.AsyncClient(trust_env=False, timeout=timeout_s, verify=plain)
        self._server: asyncio.Server | None = None
        self._failing: set[str] = set()
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)

    async def start(self) -> None:
        """Bind and serve; :class:`AgentError` when the port cannot be bound."""
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=MAX_HEAD_BYTES)
        except OSError as exc:
            await self.stop()
            raise AgentError(
                f"--stats-port: cannot listen on {self.host}:{self.port} ({exc.strerror or exc}); pick another "
                "port or 0 for none"
            ) from exc

    async def stop(self) -> None:
        """Stop listening and close the upstream clients."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        await self._admin.aclose()
        await self._http.aclose()

    async def render(self, headers: Mapping[str, str] | None = None) -> str:
        """One merged scrape: agent counters, Envoy's part, then the app's (each part that failed left out).

        ``headers``: the scrape request's; its ``X-Prometheus-Scrape-Timeout-Seconds`` bounds both reads (a
        little inside it, :func:`~mizzen.agent.scrape.read_timeout`), and it and ``User-Agent`` are passed on,
        as Istio's agent passes them."""
        headers = headers or {}
        timeout = read_timeout(headers.get("x-prometheus-scrape-timeout-seconds"), self.timeout_s)
        passed = {k: v for k, v in headers.items() if k in _PASSED}
        self.counters.scrapes += 1
        envoy, app = await asyncio.gather(self._envoy(timeout, passed), self._app(timeout, passed))
        return self.counters.render() + envoy + app

    async def _envoy(self, timeout: float, headers: Mapping[str, str]) -> str:
        text = await self._read("envoy", self._admin, "/stats/prometheus", MAX_ENVOY_STATS_BYTES, timeout, headers)
        if text is None:
            self.counters.envoy_failures += 1
            return ""
        return envoy_part(text)

    async def _app(self, timeout: float, headers: Mapping[str, str]) -> str:
        if self.app is None:
            return ""
        text = await self._read("application", self._http, self.app.url, MAX_APP_METRICS_BYTES, timeout, headers)
        if text is None:
            self.counters.app_failures += 1
            return ""
        return text if not text or text.endswith("\n") else text + "\n"

    async def _read(
        self, kind: str, client: httpx.AsyncClient, url: str, cap: int, timeout: float, headers: Mapping[str, str]
    ) -> str | None:
        """GET ``url``: its text, or None (logged when this kind starts failing) on error, non-200, timeout
        or an answer over ``cap`` bytes."""
        try:
            body = await asyncio.wait_for(_get_capped(client, url, cap, headers), timeout)
        except (httpx.HTTPError, OSError, TimeoutError, _TooLargeError, _StatusError) as exc:
            if kind not in self._failing:
                self._failing.add(kind)
                log.warning("%s: cannot scrape %s metrics from %s: %s", self.label, kind, _shown(url), _why(exc))
            return None
        if kind in self._failing:
            self._failing.discard(kind)
            log.info("%s: scraping %s metrics works again", self.label, kind)
        return body.decode("utf-8", errors="replace")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self._slots.locked():
                await _answer(writer, 503, "too many scrapes in flight\n")
                return
            async with self._slots:
                status, body = await self._handle(reader)
                await _answer(writer, status, body)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
            pass  # the scraper went away or sent garbage: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader) -> tuple[int, str]:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        method, path, headers = parse_head(head)
        if path not in SERVED_PATHS:
            return 404, f"only {' and '.join(SERVED_PATHS)} are served here\n"
        if method != "GET":
            return 405, "only GET\n"
        return 200, await self.render(headers)


class _TooLargeError(Exception):
    pass


class _StatusError(Exception):
    pass


async def _get_capped(client: httpx.AsyncClient, url: str, cap: int, headers: Mapping[str, str]) -> bytes:
    # Text format only (the parts are concatenated; an OpenMetrics part would end the exposition early).
    async with client.stream("GET", url, headers={**headers, "accept": "text/plain"}) as resp:
        if resp.status_code != 200:
            raise _StatusError(f"HTTP {resp.status_code}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise _TooLargeError(f"answer larger than {cap} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


async def _answer(writer: asyncio.StreamWriter, status: int, body: str) -> None:
    data = body.encode()
    reason = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}[status]
    content_type = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: {len(data)}\r\n"
        "connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + data)
    await writer.drain()


def _shown(url: str) -> str:
    """``url`` for a log line: without its query, which an annotated path could use to carry a secret."""
    return "Envoy's admin socket" if url.startswith("/") else url.split("?", 1)[0]


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
