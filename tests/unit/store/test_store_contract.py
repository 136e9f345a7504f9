"""The ConfigStore contract: every implementation (memory, SQLite, PostgreSQL) passes the same tests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mizzen.config.resource import Metadata, Resource
from mizzen.store import (
    ChangeEvent,
    Compacted,
    ConfigStore,
    Conflict,
    Invalid,
    MemoryStore,
    NotFound,
    SqliteStore,
)
from mizzen.store.postgres import PostgresStore
from mizzen.testing.postgres import Cluster

VS = "VirtualService"


def vs(name: str, host: str = "reviews", ns: str = "default", **meta: object) -> Resource:
    spec = {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}]}]}
    return Resource("networking.istio.io/v1", VS, Metadata(name=name, namespace=ns, **meta), spec)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ConfigStore]:
    clock = lambda: datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)  # noqa: E731
    s: ConfigStore
    if request.param == "memory":
        s = MemoryStore(history=50, clock=clock)
    elif request.param == "sqlite":
        s = SqliteStore(tmp_path / "mizzen.db", history=50, clock=clock)
    else:
        pg: Cluster = request.getfixturevalue("postgres_cluster")
        url = pg.url(pg.create_database())
        s = PostgresStore(url, password_file=pg.password_file, history=50, clock=clock)
    yield s
    s.close()


def test_new_store_is_empty(store: ConfigStore) -> None:
    """A new store has revision 0, no objects and no events."""
    assert store.revision() == 0
    assert store.list() == []
    assert store.events_since(0) == []


def test_create_sets_server_metadata(store: ConfigStore) -> None:
    """Creating an object fills uid, resourceVersion, generation 1 and creationTimestamp."""
    [result] = store.apply([vs("reviews", labels={"app": "reviews"})])
    assert result.action == "created"
    assert result.key == (VS, "default", "reviews")
    got = store.get(VS, "default", "reviews")
    assert got.metadata.uid and got.metadata.uid == result.resource.metadata.uid
    assert got.metadata.resource_version == "1"
    assert got.metadata.generation == 1
    assert got.metadata.creation_timestamp == "2026-01-02T03:04:05Z"
    assert dict(got.metadata.labels) == {"app": "reviews"}
    assert got.spec == vs("reviews").spec


def test_reapply_identical_is_unchanged(store: ConfigStore) -> None:
    """Applying the same spec, labels and annotations again reports unchanged and bumps nothing."""
    store.apply([vs("reviews")])
    [result] = store.apply([vs("reviews")])
    assert result.action == "unchanged"
    assert store.revision() == 1
    assert len(store.events_since(0)) == 1


def test_spec_change_bumps_generation_and_keeps_identity(store: ConfigStore) -> None:
    """A spec change is 'configured': new resourceVersion and generation, same uid and creation time."""
    first = store.apply([vs("reviews")])[0].resource
    [result] = store.apply([vs("reviews", host="ratings")])
    assert result.action == "configured"
    now = store.get(VS, "default", "reviews")
    assert now.metadata.uid == first.metadata.uid
    assert now.metadata.creation_timestamp == first.metadata.creation_timestamp
    assert now.metadata.generation == 2
    assert now.metadata.resource_version == "2"
    assert now.spec["hosts"] == ["ratings"]


def test_label_change_is_configured_without_generation_bump(store: ConfigStore) -> None:
    """Changing only labels or annotations is 'configured' but keeps the generation."""
    store.apply([vs("reviews")])
    [result] = store.apply([vs("reviews", annotations={"a": "b"})])
    assert result.action == "configured"
    assert store.get(VS, "default", "reviews").metadata.generation == 1


def test_apply_is_all_or_nothing(store: ConfigStore) -> None:
    """One invalid object in a batch stores none of the batch."""
    bad = Resource("v1", "Deployment", Metadata(name="x"), {})
    with pytest.raises(Invalid) as err:
        store.apply([vs("a"), vs("b"), bad])
    assert "Deployment" in str(err.value) and "x" in str(err.value)
    assert store.list() == []
    assert store.revision() == 0


def test_stale_resource_version_conflicts_and_rolls_back(store: ConfigStore) -> None:
    """A stale resourceVersion raises Conflict and nothing in the batch is stored."""
    store.apply([vs("a")])
    with pytest.raises(Conflict):
        store.apply([vs("b"), vs("a", host="x", resource_version="99")])
    assert [r.name for r in store.list()] == ["a"]
    [ok] = store.apply([vs("a", host="x", resource_version="1")])
    assert ok.action == "configured"


def test_dry_run_stores_nothing(store: ConfigStore) -> None:
    """A dry run reports the actions it would take and changes nothing."""
    store.apply([vs("a")])
    results = store.apply([vs("a"), vs("b")], dry_run=True)
    assert [r.action for r in results] == ["unchanged", "created"]
    assert store.revision() == 1
    with pytest.raises(NotFound):
        store.get(VS, "default", "b")


def test_same_key_twice_in_one_batch(store: ConfigStore) -> None:
    """Later documents in one batch see earlier ones: create then configure."""
    results = store.apply([vs("a"), vs("a", host="x")])
    assert [r.action for r in results] == ["created", "configured"]
    assert store.get(VS, "default", "a").metadata.generation == 2


def test_get_missing_names_the_object(store: ConfigStore) -> None:
    """NotFound names kind, namespace and name."""
    with pytest.raises(NotFound) as err:
        store.get(VS, "prod", "nope")
    assert (err.value.kind, err.value.namespace, err.value.name) == (VS, "prod", "nope")


def test_list_filters_and_sorts(store: ConfigStore) -> None:
    """list() filters by kind and namespace and sorts by (kind, namespace, name)."""
    dr = Resource("networking.istio.io/v1", "DestinationRule", Metadata(name="r"), {"host": "r"})
    store.apply([vs("b", ns="x"), vs("a", ns="x"), vs("c"), dr])
    assert [r.key for r in store.list()] == [
        ("DestinationRule", "default", "r"),
        (VS, "default", "c"),
        (VS, "x", "a"),
        (VS, "x", "b"),
    ]
    assert [r.name for r in store.list(VS)] == ["c", "a", "b"]
    assert [r.name for r in store.list(namespace="x")] == ["a", "b"]
    assert [r.name for r in store.list(VS, "default")] == ["c"]


def test_delete_is_all_or_nothing(store: ConfigStore) -> None:
    """Deleting a missing key raises NotFound and deletes nothing else."""
    store.apply([vs("a"), vs("b")])
    with pytest.raises(NotFound):
        store.delete([(VS, "default", "a"), (VS, "default", "missing")])
    assert len(store.list()) == 2
    gone = store.delete([(VS, "default", "a")])
    assert [g.name for g in gone] == ["a"]
    assert [r.name for r in store.list()] == ["b"]


def test_events_are_ordered_and_typed(store: ConfigStore) -> None:
    """Each change records one event with its own revision, in order."""
    store.apply([vs("a"), vs("b")])
    store.apply([vs("a", host="x")])
    store.delete([(VS, "default", "b")])
    events = store.events_since(0)
    assert [(e.revision, e.type, e.resource.name) for e in events] == [
        (1, "ADDED", "a"),
        (2, "ADDED", "b"),
        (3, "MODIFIED", "a"),
        (4, "DELETED", "b"),
    ]
    assert [e.revision for e in store.events_since(2)] == [3, 4]
    assert store.revision() == 4


def test_old_history_is_compacted(store: ConfigStore) -> None:
    """Asking for events older than the kept history raises Compacted; recent ones still work."""
    store.apply([vs(f"n{i}") for i in range(60)])
    with pytest.raises(Compacted):
        store.events_since(0)
    assert [e.revision for e in store.events_since(55)] == [56, 57, 58, 59, 60]
    assert store.events_since(60) == []


def test_snapshot_is_consistent(store: ConfigStore) -> None:
    """snapshot() returns the revision together with all objects."""
    store.apply([vs("a"), vs("b")])
    rev, objects = store.snapshot()
    assert rev == 2 and [o.name for o in objects] == ["a", "b"]


async def test_watch_replays_then_follows(store: ConfigStore) -> None:
    """watch() replays history after the given revision, then delivers new commits in order."""
    store.apply([vs("a")])
    seen: list[ChangeEvent] = []
    replayed = asyncio.Event()

    async def consume() -> None:
        async for event in store.watch(0):
            seen.append(event)
            replayed.set()  # history is in: the watcher now waits for new commits
            if len(seen) == 4:
                return

    task = asyncio.create_task(consume())
    await asyncio.wait_for(replayed.wait(), 5)
    store.apply([vs("b")])
    # A write from another thread must wake the watcher too (the API writes from a worker thread).
    await asyncio.to_thread(store.apply, [vs("c")])
    await asyncio.to_thread(store.delete, [(VS, "default", "a")])
    await asyncio.wait_for(task, 5)
    assert [(e.revision, e.type, e.resource.name) for e in seen] == [
        (1, "ADDED", "a"),
        (2, "ADDED", "b"),
        (3, "ADDED", "c"),
        (4, "DELETED", "a"),
    ]


def test_sqlite_survives_reopen(tmp_path: Path) -> None:
    """A reopened SQLite store has the same objects, revision and history."""
    path = tmp_path / "m.db"
    s = SqliteStore(path)
    s.apply([vs("a"), vs("b")])
    s.close()
    again = SqliteStore(path)
    assert [r.name for r in again.list()] == ["a", "b"]
    assert again.revision() == 2
    assert [e.revision for e in again.events_since(0)] == [1, 2]
    [res] = again.apply([vs("c")])
    assert res.resource.metadata.resource_version == "3"
    again.close()
