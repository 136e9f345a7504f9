"""Istio routing through real Envoy sidecars started by `mizzen run` (issue "The mesh runs").

One control plane and five workloads (a client and echo v1/v2/v3, plus a flaky/slow backend) are shared by
the module; each test applies the VirtualService it needs, waits until every proxy ACKed it, and sends
requests through the client's sidecar exactly as an app with HTTP_PROXY would.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: flaky}
spec: {selector: {app: flaky}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
"""


def _vs(http: str, host: str = "echo") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {host}}}
spec:
  hosts: [{host}]
  http:
{http}
"""


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    home: Path = tmp_path_factory.mktemp("mesh")
    with controlplane(home) as cp, Mesh(cp) as m:
        m.apply(SERVICES)
        m.run("client", {"app": "client", "version": "v1"})
        for v in ("v1", "v2", "v3"):
            m.run(f"echo-{v}", {"app": "echo", "version": v})
        m.run("flaky", {"app": "flaky", "version": "v1"})
        m.wait_synced()
        yield m


@pytest.fixture
def client(mesh: Mesh) -> Iterator[Workload]:
    yield next(w for w in mesh.workloads if w.name == "client")
    for name in ("echo", "flaky"):
        path = f"/apis/networking.istio.io/v1/namespaces/default/virtualservices/{name}"
        if mesh.http.get(path).status_code == 200:
            mesh.delete(path)
    mesh.wait_synced(allow_errors=True)


def _versions(client: Workload, n: int, headers: dict[str, str] | None = None) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    with client.client() as c:
        for _ in range(n):
            r = c.get("http://echo:9080/", headers=headers or {})
            counts[r.json()["version"] if r.status_code == 200 else str(r.status_code)] += 1
    return counts


def test_default_routing_spreads_over_all_versions(mesh: Mesh, client: Workload) -> None:
    """Without a VirtualService, requests reach v1, v2 and v3 (Istio's default route to the service)."""
    counts = _versions(client, 60)
    assert set(counts) == {"v1", "v2", "v3"}, counts


def test_subset_routing_sends_everything_to_one_version(mesh: Mesh, client: Workload) -> None:
    """A VirtualService routing to subset v2 sends every request to v2."""
    mesh.apply(_vs("  - route: [{destination: {host: echo, subset: v2}}]"))
    mesh.wait_synced()
    assert _versions(client, 30) == {"v2": 30}


def test_header_match_sends_only_that_user_to_v2(mesh: Mesh, client: Workload) -> None:
    """end-user: jason goes to v2; everyone else to v1 (virtual-service-reviews-test-v2 semantics)."""
    mesh.apply(
        _vs("""  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route: [{destination: {host: echo, subset: v1}}]""")
    )
    mesh.wait_synced()
    assert _versions(client, 20, {"end-user": "jason"}) == {"v2": 20}
    assert _versions(client, 20, {"end-user": "mary"}) == {"v1": 20}
    assert _versions(client, 20) == {"v1": 20}


def test_weights_80_20_hold_statistically(mesh: Mesh, client: Workload) -> None:
    """An 80/20 split over 500 requests stays within binomial bounds (±4.5 sigma)."""
    mesh.apply(
        _vs("""  - route:
    - {destination: {host: echo, subset: v1}, weight: 80}
    - {destination: {host: echo, subset: v3}, weight: 20}""")
    )
    mesh.wait_synced()
    n = 500
    counts = _versions(client, n)
    sigma = (n * 0.2 * 0.8) ** 0.5
    assert set(counts) <= {"v1", "v3"}, counts
    assert abs(counts["v3"] - n * 0.2) < 4.5 * sigma, counts


def test_fixed_delay_delays_requests(mesh: Mesh, client: Workload) -> None:
    """A 2 s fixed delay for 100% of requests delays each request by about 2 s."""
    mesh.apply(
        _vs("""  - fault: {delay: {fixedDelay: 2s, percentage: {value: 100}}}
    route: [{destination: {host: echo, subset: v1}}]""")
    )
    mesh.wait_synced()
    started = time.monotonic()
    r = client.get("http://echo:9080/")
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert 1.9 <= elapsed < 4.0, elapsed


def test_abort_half_the_requests(mesh: Mesh, client: Workload) -> None:
    """An abort of 503 at 50% fails about half of 200 requests, and the rest succeed."""
    mesh.apply(
        _vs("""  - fault: {abort: {httpStatus: 503, percentage: {value: 50}}}
    route: [{destination: {host: echo, subset: v1}}]""")
    )
    mesh.wait_synced()
    n = 200
    counts = _versions(client, n)
    assert set(counts) <= {"v1", "503"}, counts
    assert abs(counts["503"] - n / 2) < 4.5 * (n * 0.25) ** 0.5, counts


def test_route_timeout_returns_504_quickly(mesh: Mesh, client: Workload) -> None:
    """A 0.5 s route timeout against a 2 s backend answers 504 in well under 2 s."""
    mesh.apply(
        _vs("""  - timeout: 0.5s
    route: [{destination: {host: echo, subset: v1}}]""")
    )
    mesh.wait_synced()
    started = time.monotonic()
    r = client.get("http://echo:9080/?delay=2")
    elapsed = time.monotonic() - started
    assert r.status_code == 504
    assert elapsed < 1.5, elapsed


def test_retries_on_5xx_reach_a_recovering_backend(mesh: Mesh, client: Workload) -> None:
    """retries.attempts 3 on 5xx: a backend failing twice then succeeding gives 200 after 3 tries."""
    mesh.apply(
        _vs(
            """  - retries: {attempts: 3, retryOn: 5xx}
    route: [{destination: {host: flaky}}]""",
            host="flaky",
        )
    )
    mesh.wait_synced()
    r = client.get("http://flaky:9080/retry-case?fail_first=2")
    assert r.status_code == 200
    seen = client.get("http://flaky:9080/__count").json()["counts"]
    assert seen["/retry-case"] == 3, seen


def test_without_retry_policy_an_app_503_is_not_retried(mesh: Mesh, client: Workload) -> None:
    """Istio's default retry policy (1.24+) does not retry an application's 503."""
    r = client.get("http://flaky:9080/no-retry-case?fail_first=1")
    assert r.status_code == 503
    assert client.get("http://flaky:9080/__count").json()["counts"]["/no-retry-case"] == 1


def test_unknown_subset_gives_503_not_a_crash(mesh: Mesh, client: Workload) -> None:
    """A route to a subset no DestinationRule defines answers 503, as in Istio."""
    mesh.apply(_vs("  - route: [{destination: {host: echo, subset: v9}}]"))
    mesh.wait_synced()
    assert client.get("http://echo:9080/").status_code == 503


def test_rejected_config_is_reported_and_not_resent_while_others_keep_working(mesh: Mesh, client: Workload) -> None:
    """Envoy NACKs an oversized path regex on the client only; proxy-status shows ERROR, others stay SYNCED."""
    # Valid RE2 (Istio accepts it), but its program size (~34000) is over the limit the bootstrap sets
    # (32768, as Istio's does), so Envoy rejects the route configuration.
    huge = "/" + "[a-z]{1000}" * 34
    mesh.apply(
        _vs(f"""  - match: [{{sourceLabels: {{app: client}}, uri: {{regex: "{huge}"}}}}]
    route: [{{destination: {{host: echo, subset: v2}}}}]
  - route: [{{destination: {{host: echo, subset: v1}}}}]""")
    )
    mesh.wait_synced(allow_errors=True)
    proxies = {p["id"]: p for p in mesh.proxies()["items"]}
    rds = proxies["client.default"]["xds"]["RDS"]
    assert rds["status"] == "ERROR"
    assert "program size" in rds["lastError"]
    assert proxies["echo-v1.default"]["xds"]["RDS"]["status"] == "SYNCED"
    sent = rds["nonceSent"]
    # An endpoint-only change pushes new EDS to every proxy; once all have ACKed it the control plane has
    # pushed past the NACK, and it did not resend the rejected routes (no resend loop).
    extra = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/flaky-extra"
    mesh.apply("""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: flaky-extra}
spec: {address: 127.0.0.1, labels: {app: flaky, version: v9}, ports: {http: 9}}
""")
    try:
        mesh.wait_synced(allow_errors=True)
        assert mesh.proxy("client.default")["xds"]["RDS"]["nonceSent"] == sent
    finally:
        mesh.delete(extra)
    mesh.wait_synced(allow_errors=True)
    # The client keeps its last good config (default route: all versions), the echo proxies work.
    assert _versions(client, 30).keys() <= {"v1", "v2", "v3"}
    echo = next(w for w in mesh.workloads if w.name == "echo-v1")
    assert echo.get("http://echo:9080/").status_code == 200
