"""Cost of the checked seam: how much of a push the snapshot consistency check takes.

    .venv/bin/python bench/snapshot_check.py [--repeats 20]

Runs the control plane's real push path in-process (MeshController -> translate -> encode -> checked
SnapshotCache.set) with simulated proxies (no streams: the cost measured is the control plane's), for
Bookinfo (Mizzen's copy of Istio's Bookinfo files: 6 sidecars and the ingress gateway) and for the mesh
of bench/apply_latency.py (20 services with two subsets and two WorkloadEntries each) at 50 and 1000
sidecars. Each push follows a VirtualService change, as in apply_latency. Printed per push: the whole push
time and the time spent in Snapshot.check, with the per-content memo warm (the normal case) and cold.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from apply_latency import mesh_yaml, vs_yaml  # bench/ is on sys.path: scripts run from it

from mizzen.config import load_text
from mizzen.controlplane.mesh import MeshController
from mizzen.node import InboundPort, Proxy, node_metadata
from mizzen.samples.bookinfo import paths
from mizzen.xds import NodeInfo, SnapshotCache
from mizzen.xds import snapshot as snapshot_module

BOOKINFO_WORKLOADS = [
    ("productpage-v1", {"app": "productpage", "version": "v1"}),
    ("details-v1", {"app": "details", "version": "v1"}),
    ("reviews-v1", {"app": "reviews", "version": "v1"}),
    ("reviews-v2", {"app": "reviews", "version": "v2"}),
    ("reviews-v3", {"app": "reviews", "version": "v3"}),
    ("ratings-v1", {"app": "ratings", "version": "v1"}),
]


class CheckTimer:
    """Wraps Snapshot.check to add up the time spent in it."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._check = snapshot_module.Snapshot.check
        timer = self

        def timed(snap: snapshot_module.Snapshot) -> None:
            started = time.perf_counter()
            try:
                timer._check(snap)
            finally:
                timer.seconds += time.perf_counter() - started

        snapshot_module.Snapshot.check = timed  # type: ignore[method-assign]


def sidecar(name: str, labels: dict[str, str], port: int) -> NodeInfo:
    p = Proxy(
        id=f"{name}.default",
        type="sidecar",
        name=name,
        namespace="default",
        labels=labels,
        http_proxy_port=15001,
        inbound=(InboundPort(9080, "http", "HTTP", port, port + 1),),
    )
    return NodeInfo(p.node_id, metadata=node_metadata(p, admin="unix:/run/admin.sock", version="bench"))


def gateway() -> NodeInfo:
    p = Proxy(
        id="istio-ingressgateway.istio-system",
        type="router",
        name="istio-ingressgateway",
        namespace="istio-system",
        labels={"istio": "ingressgateway"},
    )
    return NodeInfo(p.node_id, metadata=node_metadata(p, admin="unix:/run/admin.sock", version="bench"))


def bookinfo() -> tuple[str, list[NodeInfo]]:
    names = ("destination-rule-all", "virtual-service-all-v1", "bookinfo-gateway")
    text = "\n---\n".join([paths.platform_file().read_text(), *(paths.networking_file(n).read_text() for n in names)])
    nodes = [sidecar(n, labels, 20000 + 2 * i) for i, (n, labels) in enumerate(BOOKINFO_WORKLOADS)]
    return text, [*nodes, gateway()]


def bench_mesh(proxies: int) -> tuple[str, list[NodeInfo]]:
    nodes = [sidecar(f"bench-{i}", {"app": f"bench-{i}", "version": "v1"}, 30000 + 2 * i) for i in range(proxies)]
    return mesh_yaml(20), nodes


async def measure(text: str, nodes: list[NodeInfo], repeats: int, cold: bool) -> tuple[float, float]:
    """Median push and check time (seconds) over ``repeats`` pushes that each follow a VS change."""
    mc = MeshController(SnapshotCache())
    for rev, resource in enumerate(load_text(text).resources, start=1):
        mc.on_store_event("ADDED", resource, rev)
    await mc.pusher.drain()
    for node in nodes:
        await mc.on_connect(node)
    timer = CheckTimer()
    pushes, checks = [], []
    for i in range(repeats):
        (vs,) = load_text(vs_yaml(10 + i % 80)).resources
        mc.on_store_event("MODIFIED", vs, 10_000 + i)
        if cold:
            for memo in ("_routes_of", "_endpoints_of", "_listener_refs", "_cluster_refs"):
                getattr(snapshot_module, memo)._memo.clear()
        timer.seconds = 0.0
        started = time.perf_counter()
        await mc.pusher.drain()
        pushes.append(time.perf_counter() - started)
        checks.append(timer.seconds)
    snapshot_module.Snapshot.check = timer._check  # type: ignore[method-assign]
    return statistics.median(pushes), statistics.median(checks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    cases = [("bookinfo", *bookinfo()), ("bench 50 proxies", *bench_mesh(50))]
    cases.append(("bench 1000 proxies", *bench_mesh(1000)))
    print(f"{'mesh':<20} {'memo':<5} {'push ms':>9} {'check ms':>9} {'check %':>8} {'check µs/proxy':>15}")
    for name, text, nodes in cases:
        for cold in (False, True):
            repeats = args.repeats if len(nodes) < 1000 else max(3, args.repeats // 5)
            push, check = asyncio.run(measure(text, nodes, repeats, cold))
            print(
                f"{name:<20} {'cold' if cold else 'warm':<5} {push * 1e3:9.2f} {check * 1e3:9.2f} "
                f"{100 * check / push:7.1f}% {check * 1e6 / len(nodes):15.1f}"
            )


if __name__ == "__main__":
    main()
