"""The SQLite store under pressure: dry runs take no write lock and write nothing; a full disk changes nothing."""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from mizzen.config import load_text
from mizzen.config.resource import Resource
from mizzen.store import SqliteStore
from mizzen.store.errors import StorageFull
from mizzen.store.sqlite import WAL_SIZE_LIMIT


def vs(name: str, host: str = "reviews", padding: int = 0) -> Resource:
    text = f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, annotations: {{pad: "{"x" * padding}"}}}}
spec: {{hosts: [{host}], http: [{{route: [{{destination: {{host: {host}}}}}]}}]}}
"""
    (resource,) = load_text(text).resources
    return resource


def fill(path: Path) -> Path:
    """Write ``path`` until the disk is full."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 65536)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return path


def test_a_dry_run_reads_while_another_writer_holds_the_lock(tmp_path: Path) -> None:
    """With another connection holding SQLite's write lock, a dry run still answers (and says what would
    happen), where a real write would wait for the lock."""
    store = SqliteStore(tmp_path / "m.db")
    store.apply([vs("a")])
    other = sqlite3.connect(str(tmp_path / "m.db"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # hold the write lock
    try:
        done: list[list[str]] = []
        worker = threading.Thread(
            target=lambda: done.append([r.action for r in store.apply([vs("a", "ratings"), vs("b")], dry_run=True)])
        )
        worker.start()
        worker.join(timeout=5)  # a write would wait up to busy_timeout (10 s) here
        assert done == [["configured", "created"]]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [r.name for r in store.list()] == ["a"] and store.revision() == 1
    store.close()


def test_a_dry_run_does_not_grow_the_wal(tmp_path: Path) -> None:
    """A large dry run leaves the write-ahead log as it was; the WAL is capped after checkpoints."""
    store = SqliteStore(tmp_path / "m.db")
    store.apply([vs("seed")])
    wal = tmp_path / "m.db-wal"
    before = wal.stat().st_size
    store.apply([vs(f"n{i}", padding=2000) for i in range(3000)], dry_run=True)
    assert wal.stat().st_size == before and store.revision() == 1
    assert store._conn.execute("PRAGMA journal_size_limit").fetchone()[0] == WAL_SIZE_LIMIT
    store.close()


def test_a_full_disk_raises_storage_full_and_changes_nothing(small_tmpfs: Path) -> None:
    """When the disk fills mid-apply the transaction rolls back whole: StorageFull, same objects, same revision."""
    store = SqliteStore(small_tmpfs / "m.db")
    store.apply([vs("kept")])
    before = (store.revision(), [(r.name, r.metadata.resource_version) for r in store.list()])
    filler = fill(small_tmpfs / "filler")
    with pytest.raises(StorageFull, match="disk holding the store is full"):
        store.apply([vs(f"big{i}", padding=60_000) for i in range(20)])
    assert (store.revision(), [(r.name, r.metadata.resource_version) for r in store.list()]) == before
    filler.unlink()
    assert [r.action for r in store.apply([vs("after")])] == ["created"]  # and it works again once there is room
    store.close()
