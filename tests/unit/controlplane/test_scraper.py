"""The scrape round: what is asked of each agent, and how answers, errors, timeouts and big answers count."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

import pytest

from mizzen import meshstats
from mizzen.controlplane.agent_channel import Answer, ChannelUnavailable
from mizzen.controlplane.metrics import Registry
from mizzen.controlplane.scraper import STATS_PATH, Scraper, ScrapeSettings, judge
from mizzen.node import Proxy
from mizzen.telemetry import Telemetry

TEXT = (
    'envoy_istio_requests_total{reporter="source",source_workload="a",destination_service="b.default.svc.cluster.local",'
    'mz_content_type="",response_code="200",response_flags="-"} 3\n'
)


def _proxy(name: str) -> Proxy:
    return Proxy(id=f"{name}.default", type="sidecar", name=name, namespace="default")


class Agents:
    """In-memory agents: each proxy id answers as told (text, an exception, or never), concurrency noted."""

    def __init__(self, answers: Mapping[str, object]) -> None:
        self.answers = dict(answers)
        self.asked: list[tuple[str, str, str, dict[str, str], float]] = []
        self.running = self.most = 0

    async def call(self, proxy_id: str, method: str, path: str, query: Mapping[str, str], timeout: float) -> Answer:
        self.asked.append((proxy_id, method, path, dict(query), timeout))
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0.01)
            answer = self.answers[proxy_id]
            if answer == "hang":
                await asyncio.sleep(timeout)
                raise TimeoutError
            if isinstance(answer, Exception):
                raise answer
            assert isinstance(answer, tuple)
            return answer
        finally:
            self.running -= 1


def _count(text: str, result: str) -> float:
    m = re.search(rf'^mizzen_telemetry_scrapes_total\{{result="{result}"\}} (\S+)$', text, re.M)
    assert m is not None, text
    return float(m.group(1))


def _scraper(agents: Agents, proxies: list[Proxy], **settings: float) -> tuple[Scraper, Telemetry, Registry]:
    config = ScrapeSettings(**settings)  # type: ignore[arg-type]
    telemetry = Telemetry(counting="scrape", grace_s=config.grace_s)
    registry = Registry()
    return Scraper(telemetry, lambda: proxies, agents.call, config, registry), telemetry, registry


def test_each_proxy_is_asked_for_its_istio_stats_with_the_admin_query() -> None:
    """The agent is asked GET stats/prometheus with usedonly and filter=^istio_, within the timeout."""
    agents = Agents({"a.default": (200, "text/plain", TEXT.encode())})
    scraper, telemetry, registry = _scraper(agents, [_proxy("a")], timeout_s=1.5)
    asyncio.run(scraper.scrape_once())
    istio_filter = meshstats.ADMIN_QUERY.partition("filter=")[2]  # ^istio_ (or ^istio\\. under a stat_prefix)
    assert agents.asked == [("a.default", "GET", STATS_PATH, {"usedonly": "", "filter": istio_filter}, 1.5)]
    assert istio_filter.startswith("^istio")
    assert _count(registry.render(), "ok") == 1
    assert 'istio_requests_total{reporter="source",source_workload="a"' in telemetry.prometheus_text()


def test_a_proxy_that_fails_is_skipped_and_counted_by_result() -> None:
    """Timeouts, error statuses, closed channels and answers over the size limit count; the rest go on."""
    agents = Agents(
        {
            "ok.default": (200, "text/plain", TEXT.encode()),
            "slow.default": "hang",
            "broken.default": (502, "text/plain", b"Envoy admin unreachable"),
            "gone.default": ChannelUnavailable("closed"),
            "big.default": (200, "text/plain", TEXT.encode() * 10),
            "empty.default": (200, "text/plain", b""),  # an Envoy without istio_ stats
        }
    )
    names = ["ok", "slow", "broken", "gone", "big", "empty"]
    scraper, telemetry, registry = _scraper(agents, [_proxy(n) for n in names], timeout_s=0.05, max_bytes=len(TEXT) * 2)
    asyncio.run(scraper.scrape_once())
    text = registry.render()
    assert (_count(text, "ok"), _count(text, "timeout"), _count(text, "error")) == (2, 1, 3)
    assert "mizzen_telemetry_scrape_duration_seconds_count 6" in text
    assert set(telemetry.baselines._kept) == {"ok.default", "empty.default"}  # failures keep no reading


def test_concurrency_is_bounded_and_a_proxy_is_scraped_once_per_round() -> None:
    """At most ``concurrency`` calls are in flight; two node ids of one proxy id are asked once."""
    proxies = [_proxy(f"w{i}") for i in range(10)]
    agents = Agents({p.id: (200, "text/plain", b"") for p in proxies})
    scraper, _, _ = _scraper(agents, [*proxies, proxies[0]], concurrency=3)
    asyncio.run(scraper.scrape_once())
    assert agents.most == 3 and len(agents.asked) == 10


def test_judge_checks_status_and_size() -> None:
    """A usable answer is a 200 within the limit."""
    assert judge((200, "text/plain", b"x" * 10), 10) is None
    assert "over the 9-byte limit" in str(judge((200, "text/plain", b"x" * 10), 9))
    assert "status 403" in str(judge((403, "text/plain", b"not exposed"), 10))


def test_settings_from_the_environment() -> None:
    """Each knob can be set by a MIZZEN_TELEMETRY_SCRAPE_* variable; the default interval is 2 s."""
    assert ScrapeSettings.from_env({}).interval_s == 2.0
    env = {"MIZZEN_TELEMETRY_SCRAPE_INTERVAL_SECONDS": "0.5", "MIZZEN_TELEMETRY_SCRAPE_MAX_BYTES": "100"}
    s = ScrapeSettings.from_env(env)
    assert (s.interval_s, s.max_bytes) == (0.5, 100)


@pytest.mark.parametrize("proxies", [0, 1])
def test_proxies_not_scraped_any_more_start_their_grace(proxies: int) -> None:
    """A proxy missing from a round's targets is swept (its reading dropped after the grace period)."""
    agents = Agents({"a.default": (200, "text/plain", TEXT.encode())})
    targets = [_proxy("a")]
    scraper, telemetry, _ = _scraper(agents, targets, grace_s=0.0)
    asyncio.run(scraper.scrape_once())
    del targets[proxies:]
    asyncio.run(scraper.scrape_once())
    asyncio.run(scraper.scrape_once())
    assert ("a.default" in telemetry.baselines) == (proxies == 1)


def test_an_unchanged_answer_is_not_parsed_again() -> None:
    """An idle proxy answers the same text each round: it is counted ok without a new reading."""
    agents = Agents({"a.default": (200, "text/plain", TEXT.encode())})
    scraper, telemetry, registry = _scraper(agents, [_proxy("a")])
    for _ in range(3):
        asyncio.run(scraper.scrape_once())
    assert scraper.unchanged == 2 and _count(registry.render(), "ok") == 3
    agents.answers["a.default"] = (200, "text/plain", TEXT.replace("} 3", "} 5").encode())
    asyncio.run(scraper.scrape_once())
    assert scraper.unchanged == 2
    assert 'istio_requests_total{reporter="source",source_workload="a"' in telemetry.prometheus_text()
    assert re.search(r"^istio_requests_total\{.*\} 5$", telemetry.prometheus_text(), re.M)


def test_an_unexpected_failure_of_one_proxy_does_not_end_the_round() -> None:
    """Whatever goes wrong with one proxy is logged and counted as an error; the others are still read."""
    agents = Agents({"bad.default": RuntimeError("boom"), "ok.default": (200, "text/plain", TEXT.encode())})
    scraper, telemetry, registry = _scraper(agents, [_proxy("bad"), _proxy("ok")])
    asyncio.run(scraper.scrape_once())
    text = registry.render()
    assert (_count(text, "ok"), _count(text, "error")) == (1, 1)
    assert "ok.default" in telemetry.baselines
