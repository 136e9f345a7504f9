"""The control plane scrapes every proxy's Envoy stats over its agent channel (real agents, real Envoys).

A control plane scraping every 0.3 s, one ``mizzen run`` sidecar and one ``mizzen gateway``. The metric
values themselves are the telemetry e2e tests' business (they need the stats access logger in Envoy);
this pins the mechanics: both kinds of proxy are asked, the admin query reaches Envoy (the answers are
the filtered stats, not all of Envoy's), and a proxy whose Envoy stops answering is skipped and counted
as a timeout while the others go on.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator

import pytest

from mizzen.controlplane.scraper import QUERY
from mizzen.testing.controlplane import RunningControlPlane, start_controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

INTERVAL_S = 0.3
TIMEOUT_S = 1.0


@pytest.fixture(scope="module")
def mesh() -> Iterator[tuple[Mesh, Workload, Workload]]:
    env = {
        "MIZZEN_TELEMETRY_SCRAPE_INTERVAL_SECONDS": str(INTERVAL_S),
        "MIZZEN_TELEMETRY_SCRAPE_TIMEOUT_SECONDS": str(TIMEOUT_S),
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        cp = start_controlplane()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        with Mesh(cp) as m:
            workload = m.run("echo-v1", {"app": "echo", "version": "v1"})
            gateway = m.run_gateway()
            yield m, workload, gateway
    finally:
        cp.stop()


def _metrics(cp: RunningControlPlane) -> str:
    with cp.client() as c:
        resp = c.get("/metrics")
    resp.raise_for_status()
    return resp.text


def _value(text: str, sample: str) -> float:
    m = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def _scrapes(cp: RunningControlPlane) -> dict[str, float]:
    text = _metrics(cp)
    results = ("ok", "error", "timeout")
    counts = {r: _value(text, f'mizzen_telemetry_scrapes_total{{result="{r}"}}') for r in results}
    counts["bytes"] = _value(text, "mizzen_telemetry_scrape_bytes_total")
    return counts


def _wait(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_every_proxy_is_scraped_with_the_istio_filter(mesh: tuple[Mesh, Workload, Workload]) -> None:
    """Sidecar and gateway answer every round; the answers are Envoy's filtered istio_ stats only (far
    smaller than its whole /stats/prometheus), so the query string reached Envoy."""
    m, workload, _gateway = mesh
    first = _scrapes(m.cp)
    time.sleep(10 * INTERVAL_S)
    later = _scrapes(m.cp)
    rounds = (later["ok"] - first["ok"]) / 2
    assert rounds >= 5, (first, later)
    assert later["error"] == first["error"] and later["timeout"] == first["timeout"]
    whole = len(workload.admin_get("/stats/prometheus").content)
    filtered = len(workload.admin_get("/stats/prometheus", QUERY).content)
    per_scrape = (later["bytes"] - first["bytes"]) / (later["ok"] - first["ok"])
    assert whole > 10_000 and per_scrape <= max(filtered * 2, 1000) < whole / 10, (whole, filtered, per_scrape)


def test_a_proxy_that_stops_answering_is_skipped_and_counted_as_a_timeout(
    mesh: tuple[Mesh, Workload, Workload],
) -> None:
    """The gateway's Envoy stopped (SIGSTOP): its scrapes time out and are counted, the sidecar's still
    succeed every round; once it runs again its scrapes succeed again."""
    m, _workload, gateway = mesh
    envoy_pid = int(gateway.state()["envoyPid"])
    before = _scrapes(m.cp)
    os.kill(envoy_pid, signal.SIGSTOP)
    try:
        _wait(lambda: _scrapes(m.cp)["timeout"] >= before["timeout"] + 2, 20, "no scrape timed out")
        during = _scrapes(m.cp)
        assert during["ok"] >= before["ok"] + 2  # the sidecar kept being scraped meanwhile
    finally:
        os.kill(envoy_pid, signal.SIGCONT)
    time.sleep(TIMEOUT_S + INTERVAL_S)  # let the rounds with a call in flight finish
    settled = _scrapes(m.cp)
    time.sleep(6 * INTERVAL_S)
    after = _scrapes(m.cp)
    assert after["timeout"] == settled["timeout"], (settled, after)
    assert after["ok"] - settled["ok"] >= 6  # both proxies again, a few rounds
