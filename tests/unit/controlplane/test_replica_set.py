"""A replica's view of the others: readiness follows the store, and after a gap in its view (start, a lost
store) a replica that shares the store leads only once it has beaten without a break for the settle time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mizzen.controlplane.replicas import SETTLE_SECONDS, ReplicaSet, new_replica
from mizzen.store import Unavailable
from mizzen.store.replicas import Replica, View
from mizzen.testing.clock import FakeClock


class Scripted:
    """A coordination whose beats answer as told; records what was published."""

    shares_proxies = True

    def __init__(self) -> None:
        self.down = False
        self.others = 1
        self.published: list[Sequence[dict[str, Any]] | None] = []

    def beat(self, me: Replica, proxies: Sequence[dict[str, Any]] | None) -> View:
        if self.down:
            raise Unavailable("the PostgreSQL store postgresql://x@db/mesh is unavailable: connection refused")
        self.published.append(proxies)
        others = tuple(Replica(f"r{i}", "", "") for i in range(self.others))
        remote = ({"id": "p.default", "namespace": "default", "name": "p"},) if self.others else ()
        return View(leader=True, replicas=(me, *others), remote_proxies=remote)

    def close(self) -> None:
        pass


async def test_leadership_waits_for_a_settled_view_after_an_outage() -> None:
    """The lock holder leads after SETTLE_SECONDS of unbroken beats; a failed beat ends it and makes the
    replica unready with the store's message; proxies are republished in full once the store is back."""
    clock, coord = FakeClock(), Scripted()
    views = [{"id": "mine.default"}]
    rs = ReplicaSet(coord, new_replica("me", "http://me", "me:15010"), lambda: list(views), clock)
    await rs.beat()
    assert not rs.leader and rs.readiness_problem() is None
    await clock.advance(SETTLE_SECONDS)
    await rs.beat()
    assert rs.leader and rs.remote_workloads() == {("default", "p")}
    assert coord.published == [views, None]  # unchanged views are not rewritten
    coord.down = True
    await rs.beat()
    assert not rs.leader and rs.remote_workloads() == set()
    assert "store is unreachable" in (rs.readiness_problem() or "")
    coord.down = False
    await rs.beat()
    assert not rs.leader and rs.readiness_problem() is None and coord.published[-1] == views
    await clock.advance(SETTLE_SECONDS)
    await rs.beat()
    assert rs.leader


async def test_a_replica_alone_leads_at_once() -> None:
    """With no other replica in the store there is nothing to wait for (SQLite, memory, a first replica)."""
    coord = Scripted()
    coord.others = 0
    rs = ReplicaSet(coord, new_replica("me", "http://me", "me:15010"), list, FakeClock())
    await rs.beat()
    assert rs.leader


async def test_proxy_views_are_built_only_for_a_coordination_that_shares_them() -> None:
    """On a store of its own (SQLite, memory) nobody reads the proxy views: a beat does not build them."""
    coord = Scripted()
    coord.shares_proxies = False
    built: list[int] = []

    def views() -> list[dict[str, Any]]:
        built.append(1)
        return [{"id": "mine.default"}]

    rs = ReplicaSet(coord, new_replica("me", "http://me", "me:15010"), views, FakeClock())
    await rs.beat()
    await rs.beat()
    assert built == [] and coord.published == [None, None]
    coord.shares_proxies = True
    await rs.beat()
    assert built == [1] and coord.published[-1] == [{"id": "mine.default"}]
