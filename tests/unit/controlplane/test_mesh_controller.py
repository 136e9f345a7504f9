"""The mesh controller on a fake clock: convergence, the checked publish, proxy records and the reaper."""

from __future__ import annotations

import asyncio
import logging

import pytest

from mizzen.config import load_text
from mizzen.config.resource import Resource
from mizzen.controlplane.mesh import MeshController
from mizzen.controlplane.outputs import PushOutputs
from mizzen.controlplane.proxies import proxy_json
from mizzen.node import Proxy, node_metadata
from mizzen.testing.clock import FakeClock
from mizzen.xds import NodeInfo, Snapshot, SnapshotCache
from mizzen.xds import types as xt
from mizzen.xds.testing import listener

ORPHAN_WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: lonely}
spec: {address: 127.0.0.1, labels: {app: nobody-selects-me}}
"""
SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""
AGENT_WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: w1
  annotations: {mizzen.io/registered-by: agent}
spec: {address: 127.0.0.1, labels: {app: echo}}
"""


def one(text: str) -> Resource:
    (resource,) = load_text(text).resources
    return resource


def node(name: str = "w1") -> NodeInfo:
    proxy = Proxy(id=f"{name}.default", type="sidecar", name=name, namespace="default")
    return NodeInfo(proxy.node_id, metadata=node_metadata(proxy, admin="unix:/run/admin.sock", version="test"))


class Deleted(list[tuple[str, str]]):
    """Records the reaper's deletions."""

    def __call__(self, namespace: str, name: str) -> None:
        self.append((namespace, name))


def controller(clock: FakeClock, deleted: Deleted | None = None, **grace: float) -> MeshController:
    return MeshController(SnapshotCache(clock), delete_workload=deleted, clock=clock, **grace)


async def test_a_change_no_proxy_needs_still_converges() -> None:
    """A WorkloadEntry no service selects needs no push, yet the revision counts as pushed."""
    mc = controller(FakeClock())
    mc.on_store_event("ADDED", one(ORPHAN_WE), 7)
    assert mc.converged and mc.pushed_revision == 7


async def test_a_real_change_converges_once_pushed() -> None:
    """A config change is not converged until its push has run."""
    mc = controller(FakeClock())
    mc.on_store_event("ADDED", one(SERVICE), 3)
    assert not mc.converged
    await mc.pusher.drain()
    assert mc.converged and mc.pushed_revision == 3 and mc.push_count == 1


async def test_the_running_loop_pushes_a_change_to_a_connected_proxy() -> None:
    """With the loop started, a store change reaches a connected proxy's snapshot without any sleeping."""
    clock = FakeClock()
    mc = controller(clock)
    pushed = asyncio.Event()
    mc.pusher.on_push = lambda reason, seconds: pushed.set()
    await mc.on_connect(node())
    before = mc.cache.get(node().node_id)
    mc.start()
    try:
        mc.on_store_event("ADDED", one(SERVICE), 1)
        await asyncio.wait_for(pushed.wait(), timeout=10)
    finally:
        await mc.stop()
    after = mc.cache.get(node().node_id)
    assert before is not None and after is not None
    assert after.version(xt.CLUSTER) != before.version(xt.CLUSTER)
    assert mc.converged and mc.last_push_seconds == 0.0  # measured on the fake clock, which did not move


async def test_an_inconsistent_snapshot_is_never_sent(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A snapshot whose listener names a missing route is not published: the proxy keeps its last good
    snapshot, the error names the proxy and every problem, and the proxies API shows it."""
    mc = controller(FakeClock())
    await mc.on_connect(node())
    good = mc.cache.get(node().node_id)
    broken = Snapshot.from_dicts(
        {xt.LISTENER: {"l1": listener("l1", 15001, "missing-a"), "l2": listener("l2", 2, "b")}}
    )
    monkeypatch.setattr(PushOutputs, "full", lambda self, proxy: (None, None, broken))
    mc.on_store_event("ADDED", one(SERVICE), 1)
    with caplog.at_level(logging.ERROR, logger="mizzen.push"):
        await mc.pusher.drain()
    assert mc.cache.get(node().node_id) is good
    rec = mc.proxies[node().node_id]
    assert "missing route configuration 'missing-a'" in rec.last_error and "'b'" in rec.last_error
    assert mc.push_errors == 1 and mc.workloads() == []
    (logged,) = [r.getMessage() for r in caplog.records]
    assert node().node_id in logged and "'missing-a'" in logged and "'b'" in logged
    assert proxy_json(rec)["lastError"] == rec.last_error


async def test_records_follow_connects_acks_and_disconnects() -> None:
    """A connect decodes the node metadata; an ACK is stamped with the clock; a disconnect keeps the record."""
    clock = FakeClock()
    mc = controller(clock)
    await mc.on_connect(node())
    rec = mc.proxy_by_id("w1.default")
    assert rec is not None and rec.proxy.name == "w1" and rec.connected
    await clock.advance(5)
    mc.on_ack(node().node_id, xt.CLUSTER, "v1")
    assert rec.acked_at[xt.CLUSTER] == ("v1", clock.now())
    stale = NodeInfo(node().node_id)  # an older stream of the same node closing changes nothing
    await mc.on_disconnect(stale)
    assert rec.connected
    await mc.on_disconnect(rec.node)
    assert not rec.connected and rec.disconnected_at == clock.monotonic()


async def test_reaper_waits_the_startup_grace_for_a_proxy_never_seen() -> None:
    """An agent's entry whose proxy never connected is kept for the start-up grace, then removed."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted, agent_grace_s=5, startup_grace_s=30)
    mc.state.apply("ADDED", one(AGENT_WE))
    await mc.reaper.reap()
    await clock.advance(20)
    await mc.reaper.reap()
    assert deleted == []  # past the agent grace, not past the start-up grace
    await clock.advance(11)
    await mc.reaper.reap()
    assert deleted == [("default", "w1")]


async def test_reaper_removes_a_workload_its_proxy_left_after_the_agent_grace() -> None:
    """A proxy that disconnected is forgotten after the agent grace and its agent's entry deleted."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted, agent_grace_s=10, startup_grace_s=30)
    mc.state.apply("ADDED", one(AGENT_WE))
    await mc.on_connect(node())
    await clock.advance(100)
    await mc.reaper.reap()
    assert deleted == []  # connected: never reaped, however long
    await mc.on_disconnect(mc.proxies[node().node_id].node)
    await clock.advance(9)
    await mc.reaper.reap()
    assert deleted == [] and node().node_id in mc.proxies
    await clock.advance(2)
    await mc.reaper.reap()
    assert deleted == [("default", "w1")]
    assert node().node_id not in mc.proxies and mc.cache.get(node().node_id) is None


async def test_reaper_leaves_other_entries_alone() -> None:
    """Entries not registered by an agent are never removed by the reaper."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted, agent_grace_s=1, startup_grace_s=1)
    mc.state.apply("ADDED", one(ORPHAN_WE))
    await mc.reaper.reap()
    await clock.advance(1000)
    await mc.reaper.reap()
    assert deleted == []


async def test_the_started_reaper_runs_on_the_clock() -> None:
    """The reaper task wakes every second of the (fake) clock: no pass before, a deletion once past grace."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted, agent_grace_s=2, startup_grace_s=2)
    mc.state.apply("ADDED", one(AGENT_WE))
    mc.start()
    try:
        await clock.advance(0)  # the tasks start and go to sleep
        assert clock.sleepers == 1  # the reaper (the push loop waits for work, not for time)
        await clock.advance(3)
        assert deleted == []  # passes at t=1, 2, 3: first seen at t=1, gone for at most 2 s
        await clock.advance(1)
        assert deleted == [("default", "w1")]
    finally:
        await mc.stop()


SERVICE_WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: echo-{k}}}
spec: {{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{app: echo}}}}
"""
ECHO_VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: echo}}
spec: {{hosts: [echo], http: [{{timeout: {t}s, route: [{{destination: {{host: echo}}}}]}}]}}
"""


async def test_own_parts_survive_connects_and_endpoint_pushes_until_their_proxy_is_forgotten() -> None:
    """Proxies connect, endpoints change twice, more proxies connect, then a VirtualService changes: every
    sidecar's own part is reused (none of that touched what it read). A proxy the reaper forgot is dropped."""
    clock = FakeClock()
    mc = controller(clock, agent_grace_s=10)
    mc.on_store_event("ADDED", one(SERVICE), 1)
    await mc.pusher.drain()
    first = [node(f"a{i}") for i in range(3)]
    for n in first:
        await mc.on_connect(n)
    for k in (1, 2):
        mc.on_store_event("ADDED", one(SERVICE_WE.format(k=k, port=41000 + k)), 1 + k)
        await mc.pusher.drain()
    for i in range(3):
        await mc.on_connect(node(f"b{i}"))
    cache = mc.pusher._local_cache
    before = (cache.hits, cache.misses)
    mc.on_store_event("ADDED", one(ECHO_VS.format(t=1)), 4)
    await mc.pusher.drain()
    assert (cache.hits - before[0], cache.misses - before[1]) == (6, 0)
    await mc.on_disconnect(first[0])
    await clock.advance(11)
    await mc.reaper.reap()
    mc.on_store_event("MODIFIED", one(ECHO_VS.format(t=2)), 5)
    await mc.pusher.drain()
    assert len(cache) == 5
