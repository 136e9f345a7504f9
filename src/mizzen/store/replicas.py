"""Replicas of one control plane on one store: who is alive, who leads, which proxies each one serves.

Several control-plane processes may share a PostgreSQL store. Each one *beats* twice a second
(:meth:`Coordination.beat`): it records itself (name, addresses) and the proxies connected to it, and
reads back every replica, the proxies of the others and whether it holds the leadership. Jobs that must
run once for the whole mesh (the workload reaper, pruning long-dead replicas) run only on the leader.

- :class:`LocalCoordination` (SQLite and memory stores, one process): always the leader, alone.
- ``mizzen.store.pg_replicas.PostgresCoordination``: the leadership is a PostgreSQL advisory lock held by
  a dedicated session, so it moves as soon as that session ends (the leader stopped, was killed, or lost
  the database for about 2 s).

A replica whose last beat is older than :data:`ALIVE_SECONDS` counts as gone, and so do its proxies.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .interface import ConfigStore

ALIVE_SECONDS = 3.0
"""A replica that has not beaten for this long is gone (its proxies no longer count as connected)."""


@dataclass(frozen=True)
class Replica:
    """One control-plane replica as the others see it."""

    name: str
    api_url: str
    xds_address: str
    started_at: float = 0.0  # epoch seconds
    heartbeat_age_s: float = 0.0
    leader: bool = False

    @property
    def alive(self) -> bool:
        """True when its last beat is recent."""
        return self.heartbeat_age_s < ALIVE_SECONDS

    def to_json(self) -> dict[str, Any]:
        """As the API shows it."""
        return {
            "name": self.name,
            "api": self.api_url,
            "xds": self.xds_address,
            "startedAt": self.started_at,
            "heartbeatAgeSeconds": round(self.heartbeat_age_s, 3),
            "alive": self.alive,
            "leader": self.leader,
        }


@dataclass(frozen=True)
class View:
    """What one beat learned: the leadership, every replica, and the proxies connected to the others."""

    leader: bool
    replicas: tuple[Replica, ...] = ()
    remote_proxies: tuple[dict[str, Any], ...] = field(default_factory=tuple)  # proxy views, with "controlPlane"


class Coordination(Protocol):
    """The replicas' shared bookkeeping (see the module docstring)."""

    shares_proxies: bool
    """Whether beats publish this replica's proxies to the others (False: the caller need not build them)."""

    def beat(self, me: Replica, proxies: Sequence[dict[str, Any]] | None) -> View:
        """Record ``me`` (and its proxies, unless None: unchanged since the last beat); read the others.

        Raises :class:`~mizzen.store.errors.StoreError` (usually ``Unavailable``) when the store cannot be
        reached; the caller then holds no leadership.
        """
        ...

    def close(self) -> None:
        """Give up the leadership and release the connection."""
        ...


class LocalCoordination:
    """One control plane on its own store: always the leader; a beat checks that the store answers."""

    shares_proxies = False  # no other replica reads them

    def __init__(self, store: ConfigStore) -> None:
        self._store = store

    def beat(self, me: Replica, proxies: Sequence[dict[str, Any]] | None) -> View:
        """See :meth:`Coordination.beat`."""
        self._store.revision()  # raises when the store cannot be read
        return View(leader=True, replicas=(Replica(me.name, me.api_url, me.xds_address, me.started_at, 0.0, True),))

    def close(self) -> None:
        """Nothing to release."""


def coordination_for(store: ConfigStore) -> Coordination:
    """The coordination a store supports: PostgreSQL's when the store is shared, else the local one."""
    open_session = getattr(store, "open_session", None)
    if open_session is None:
        return LocalCoordination(store)
    from .pg_replicas import PostgresCoordination

    return PostgresCoordination(open_session("mizzen-replica"))


def proxy_body(view: dict[str, Any]) -> str:
    """A proxy view as stored (compact, sorted JSON)."""
    return json.dumps(view, sort_keys=True, separators=(",", ":"))
