"""Scrapes every connected proxy's Envoy stats over its agent channel, for Istio's metrics (issue #15).

Every ``interval_s`` the control plane asks each proxy whose agent channel is open (sidecars and gateways
alike) for ``GET /stats/prometheus?usedonly&filter=^istio_`` (:data:`mizzen.meshstats.ADMIN_QUERY`), at most
``concurrency`` at a time, each within ``timeout_s`` and at most ``max_bytes`` long, and gives each reading
to :meth:`mizzen.telemetry.Telemetry.record_reading`. A proxy that does not answer in time, answers an
error, or answers too much is skipped for this round (its last reading stays) and counted in
``mizzen_telemetry_scrapes_total{result="timeout"|"error"}``. Cost grows with proxies x series, never
with requests: parsing runs on the event loop one answer at a time (answers over
:data:`PARSE_INLINE_BYTES` in a worker thread), so no single step holds the loop long, and an answer
identical to the proxy's previous one (an idle proxy) is not parsed again.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl

from mizzen import meshstats
from mizzen.controlplane.agent_channel import Answer, ChannelUnavailable
from mizzen.controlplane.metrics import Registry
from mizzen.meshstats import Reading
from mizzen.node import Proxy
from mizzen.telemetry import Telemetry

log = logging.getLogger(__name__)

STATS_PATH = "stats/prometheus"
QUERY = dict(parse_qsl(meshstats.ADMIN_QUERY, keep_blank_values=True))  # {"usedonly": "", "filter": "^istio_"}
PARSE_INLINE_BYTES = 256 * 1024
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
ENV_PREFIX = "MIZZEN_TELEMETRY_SCRAPE_"

Call = Callable[[str, str, str, Mapping[str, str], float], Awaitable[Answer]]


@dataclass(frozen=True)
class ScrapeSettings:
    """How often and how carefully to scrape (``MIZZEN_TELEMETRY_SCRAPE_*`` environment overrides)."""

    interval_s: float = 2.0  # Istio's Telemetry reportingInterval may set it later
    timeout_s: float = 2.0  # a hung proxy delays a round by at most this (deltas lose nothing)
    concurrency: int = 16
    max_bytes: int = 8 * 1024 * 1024
    grace_s: float = 120.0  # a proxy gone this long loses its last reading

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ScrapeSettings:
        """The defaults, with ``MIZZEN_TELEMETRY_SCRAPE_INTERVAL_SECONDS``, ``..._TIMEOUT_SECONDS``,
        ``..._CONCURRENCY``, ``..._MAX_BYTES`` and ``..._GRACE_SECONDS`` where set."""
        d = cls()
        return cls(
            interval_s=float(env.get(ENV_PREFIX + "INTERVAL_SECONDS", d.interval_s)),
            timeout_s=float(env.get(ENV_PREFIX + "TIMEOUT_SECONDS", d.timeout_s)),
            concurrency=max(1, int(env.get(ENV_PREFIX + "CONCURRENCY", d.concurrency))),
            max_bytes=int(env.get(ENV_PREFIX + "MAX_BYTES", d.max_bytes)),
            grace_s=float(env.get(ENV_PREFIX + "GRACE_SECONDS", d.grace_s)),
        )


def judge(answer: Answer, max_bytes: int) -> str | None:
    """Why an agent's answer is not a usable stats text (``None`` when it is)."""
    status, _content_type, body = answer
    if status != 200:
        return f"status {status}: {body[:200].decode(errors='replace')}"
    if len(body) > max_bytes:
        return f"answer of {len(body)} bytes is over the {max_bytes}-byte limit"
    return None


class Scraper:
    """Scrapes the proxies ``targets()`` lists through ``call`` (:meth:`AgentChannels.call`) into ``telemetry``;
    its own metrics go to ``metrics`` (the control plane's registry)."""

    def __init__(
        self,
        telemetry: Telemetry,
        targets: Callable[[], Sequence[Proxy]],
        call: Call,
        settings: ScrapeSettings = ScrapeSettings(),
        metrics: Registry | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.settings = settings
        self.interval_s = settings.interval_s
        self._targets = targets
        self._call = call
        self._failing: set[str] = set()  # proxies whose last scrape failed (log on the change only)
        self._digests: dict[str, bytes] = {}  # proxy id -> digest of its last answer
        self.unchanged = 0  # answers identical to the proxy's previous one: nothing to parse
        metrics = metrics if metrics is not None else Registry()
        self.scrapes = metrics.counter("mizzen_telemetry_scrapes_total", "Scrapes of proxies' Envoy stats, by result.")
        self.duration = metrics.histogram(
            "mizzen_telemetry_scrape_duration_seconds",
            "Time to scrape one proxy's Envoy stats over its agent channel.",
            DURATION_BUCKETS,
        )
        self.bytes = metrics.counter("mizzen_telemetry_scrape_bytes_total", "Bytes of Envoy stats text scraped.")
        self.cycle = metrics.gauge(
            "mizzen_telemetry_scrape_cycle_seconds", "Duration of the last scrape round over every proxy."
        )
        for result in ("ok", "error", "timeout"):
            self.scrapes.inc(0, result=result)

    async def run(self) -> None:
        """Scrape every ``interval_s`` until cancelled (a slow round delays the next, never overlaps it)."""
        while True:
            started = time.monotonic()
            try:
                await self.scrape_once()
            except Exception:  # a bug must not end scraping for good: log it, try again next round
                log.exception("a scrape round failed")
            await asyncio.sleep(max(0.0, self.interval_s - (time.monotonic() - started)))

    async def scrape_once(self) -> None:
        """One round: every target, ``concurrency`` at a time; then readings of proxies gone start their grace."""
        started = time.monotonic()
        targets = {p.id: p for p in self._targets()}  # one per proxy id, whatever its node ids
        gate = asyncio.Semaphore(self.settings.concurrency)
        results = await asyncio.gather(*(self._one(p, gate) for p in targets.values()), return_exceptions=True)
        for proxy, result in zip(targets.values(), results, strict=True):
            if isinstance(result, Exception):  # a bug, not the proxy's fault: say so, keep scraping the rest
                log.error("scraping %s failed", proxy.id, exc_info=result)
                self.scrapes.inc(result="error")
        self.telemetry.forget_missing(set(targets))
        for proxy_id in [p for p in self._digests if p not in self.telemetry.baselines]:
            del self._digests[proxy_id]
        self.cycle.set(time.monotonic() - started)

    async def _one(self, proxy: Proxy, gate: asyncio.Semaphore) -> None:
        async with gate:
            started = time.monotonic()
            try:
                answer = await self._call(proxy.id, "GET", STATS_PATH, QUERY, self.settings.timeout_s)
            except TimeoutError:
                self._failed(proxy, "timeout", f"no answer within {self.settings.timeout_s}s")
                return
            except ChannelUnavailable as exc:
                self._failed(proxy, "error", str(exc))
                return
            finally:
                self.duration.observe(time.monotonic() - started)
        problem = judge(answer, self.settings.max_bytes)
        if problem is not None:
            self._failed(proxy, "error", problem)
            return
        body = answer[2]
        self.bytes.inc(len(body))
        digest = hashlib.blake2b(body, digest_size=16).digest()
        if self._digests.get(proxy.id) == digest and proxy.id in self.telemetry.baselines:
            self.unchanged += 1  # an idle proxy: the same counters, a zero delta
        else:
            reading = await self._parse(body)
            self.telemetry.record_reading(proxy, reading)
            self._digests[proxy.id] = digest
        self.scrapes.inc(result="ok")
        if proxy.id in self._failing:
            self._failing.discard(proxy.id)
            log.info("scraping %s works again", proxy.id)

    async def _parse(self, body: bytes) -> Reading:
        limit = self.telemetry.max_series
        if len(body) <= PARSE_INLINE_BYTES:
            return meshstats.read(body.decode(errors="replace"), max_series=limit)
        return await asyncio.to_thread(meshstats.read, body.decode(errors="replace"), max_series=limit)

    def _failed(self, proxy: Proxy, result: str, why: str) -> None:
        self.scrapes.inc(result=result)
        if proxy.id not in self._failing:
            self._failing.add(proxy.id)
            log.warning("cannot scrape the Envoy stats of %s (skipped until it answers): %s", proxy.id, why)
