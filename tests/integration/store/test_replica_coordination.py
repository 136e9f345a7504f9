"""Replicas on one PostgreSQL store: one leader at a time (an advisory lock), takeover when its session ends,
heartbeats and proxy records visible to the others; a store on its own is always its own leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from mizzen.store import MemoryStore, Unavailable
from mizzen.store.pg_replicas import PostgresCoordination
from mizzen.store.postgres import PostgresStore
from mizzen.store.replicas import LocalCoordination, Replica, coordination_for
from mizzen.testing.postgres import Cluster


@pytest.fixture
def store(postgres_cluster: Cluster) -> PostgresStore:
    """A store on a new database of the session's cluster."""
    db = postgres_cluster.create_database()
    s = PostgresStore(postgres_cluster.url(db), password_file=postgres_cluster.password_file)
    yield s  # type: ignore[misc]
    s.close()


def replica(name: str) -> Replica:
    return Replica(name=name, api_url=f"http://{name}", xds_address=f"{name}:15010", started_at=1.0)


def coordination(store: PostgresStore) -> PostgresCoordination:
    found = coordination_for(store)
    assert isinstance(found, PostgresCoordination)
    return found


def test_one_leader_and_takeover_when_it_closes(store: PostgresStore) -> None:
    """The first replica to beat leads, the second does not; once the leader's session ends the other takes over."""
    a, b = coordination(store), coordination(store)
    try:
        assert a.beat(replica("a"), []).leader
        view = b.beat(replica("b"), [])
        assert not view.leader
        assert [(r.name, r.leader, r.alive) for r in view.replicas] == [("a", True, True), ("b", False, True)]
        a.close()
        assert b.beat(replica("b"), None).leader
    finally:
        a.close()
        b.close()


def test_a_killed_leader_session_loses_the_lock(store: PostgresStore, postgres_cluster: Cluster) -> None:
    """When the server ends the leader's session (a dead or cut-off replica), the lock moves and the old leader
    learns it lost it on its next beat."""
    a, b = coordination(store), coordination(store)
    try:
        assert a.beat(replica("a"), []).leader
        db = store.where.rsplit("/", 1)[1]
        postgres_cluster.sql(
            db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'mizzen-replica' "
            "AND pid IN (SELECT session_pid FROM mizzen.replicas WHERE name = 'a')",
        )
        assert b.beat(replica("b"), []).leader
        with pytest.raises(Unavailable):
            a.beat(replica("a"), None)  # its connection is gone: no leadership
        assert not a.beat(replica("a"), None).leader  # reconnected, but b holds the lock now
    finally:
        a.close()
        b.close()


def test_proxies_of_the_other_replicas_are_shared(store: PostgresStore) -> None:
    """A replica sees the proxies the other live replicas published, not its own; None keeps what was published."""
    a, b = coordination(store), coordination(store)
    try:
        a.beat(replica("a"), [{"id": "p1.default", "nodeId": "n1", "namespace": "default", "name": "p1"}])
        b.beat(replica("b"), [{"id": "p2.default", "nodeId": "n2", "namespace": "default", "name": "p2"}])
        assert [p["id"] for p in b.beat(replica("b"), None).remote_proxies] == ["p1.default"]
        assert [p["id"] for p in a.beat(replica("a"), None).remote_proxies] == ["p2.default"]
        a.beat(replica("a"), [])
        assert b.beat(replica("b"), None).remote_proxies == ()
    finally:
        a.close()
        b.close()


def test_a_store_of_its_own_is_always_its_own_leader(tmp_path: Path) -> None:
    """SQLite and memory stores have one control plane: it leads, alone."""
    local = coordination_for(MemoryStore())
    assert isinstance(local, LocalCoordination)
    view = local.beat(replica("solo"), [])
    assert view.leader and [r.name for r in view.replicas] == ["solo"] and view.remote_proxies == ()
