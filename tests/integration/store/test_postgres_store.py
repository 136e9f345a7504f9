"""The PostgreSQL store beyond the shared contract: migrations, passwords, replicas, notifications, outages."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mizzen.config.resource import Metadata, Resource
from mizzen.store import ChangeEvent, SchemaTooNew, StoreError, Unavailable
from mizzen.store.pg_schema import MIGRATIONS, Migration
from mizzen.store.postgres import LISTENER_NAME, PostgresStore
from mizzen.testing.postgres import Cluster, running_cluster

VS = "VirtualService"


def vs(name: str, host: str = "reviews") -> Resource:
    spec = {"hosts": [host], "http": [{"route": [{"destination": {"host": host}}]}]}
    return Resource("networking.istio.io/v1", VS, Metadata(name=name), spec)


@pytest.fixture
def database(postgres_cluster: Cluster) -> str:
    """A new, empty database on the session's cluster."""
    return postgres_cluster.create_database()


def open_store(pg: Cluster, database: str, **kwargs: object) -> PostgresStore:
    return PostgresStore(pg.url(database), password_file=pg.password_file, **kwargs)  # type: ignore[arg-type]


def test_new_database_is_migrated_to_the_latest_version(postgres_cluster: Cluster, database: str) -> None:
    """Opening an empty database creates the schema and records every migration once."""
    store = open_store(postgres_cluster, database)
    store.close()
    again = open_store(postgres_cluster, database)
    again.close()
    rows = postgres_cluster.sql(database, "SELECT version FROM mizzen.schema_version ORDER BY version")
    assert rows.splitlines() == [str(m.version) for m in MIGRATIONS]
    assert again.schema_version == len(MIGRATIONS)


def test_pending_migrations_are_applied_and_keep_data(postgres_cluster: Cluster, database: str) -> None:
    """A database at an older version gets only the missing migrations; its objects survive."""
    old = open_store(postgres_cluster, database)
    old.apply([vs("a")])
    old.close()
    extra = Migration(len(MIGRATIONS) + 1, "test: a new table", "CREATE TABLE mizzen.extra (id integer);")
    new = open_store(postgres_cluster, database, migrations=(*MIGRATIONS, extra))
    assert [r.name for r in new.list()] == ["a"]
    assert new.schema_version == extra.version
    new.close()
    assert postgres_cluster.sql(database, "SELECT to_regclass('mizzen.extra') IS NOT NULL") == "t"


def test_failed_migration_changes_nothing(postgres_cluster: Cluster, database: str) -> None:
    """A migration that fails is rolled back whole: no version row, no half-made tables."""
    open_store(postgres_cluster, database, migrations=MIGRATIONS[:1]).close()
    broken = Migration(2, "test: broken", "CREATE TABLE mizzen.half (id integer); SELECT no_such_function();")
    with pytest.raises(StoreError, match="no_such_function"):
        open_store(postgres_cluster, database, migrations=(*MIGRATIONS[:1], broken))
    assert postgres_cluster.sql(database, "SELECT to_regclass('mizzen.half') IS NULL") == "t"
    assert postgres_cluster.sql(database, "SELECT MAX(version) FROM mizzen.schema_version") == "1"


def test_database_newer_than_the_code_is_refused(postgres_cluster: Cluster, database: str) -> None:
    """A schema version this code does not know is refused with a message saying to upgrade Mizzen."""
    open_store(postgres_cluster, database).close()
    postgres_cluster.sql(database, "INSERT INTO mizzen.schema_version (version, description) VALUES (99, 'future')")
    with pytest.raises(SchemaTooNew) as err:
        open_store(postgres_cluster, database)
    message = str(err.value)
    assert "schema version 99" in message and f"up to {len(MIGRATIONS)}" in message
    assert "upgrade Mizzen" in message and database in message


def test_url_with_a_password_is_refused_without_echoing_it() -> None:
    """A URL carrying a password is refused before connecting; the message does not repeat the password."""
    for url in ("postgresql://mizzen:s3cret-pw@127.0.0.1:5432/db", "postgresql://mizzen@h/db?password=s3cret-pw"):
        with pytest.raises(StoreError) as err:
            PostgresStore(url)
        assert "must not contain a password" in str(err.value)
        assert "s3cret-pw" not in str(err.value)


def test_password_from_pgpassfile(
    postgres_cluster: Cluster, database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """libpq's PGPASSFILE supplies the password; without any password the store cannot connect."""
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    with pytest.raises(Unavailable, match="password"):
        PostgresStore(postgres_cluster.url(database))
    monkeypatch.setenv("PGPASSFILE", str(postgres_cluster.pgpass_file))
    store = PostgresStore(postgres_cluster.url(database))
    assert store.revision() == 0
    store.close()


def test_empty_password_file_is_a_clear_error(tmp_path: Path) -> None:
    """An empty password file is named in the error."""
    empty = tmp_path / "pw"
    empty.write_text("")
    with pytest.raises(StoreError, match=r"password file .* is empty"):
        PostgresStore("postgresql://mizzen@127.0.0.1:1/db", password_file=empty)


async def test_write_through_one_replica_wakes_another(postgres_cluster: Cluster, database: str) -> None:
    """Two stores on one database: a commit through A reaches B's watcher through the database."""
    a = open_store(postgres_cluster, database, poll_seconds=60)
    b = open_store(postgres_cluster, database, poll_seconds=60)  # only NOTIFY can wake B in time
    try:
        seen: list[ChangeEvent] = []

        async def follow() -> None:
            async for event in b.watch(0):
                seen.append(event)
                if len(seen) == 2:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        await asyncio.to_thread(a.apply, [vs("x"), vs("y")])
        await asyncio.wait_for(task, 5)
        assert [(e.revision, e.resource.name) for e in seen] == [(1, "x"), (2, "y")]
    finally:
        a.close()
        b.close()


async def test_lost_listen_connection_loses_no_event(postgres_cluster: Cluster, database: str) -> None:
    """When B's LISTEN connection is killed, a commit made meanwhile still reaches B's watcher."""
    a = open_store(postgres_cluster, database, poll_seconds=60)
    b = open_store(postgres_cluster, database, poll_seconds=60)
    try:
        seen: list[ChangeEvent] = []

        async def follow() -> None:
            async for event in b.watch(0):
                seen.append(event)
                return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.2)
        killed = postgres_cluster.sql(
            database,
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            f"WHERE datname = current_database() AND application_name = '{LISTENER_NAME}'",
        )
        assert killed == "2"
        await asyncio.to_thread(a.apply, [vs("x")])
        await asyncio.wait_for(task, 5)  # the listener reconnects and wakes every watcher for a catch-up read
        assert [e.resource.name for e in seen] == ["x"]
    finally:
        a.close()
        b.close()


def test_concurrent_writers_get_gapless_ordered_revisions(postgres_cluster: Cluster, database: str) -> None:
    """Writers on several replicas at once: every revision once, in order, each event matching its object."""
    stores = [open_store(postgres_cluster, database) for _ in range(3)]
    try:

        def write(index: int) -> None:
            for n in range(20):
                stores[index].apply([vs(f"s{index}-{n}"), vs(f"s{index}-{n}", host="ratings")])

        threads = [threading.Thread(target=write, args=(i,)) for i in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        events = stores[0].events_since(0)
        assert [e.revision for e in events] == list(range(1, 121))
        assert stores[1].revision() == 120 and len(stores[2].list()) == 60
        # Each batch is one transaction: its two events are adjacent, never interleaved with another's.
        for added, modified in zip(events[::2], events[1::2], strict=True):
            assert (added.type, modified.type) == ("ADDED", "MODIFIED")
            assert added.resource.name == modified.resource.name
    finally:
        for s in stores:
            s.close()


@pytest.fixture
def own_cluster(postgres_cluster: Cluster) -> Iterator[Cluster]:
    """A cluster of the test's own, which it may stop and start (skipped like the session's)."""
    with running_cluster() as pg:
        yield pg


async def test_outage_is_unavailable_then_recovers(own_cluster: Cluster) -> None:
    """With the server stopped, calls raise Unavailable and the watch waits; after restart both carry on."""
    database = own_cluster.create_database()
    store = open_store(own_cluster, database, poll_seconds=0.2)
    try:
        store.apply([vs("before")])
        seen: list[ChangeEvent] = []

        async def follow() -> None:
            async for event in store.watch(0):
                seen.append(event)
                if len(seen) == 2:
                    return

        task = asyncio.create_task(follow())
        await asyncio.sleep(0.3)
        own_cluster.stop()
        with pytest.raises(Unavailable, match="unavailable"):
            store.apply([vs("during")])
        with pytest.raises(Unavailable):
            store.list()
        await asyncio.sleep(0.5)  # the watch retries meanwhile instead of ending
        assert not task.done()
        own_cluster.start()
        store.apply([vs("after")])
        await asyncio.wait_for(task, 10)
        assert [(e.revision, e.resource.name) for e in seen] == [(1, "before"), (2, "after")]
        assert [r.name for r in store.list()] == ["after", "before"]
    finally:
        store.close()
