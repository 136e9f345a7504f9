"""Istio's "Locality Load Balancing" tasks, their DestinationRules unchanged: helloworld in four
localities (``mizzen run --locality``, as the task's clusters give its pods), the client (sleep) in
region1/zone1. Failover: traffic stays in the client's zone and moves, as each helloworld is taken out
(see :func:`_drain`), to region1/zone2, then region2 (the failover region), then region3. Weighted
distribution: 70/20/10 as written.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: sample, labels: {app: helloworld, service: helloworld}}
spec: {selector: {app: helloworld}, ports: [{name: http, port: 5000}]}
---
apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: sample, labels: {app: sleep, service: sleep}}
spec: {selector: {app: sleep}, ports: [{name: http, port: 80}]}
"""

FAILOVER = """\
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    connectionPool:
      http:
        maxRequestsPerConnection: 1
    loadBalancer:
      simple: ROUND_ROBIN
      localityLbSetting:
        enabled: true
        failover:
          - from: region1
            to: region2
    outlierDetection:
      consecutive5xxErrors: 1
      interval: 1s
      baseEjectionTime: 1m
"""

DISTRIBUTE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: helloworld
spec:
  host: helloworld.sample.svc.cluster.local
  trafficPolicy:
    loadBalancer:
      localityLbSetting:
        enabled: true
        distribute:
        - from: region1/zone1/*
          to:
            "region1/zone1/*": 70
            "region1/zone2/*": 20
            "region3/zone4/*": 10
    outlierDetection:
      consecutive5xxErrors: 100
      interval: 1s
      baseEjectionTime: 1m
"""

LOCALITIES = {
    "hw-r1z1": "region1/zone1",
    "hw-r1z2": "region1/zone2",
    "hw-r2z3": "region2/zone3",
    "hw-r3z4": "region3/zone4",
}


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    with controlplane(tmp_path / "home") as cp, Mesh(cp) as m:
        m.apply(SERVICE)
        started = [
            m.run(name, {"app": "helloworld", "version": loc.replace("/", ".")}, namespace="sample",
                  ports=["http=5000"], extra_args=["--locality", loc], wait=False)
            for name, loc in LOCALITIES.items()
        ]  # fmt: skip
        sleep = m.run("sleep", {"app": "sleep"}, namespace="sample", ports=["http=80"], wait=False,
                      extra_args=["--locality", "region1/zone1"])  # fmt: skip
        m.wait_running(*started, sleep)
        m.wait_synced()
        yield m


def _sleep(mesh: Mesh) -> Workload:
    return next(w for w in mesh.workloads if w.name == "sleep")


def _hello(mesh: Mesh) -> str:
    """`kubectl exec sleep -- curl -sSL helloworld.sample:5000/hello`: which helloworld answered."""
    r = _sleep(mesh).get("http://helloworld.sample:5000/hello")
    return str(r.json()["workload"]) if r.status_code == 200 else str(r.status_code)


def _drain(mesh: Mesh, name: str) -> None:
    """Take one helloworld out, as the task's `drain_listeners` does in Kubernetes: the drained proxy fails
    its readiness probe, so its endpoint leaves EDS (outlier detection alone would not eject one host in
    four: Envoy's default max_ejection_percent is 10). Here the workload stops and deregisters."""
    next(w for w in mesh.workloads if w.name == name).stop()
    mesh.wait_synced()


def test_locality_failover_follows_proximity_then_the_failover_region(mesh: Mesh) -> None:
    """Requests stay in region1/zone1; after each drain they move to region1/zone2, then region2 (the
    `failover` target) before region3, as the task's output shows."""
    mesh.apply(FAILOVER)
    mesh.wait_synced()
    assert {_hello(mesh) for _ in range(6)} == {"hw-r1z1"}
    for drained, expected in (("hw-r1z1", "hw-r1z2"), ("hw-r1z2", "hw-r2z3"), ("hw-r2z3", "hw-r3z4")):
        _drain(mesh, drained)
        seen = [_hello(mesh) for _ in range(6)]
        assert set(seen) == {expected}, (drained, seen)


def test_locality_weighted_distribution_sends_70_20_10(mesh: Mesh) -> None:
    """From region1/zone1: about 70% to region1/zone1, 20% to region1/zone2, 10% to region3/zone4, none
    to region2 (which the rule does not name)."""
    mesh.apply(DISTRIBUTE)
    mesh.wait_synced()
    counts = Counter(_hello(mesh) for _ in range(200))
    assert counts["hw-r2z3"] == 0, counts
    assert 115 <= counts["hw-r1z1"] <= 165 and 22 <= counts["hw-r1z2"] <= 60 and 6 <= counts["hw-r3z4"] <= 36, counts
