"""The default :class:`~mizzen.store.interface.ConfigStore`: one SQLite file, durable across crashes.

The database runs in WAL mode with ``synchronous=FULL``: a transaction is on disk before ``apply``
returns, so whatever the API acknowledged survives ``SIGKILL`` or power loss, and an apply that was
interrupted leaves no trace (SQLite rolls the partial transaction back on the next open). A write
that finds the disk full is rolled back too and raises :class:`~mizzen.store.errors.StorageFull`.

A dry run reads in a deferred (read-only) transaction and keeps its would-be writes in memory: it
never takes SQLite's write lock and never adds to the write-ahead log, which checkpoints truncate to
``journal_size_limit`` so it cannot grow without bound either.

Schema: ``objects`` (current state, one row per key), ``events`` (change history, one row per
revision, trimmed to ``history`` rows) and ``meta`` (the current revision).
"""

from __future__ import annotations

import builtins
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from mizzen.config.resource import Resource

from .base import DEFAULT_HISTORY, StoreBase, event_type, resource_from_json, resource_to_json, utc_now
from .errors import Compacted, NotFound, StorageFull, StoreError
from .interface import ChangeEvent, Key

log = logging.getLogger(__name__)

# After a checkpoint SQLite truncates the WAL to this size (it keeps growing without a limit otherwise:
# SQLite's default is -1). 16 MiB is about a hundred of the largest applies Mizzen accepts of typical
# objects, so a burst still checkpoints in one pass.
WAL_SIZE_LIMIT = 16 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    kind TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL,
    PRIMARY KEY (kind, namespace, name)
);
CREATE TABLE IF NOT EXISTS events (revision INTEGER PRIMARY KEY, type TEXT NOT NULL, body TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
"""


class _SqliteTxn:
    def __init__(self, conn: sqlite3.Connection, revision: int) -> None:
        self._conn = conn
        self.revision = revision

    def get(self, key: Key) -> Resource | None:
        row = self._conn.execute("SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", key).fetchone()
        return resource_from_json(row[0]) if row else None

    def put(self, resource: Resource) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO objects (kind, namespace, name, body) VALUES (?, ?, ?, ?)",
            (*resource.key, resource_to_json(resource)),
        )

    def remove(self, key: Key) -> None:
        self._conn.execute("DELETE FROM objects WHERE kind=? AND namespace=? AND name=?", key)

    def record(self, event: ChangeEvent) -> None:
        self._conn.execute(
            "INSERT INTO events (revision, type, body) VALUES (?, ?, ?)",
            (event.revision, event.type, resource_to_json(event.resource)),
        )


class _DryRunTxn(_SqliteTxn):
    """Reads the database, keeps writes in memory: what a dry run needs, without SQLite's write lock."""

    def __init__(self, conn: sqlite3.Connection, revision: int) -> None:
        super().__init__(conn, revision)
        self._overlay: dict[Key, Resource | None] = {}

    def get(self, key: Key) -> Resource | None:
        if key in self._overlay:
            return self._overlay[key]
        return super().get(key)

    def put(self, resource: Resource) -> None:
        self._overlay[resource.key] = resource

    def remove(self, key: Key) -> None:
        self._overlay[key] = None

    def record(self, event: ChangeEvent) -> None:
        pass  # a dry run has no history


class SqliteStore(StoreBase):
    """A store in one SQLite database file (created on first use)."""

    def __init__(
        self, path: Path | str, *, history: int = DEFAULT_HISTORY, clock: Callable[[], datetime] = utc_now
    ) -> None:
        super().__init__(clock)
        self.path = Path(path)
        self._history = history
        self._lock = threading.RLock()
        try:
            # Autocommit mode: transactions are opened explicitly with BEGIN IMMEDIATE.
            self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            # Another process on the same file (a second tool, a crashed predecessor's recovery) waits, not fails.
            self._conn.execute("PRAGMA busy_timeout=10000")
            self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
            self._conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[_SqliteTxn]:
        with self._lock:
            # A dry run only reads: a deferred transaction never asks for the write lock.
            self._conn.execute("BEGIN IMMEDIATE" if commit else "BEGIN DEFERRED")
            try:
                rev = self._revision_locked()
                txn = _SqliteTxn(self._conn, rev) if commit else _DryRunTxn(self._conn, rev)
                yield txn
                if not commit:
                    self._conn.execute("ROLLBACK")
                    return
                self._conn.execute("UPDATE meta SET value=? WHERE key='revision'", (txn.revision,))
                self._conn.execute("DELETE FROM events WHERE revision <= ?", (txn.revision - self._history,))
                self._conn.execute("COMMIT")
            except BaseException as exc:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error) and _disk_full(exc):
                    raise StorageFull(str(self.path), str(exc)) from exc
                raise

    def _revision_locked(self) -> int:
        row = self._conn.execute("SELECT value FROM meta WHERE key='revision'").fetchone()
        return int(row[0])

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """See :meth:`mizzen.store.interface.ConfigStore.get`."""
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM objects WHERE kind=? AND namespace=? AND name=?", (kind, namespace, name)
            ).fetchone()
        if row is None:
            raise NotFound(kind, namespace, name)
        return resource_from_json(row[0])

    def list(self, kind: str | None = None, namespace: str | None = None) -> builtins.list[Resource]:
        """See :meth:`mizzen.store.interface.ConfigStore.list`."""
        query = "SELECT body FROM objects WHERE (?1 IS NULL OR kind=?1) AND (?2 IS NULL OR namespace=?2)"
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY kind, namespace, name", (kind, namespace)).fetchall()
        return [resource_from_json(r[0]) for r in rows]

    def revision(self) -> int:
        """See :meth:`mizzen.store.interface.ConfigStore.revision`."""
        with self._lock:
            return self._revision_locked()

    def snapshot(self) -> tuple[int, builtins.list[Resource]]:
        """See :meth:`mizzen.store.interface.ConfigStore.snapshot`."""
        with self._lock:
            return self._revision_locked(), self.list()

    def events_since(self, revision: int) -> builtins.list[ChangeEvent]:
        """See :meth:`mizzen.store.interface.ConfigStore.events_since`."""
        with self._lock:
            current = self._revision_locked()
            oldest = self._conn.execute("SELECT MIN(revision) FROM events").fetchone()[0]
            first = int(oldest) if oldest is not None else current + 1
            if revision < first - 1 and revision < current:
                raise Compacted(revision, first - 1)
            rows = self._conn.execute(
                "SELECT revision, type, body FROM events WHERE revision > ? ORDER BY revision", (revision,)
            ).fetchall()
        return [ChangeEvent(int(r), event_type(t), resource_from_json(b)) for r, t, b in rows]

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def _disk_full(exc: sqlite3.Error) -> bool:
    # SQLITE_FULL: "database or disk is full" (extended codes keep the primary code in the low byte).
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_FULL
