"""This control plane as one replica among several on a shared store: heartbeat, leadership, the others' proxies.

:class:`ReplicaSet` beats every :data:`BEAT_SECONDS` (:data:`LOCAL_BEAT_SECONDS` on a store of its own; off
the event loop) through the store's
:class:`~mizzen.store.replicas.Coordination` and keeps what it learned: whether this replica leads (the
reaper runs only then), the live replicas (``mizzen status``), the proxies connected to the others (so
``proxy-status`` and the reaper see the whole mesh from any replica) and whether the store answers
(``/readyz``). A failed beat means no leadership and an unready replica until a beat succeeds again;
the xDS server keeps serving its last snapshots meanwhile.

After a gap in its view (start-up, a lost store), a replica that shares the store with others acts as
leader only once it has beaten without a break for :data:`SETTLE_SECONDS`: by then every live replica has
beaten again and republished its proxies, so the reaper cannot mistake a database outage for every
other replica's proxies being gone.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Any

from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.store import StoreError
from mizzen.store.replicas import ALIVE_SECONDS, Coordination, Replica, View

log = logging.getLogger("mizzen.replicas")

BEAT_SECONDS = 0.5
# On a store of its own (SQLite, memory) a beat only checks that the store answers (``/readyz``): no other
# replica waits on it, so it beats less often (each beat's thread hop and read was ~0.001 core at 0.5 s).
LOCAL_BEAT_SECONDS = 2.0
SETTLE_SECONDS = ALIVE_SECONDS + 2 * BEAT_SECONDS

ProxyViews = Callable[[], list[dict[str, Any]]]


def default_name(port: int) -> str:
    """``<host>:<API port>``: unique per replica on one host, readable in ``mizzen status``."""
    return f"{socket.gethostname()}:{port}"


class ReplicaSet:
    """One replica's knowledge of the others (see the module docstring)."""

    def __init__(
        self, coordination: Coordination, me: Replica, local_proxies: ProxyViews, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._coordination = coordination
        self._clock = clock
        self.me = me
        self._local_proxies = local_proxies
        self.view = View(leader=False)
        self.store_error: str | None = "no heartbeat yet"
        self._published: list[dict[str, Any]] | None = None
        self._ok_since: float | None = None  # monotonic start of the current run of successful beats
        self._task: asyncio.Task[None] | None = None

    @property
    def leader(self) -> bool:
        """True while this replica holds the leadership, its store answers and its view has settled."""
        if self.store_error is not None or not self.view.leader or self._ok_since is None:
            return False
        alone = len(self.view.replicas) <= 1
        return alone or self._clock.monotonic() - self._ok_since >= SETTLE_SECONDS

    async def beat(self) -> None:
        """One heartbeat: publish this replica and its proxies, read the others. The proxy views are built
        only for a coordination that shares them (on SQLite a beat only checks the store answers; with the
        longer local beat this took an idle control plane from ~0.0056 to ~0.0048 core)."""
        proxies = self._local_proxies() if self._coordination.shares_proxies else None
        changed = proxies if proxies is not None and proxies != self._published else None
        try:
            view = await asyncio.to_thread(self._coordination.beat, self.me, changed)
        except StoreError as exc:
            if self.store_error is None:
                log.warning(
                    "replica %s lost the store (%s): not leading, not ready, serving last config", self.me.name, exc
                )
            self.store_error = str(exc)
            self._ok_since = None
            self._published = None  # republish everything once the store is back
            return
        if view.leader != self.view.leader:
            log.info("replica %s %s the leadership", self.me.name, "took" if view.leader else "lost")
        if self.store_error is not None:
            log.info("replica %s reaches the store again", self.me.name)
        self.store_error = None
        if self._ok_since is None:
            self._ok_since = self._clock.monotonic()
        self.view = view
        self._published = proxies

    async def run(self) -> None:
        """Beat until cancelled."""
        every = BEAT_SECONDS if self._coordination.shares_proxies else LOCAL_BEAT_SECONDS
        while True:
            await self.beat()
            await asyncio.sleep(every)

    def start(self) -> None:
        """Start beating (in the running event loop)."""
        self._task = asyncio.create_task(self.run(), name="mizzen-replica-heartbeat")

    async def stop(self) -> None:
        """Stop beating and give up the leadership."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await asyncio.to_thread(self._coordination.close)

    def remote_proxies(self) -> list[dict[str, Any]]:
        """The proxy views published by the other live replicas (empty while the store is unreachable)."""
        return list(self.view.remote_proxies) if self.store_error is None else []

    def remote_workloads(self) -> set[tuple[str, str]]:
        """``(namespace, name)`` of every workload whose proxy is connected to another live replica."""
        return {(str(p.get("namespace", "")), str(p.get("name", ""))) for p in self.remote_proxies()}

    def readiness_problem(self) -> str | None:
        """Why this replica is not ready (the store is unreachable), or None."""
        return None if self.store_error is None else f"the store is unreachable: {self.store_error}"

    def status_json(self, store: str) -> dict[str, Any]:
        """The replicas, the store and the leader, for ``mizzen status``."""
        replicas = [r.to_json() | {"self": r.name == self.me.name} for r in self.view.replicas]
        leader = next((r.name for r in self.view.replicas if r.leader and r.alive), None)
        return {
            "replica": self.me.name,
            "leader": leader,
            "isLeader": self.leader,
            "store": {"description": store, "reachable": self.store_error is None, "error": self.store_error or ""},
            "replicas": replicas,
        }


def new_replica(name: str, api_url: str, xds_address: str) -> Replica:
    """This replica's record, started now."""
    return Replica(name=name, api_url=api_url, xds_address=xds_address, started_at=time.time())
