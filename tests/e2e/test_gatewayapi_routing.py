"""The Gateway API tabs of Istio's request-routing, traffic-shifting and request-timeouts tasks through
real Envoy sidecars (GAMMA: HTTPRoutes whose parent is the reviews Service), with the tasks' YAML unchanged.

Stand-ins: a client sidecar plays productpage (it calls reviews as productpage does, with the end-user
header Bookinfo sets after login) and echo backends play reviews v1/v2/v3. The per-version Services are
those of Istio's samples/bookinfo/platform/kube/bookinfo-versions.yaml, which the Gateway API tabs apply.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator

import pytest
import yaml

from mizzen.testing.controlplane import cli_runner, controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: reviews}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: productpage}
spec: {selector: {app: productpage}, ports: [{name: http, port: 9080}]}
"""
# samples/bookinfo/platform/kube/bookinfo-versions.yaml (the reviews part), unchanged.
VERSIONS = """
apiVersion: v1
kind: Service
metadata:
  name: reviews-v1
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v1
---
apiVersion: v1
kind: Service
metadata:
  name: reviews-v2
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v2
---
apiVersion: v1
kind: Service
metadata:
  name: reviews-v3
spec:
  ports:
  - port: 9080
    name: http
  selector:
    app: reviews
    version: v3
"""
# Request routing, "Route to version 1" (Gateway API tab).
ROUTE_V1 = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v1
      port: 9080
"""
# Request routing, "Route based on user identity" (Gateway API tab).
ROUTE_JASON = """
apiVersion: gateway.networking.k8s.io/v1beta1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - matches:
    - headers:
      - name: end-user
        value: jason
    backendRefs:
    - name: reviews-v2
      port: 9080
  - backendRefs:
    - name: reviews-v1
      port: 9080
"""
# samples/bookinfo/gateway-api/route-reviews-50-v3.yaml and route-reviews-v3.yaml (traffic shifting).
ROUTE_50_V3 = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v1
      port: 9080
      weight: 50
    - name: reviews-v3
      port: 9080
      weight: 50
"""
ROUTE_V3 = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v3
      port: 9080
"""
# Request timeouts, step 4 (Gateway API tab).
ROUTE_TIMEOUT = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: reviews
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: reviews
    port: 9080
  rules:
  - backendRefs:
    - name: reviews-v2
      port: 9080
    timeouts:
      request: 500ms
"""
ROUTE_PATH = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes/reviews"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with controlplane(tmp_path_factory.mktemp("gwapi-routing")) as cp, Mesh(cp) as m:
        m.apply(SERVICES)
        m.apply(VERSIONS)
        m.run_all(
            [
                ("productpage-v1", {"app": "productpage", "version": "v1"}),
                ("reviews-v1", {"app": "reviews", "version": "v1"}),
                ("reviews-v2", {"app": "reviews", "version": "v2"}),
                ("reviews-v3", {"app": "reviews", "version": "v3"}),
            ]
        )
        m.wait_synced()
        yield m


@pytest.fixture
def productpage(mesh: Mesh) -> Iterator[Workload]:
    yield next(w for w in mesh.workloads if w.name == "productpage-v1")
    if mesh.http.get(ROUTE_PATH).status_code == 200:
        mesh.delete(ROUTE_PATH)
        mesh.wait_synced()


def apply(mesh: Mesh, text: str) -> None:
    mesh.apply(text)
    mesh.wait_synced()


def versions(client: Workload, n: int, headers: dict[str, str] | None = None) -> collections.Counter[str]:
    """Which reviews version answered each of ``n`` calls productpage would make."""
    with client.client() as c:
        return collections.Counter(
            str(c.get("http://reviews:9080/reviews/0", headers=headers or {}).json()["version"]) for _ in range(n)
        )


def test_request_routing_sends_everyone_to_v1_then_jason_to_v2(mesh: Mesh, productpage: Workload) -> None:
    """Route to version 1, then by user identity: jason sees v2, everyone else v1 (as the task documents)."""
    assert set(versions(productpage, 30)) == {"v1", "v2", "v3"}  # no route yet: round robin over all
    apply(mesh, ROUTE_V1)
    assert versions(productpage, 20) == {"v1": 20}
    apply(mesh, ROUTE_JASON)
    assert versions(productpage, 10, {"end-user": "jason"}) == {"v2": 10}
    assert versions(productpage, 10, {"end-user": "someone"}) == {"v1": 10}
    assert versions(productpage, 10) == {"v1": 10}
    described = cli_runner(mesh.cp.env())("describe", "service", "reviews")
    assert described.exit_code == 0, described.stderr
    assert "VirtualService: default~9080~reviews.default.svc.cluster.local" in described.stdout
    assert "stale" not in described.stdout


def test_httproute_status_shows_the_route_accepted_as_in_the_task(mesh: Mesh, productpage: Workload) -> None:
    """`mizzen get httproute reviews -o yaml` shows Istio's status: Accepted and ResolvedRefs for the Service parent."""
    apply(mesh, ROUTE_V1)
    run = cli_runner(mesh.cp.env())
    result = run("get", "httproute", "reviews", "-o", "yaml")
    assert result.exit_code == 0, result.stderr
    parent = yaml.safe_load(result.stdout)["status"]["parents"][0]
    assert parent["controllerName"] == "istio.io/gateway-controller"
    assert parent["parentRef"] == {"group": "", "kind": "Service", "name": "reviews", "port": 9080}
    conditions = {c["type"]: (c["status"], c["reason"], c["message"]) for c in parent["conditions"]}
    assert conditions == {
        "Accepted": ("True", "Accepted", "Route was valid"),
        "ResolvedRefs": ("True", "ResolvedRefs", "All references resolved"),
    }


def test_traffic_shifting_50_50_then_all_to_v3(mesh: Mesh, productpage: Workload) -> None:
    """route-reviews-50-v3.yaml splits between v1 and v3; route-reviews-v3.yaml sends everything to v3."""
    apply(mesh, ROUTE_50_V3)
    seen = versions(productpage, 200)
    assert set(seen) == {"v1", "v3"}
    assert 60 <= seen["v1"] <= 140, seen  # 50% +- 20 points over 200 calls
    apply(mesh, ROUTE_V3)
    assert versions(productpage, 20) == {"v3": 20}


def test_request_timeout_cuts_a_slow_reviews_call_after_half_a_second(mesh: Mesh, productpage: Workload) -> None:
    """timeouts.request 500ms: a reviews call that takes 2 s (the task's ratings delay) fails with 504 in ~0.5 s."""
    apply(mesh, ROUTE_TIMEOUT)
    with productpage.client() as c:
        start = time.monotonic()
        slow = c.get("http://reviews:9080/reviews/0", headers={"x-echo-delay": "2"})
        elapsed = time.monotonic() - start
        fast = c.get("http://reviews:9080/reviews/0")
    assert slow.status_code == 504
    assert "upstream request timeout" in slow.text
    assert 0.4 <= elapsed < 1.5, elapsed
    assert fast.status_code == 200 and fast.json()["version"] == "v2"
