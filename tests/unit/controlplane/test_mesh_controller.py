"""The mesh controller's notion of 'converged' tracks store revisions exactly."""

from __future__ import annotations

import asyncio

from mizzen.config import load_text
from mizzen.controlplane.mesh import MeshController
from mizzen.xds import SnapshotCache

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


async def test_a_change_no_proxy_needs_still_converges() -> None:
    """A WorkloadEntry no service selects needs no push, yet the revision counts as pushed."""
    mc = MeshController(SnapshotCache())
    mc.start()
    try:
        (we,) = load_text(ORPHAN_WE).resources
        mc.on_store_event("ADDED", we, 7)
        assert mc.converged and mc.pushed_revision == 7
    finally:
        await mc.stop()


async def test_a_real_change_converges_once_pushed() -> None:
    """A config change is not converged until its push has run."""
    mc = MeshController(SnapshotCache())
    mc.start()
    try:
        (svc,) = load_text(SERVICE).resources
        mc.on_store_event("ADDED", svc, 3)
        assert not mc.converged
        for _ in range(100):
            if mc.converged:
                break
            await asyncio.sleep(0.01)
        assert mc.converged and mc.pushed_revision == 3
    finally:
        await mc.stop()


AGENT_WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: w1
  annotations: {mizzen.io/registered-by: agent}
spec: {address: 127.0.0.1, labels: {app: echo}}
"""


async def test_reaper_waits_the_startup_grace_for_a_proxy_never_seen() -> None:
    """An agent's entry whose proxy never connected is kept for the start-up grace, then removed."""
    deleted: list[tuple[str, str]] = []
    mc = MeshController(
        SnapshotCache(), delete_workload=lambda ns, n: deleted.append((ns, n)), agent_grace_s=0.05, startup_grace_s=0.4
    )
    (we,) = load_text(AGENT_WE).resources
    mc.state.apply("ADDED", we)
    await mc._reap()
    await asyncio.sleep(0.2)
    await mc._reap()
    assert deleted == []  # past the agent grace, not past the start-up grace
    await asyncio.sleep(0.3)
    await mc._reap()
    assert deleted == [("default", "w1")]


async def test_reaper_leaves_other_entries_alone() -> None:
    """Entries not registered by an agent are never removed by the reaper."""
    deleted: list[tuple[str, str]] = []
    mc = MeshController(
        SnapshotCache(), delete_workload=lambda ns, n: deleted.append((ns, n)), agent_grace_s=0.01, startup_grace_s=0.01
    )
    (we,) = load_text(ORPHAN_WE).resources
    mc.state.apply("ADDED", we)
    await mc._reap()
    await asyncio.sleep(0.05)
    await mc._reap()
    assert deleted == []
