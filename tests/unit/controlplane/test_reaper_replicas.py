"""The reaper with several replicas: only the leader deletes, and a workload connected to another live replica
counts as connected; once that replica stops listing it, the agent grace runs from the last sighting."""

from __future__ import annotations

from mizzen.config import load_text
from mizzen.controlplane.mesh import MeshController
from mizzen.testing.clock import FakeClock
from mizzen.xds import SnapshotCache

AGENT_WE = """apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata:
  name: w1
  annotations: {mizzen.io/registered-by: agent}
spec: {address: 127.0.0.1, labels: {app: echo}}
"""


class Deleted(list[tuple[str, str]]):
    """Records the reaper's deletions."""

    def __call__(self, namespace: str, name: str) -> None:
        self.append((namespace, name))


def controller(clock: FakeClock, deleted: Deleted) -> MeshController:
    mc = MeshController(SnapshotCache(clock), delete_workload=deleted, clock=clock, agent_grace_s=5, startup_grace_s=30)
    (we,) = load_text(AGENT_WE).resources
    mc.state.apply("ADDED", we)
    return mc


async def test_a_follower_never_deletes() -> None:
    """A replica that does not lead keeps every entry, however long its proxy has been gone."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted)
    mc.reaper.leading = lambda: False
    await mc.reaper.reap()
    await clock.advance(1000)
    await mc.reaper.reap()
    assert deleted == []


async def test_a_workload_connected_elsewhere_is_kept_then_reaped_after_the_agent_grace() -> None:
    """The leader keeps a workload another replica serves; when it vanishes there, the agent grace (not the
    start-up grace) counts from the last sighting."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted)
    elsewhere = {("default", "w1")}
    mc.reaper.elsewhere = lambda: set(elsewhere)
    await mc.reaper.reap()
    await clock.advance(100)
    await mc.reaper.reap()
    assert deleted == []  # connected to another replica: never reaped
    elsewhere.clear()
    await clock.advance(4)
    await mc.reaper.reap()
    assert deleted == []  # gone for 4 s, the agent grace is 5 s
    await clock.advance(2)
    await mc.reaper.reap()
    assert deleted == [("default", "w1")]


async def test_a_new_leader_counts_the_grace_from_what_it_saw_as_follower() -> None:
    """Sightings made while following count once the replica leads: no deletion before the grace."""
    clock, deleted = FakeClock(), Deleted()
    mc = controller(clock, deleted)
    leading = [False]
    elsewhere = {("default", "w1")}
    mc.reaper.leading = lambda: leading[0]
    mc.reaper.elsewhere = lambda: set(elsewhere)
    await mc.reaper.reap()
    elsewhere.clear()  # the other replica died with the proxy
    await clock.advance(3)
    leading[0] = True
    await mc.reaper.reap()
    assert deleted == []
    await clock.advance(3)
    await mc.reaper.reap()
    assert deleted == [("default", "w1")]
