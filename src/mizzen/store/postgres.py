"""A :class:`~mizzen.store.interface.ConfigStore` on PostgreSQL, shared by several control-plane replicas.

This is the only module that imports ``psycopg``.

Theory of operation. Every write transaction first locks the one ``meta`` row holding the revision
(``SELECT ... FOR UPDATE``), so writers on every replica take turns and commit in revision order: a
reader sees a prefix of the history, never revision N+1 without N. The transaction writes the objects
and one ``events`` row per revision, trims the history and sends ``NOTIFY mizzen_events`` (delivered
only if it commits). Each store keeps one extra connection in a thread that ``LISTEN``\\s and wakes
the local watchers; a watcher then reads ``events`` after the last revision it saw. A notification
can be lost (the listening connection dropped and reconnected), so the listener wakes every watcher
after each (re)connect and watchers also re-read every ``poll_seconds``: nothing is lost, at worst
late. The schema is created and upgraded by Mizzen (``pg_schema.MIGRATIONS``) under an advisory lock,
so replicas starting together do not race; a database migrated by a newer Mizzen is refused.

A lost database connection makes calls raise :class:`~mizzen.store.errors.Unavailable` (HTTP 503)
and is reopened on the next call. An apply whose COMMIT was cut off may or may not have been stored;
re-applying the same documents is safe (``unchanged``).

The password never travels in the URL: a URL with one is refused. libpq reads it from ``PGPASSWORD``,
``PGPASSFILE``, ``~/.pgpass`` or the URL's ``passfile`` parameter; ``password_file`` names a file
holding just the password.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg.rows import TupleRow

from mizzen.config.resource import Resource

from .base import DEFAULT_HISTORY, StoreBase, event_type, resource_from_json, resource_to_json, utc_now
from .errors import Compacted, NotFound, SchemaTooNew, StoreError, Unavailable
from .factory import is_postgres
from .interface import ChangeEvent, Key
from .pg_schema import CREATE_VERSION_TABLE, MIGRATIONS, SCHEMA, VERSION_TABLE, Migration, check_sequence

log = logging.getLogger(__name__)

Connection = psycopg.Connection[TupleRow]

CHANNEL = "mizzen_events"
"""The ``NOTIFY`` channel on which every committed revision is announced."""

LISTENER_NAME = "mizzen-listen"
"""The ``application_name`` of each store's listening connection."""

DEFAULT_POLL_SECONDS = 2.0
"""How often a watcher re-reads the history even without a notification."""

_MIGRATION_LOCK = 0x6D697A7A00000001  # an advisory-lock key of our own ("mizz" + 1)

# Applied unless the URL says otherwise: fail fast when the server is down, notice a dead peer.
_DEFAULTS = {
    "connect_timeout": "5",
    "application_name": "mizzen",
    "keepalives": "1",
    "keepalives_idle": "5",
    "keepalives_interval": "2",
    "keepalives_count": "3",
}

# A session that holds the leadership lock must end soon after its replica dies or is cut off: the
# server drops a silent client within ~2 s (so the lock moves), and the client notices as fast.
_SESSION_CLIENT = {
    "keepalives_idle": "1",
    "keepalives_interval": "1",
    "keepalives_count": "1",
    "tcp_user_timeout": "2000",
}
_SESSION_SERVER = (
    "SET tcp_keepalives_idle = 1; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 1; "
    "SET tcp_user_timeout = 2000; SET statement_timeout = 2000"
)

_META = f"{SCHEMA}.meta"
_OBJECTS = f"{SCHEMA}.objects"
_EVENTS = f"{SCHEMA}.events"


def parse_url(url: str) -> dict[str, str]:
    """The connection parameters of a PostgreSQL URL; raises :class:`StoreError` for one with a password."""
    if not is_postgres(url):
        raise StoreError("a PostgreSQL store URL starts with postgresql:// (postgresql://user@host:port/db)")
    try:
        params = pg_conninfo.conninfo_to_dict(url)
    except psycopg.Error as exc:
        # psycopg's message quotes only the bad part, never the whole URL (which may hold a password).
        raise StoreError(f"the store URL is not a valid PostgreSQL URL: {exc}") from exc
    if "password" in params:
        raise StoreError(
            "the store URL must not contain a password (command lines and logs would show it): "
            "put it in a file (--store-password-file), in PGPASSFILE or ~/.pgpass, or in PGPASSWORD"
        )
    return {k: str(v) for k, v in params.items() if v is not None}


def describe(params: dict[str, str]) -> str:
    """``postgresql://user@host:port/db`` for messages (parameters only; there is never a password)."""
    user = params.get("user", "")
    port = params.get("port", "")
    return f"postgresql://{user + '@' if user else ''}{params.get('host', '')}{':' + port if port else ''}/" + (
        params.get("dbname", "")
    )


def read_password(path: Path) -> str:
    """The password in ``path`` (its first line), for ``password_file``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StoreError(f"cannot read the store password file {path}: {exc.strerror or exc}") from exc
    password = text.splitlines()[0] if text else ""
    if not password:
        raise StoreError(f"the store password file {path} is empty")
    return password


def migrate(conn: Connection, where: str, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the schema up to the last of ``migrations``; return the version. Refuses a newer database."""
    check_sequence(migrations)
    with conn.transaction():
        # Replicas starting together take turns: the second sees the first one's work.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(CREATE_VERSION_TABLE)
        row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}").fetchone()
        current = int(row[0]) if row else 0
        if current > len(migrations):
            raise SchemaTooNew(where, current, len(migrations))
        for step in migrations[current:]:
            conn.execute(step.sql)
            conn.execute(
                f"INSERT INTO {VERSION_TABLE} (version, description) VALUES (%s, %s)",
                (step.version, step.description),
            )
            log.info("store %s: applied schema migration %d (%s)", where, step.version, step.description)
    return len(migrations)


def schema_version(conn: Connection) -> int:
    """The schema version recorded in the database (0 before the first migration)."""
    row = conn.execute("SELECT to_regclass(%s)", (VERSION_TABLE,)).fetchone()
    if row is None or row[0] is None:
        return 0
    found = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {VERSION_TABLE}").fetchone()
    return int(found[0]) if found else 0


class _PgTxn:
    def __init__(self, conn: Connection, revision: int) -> None:
        self._conn = conn
        self.revision = revision

    def get(self, key: Key) -> Resource | None:
        row = self._conn.execute(
            f"SELECT body FROM {_OBJECTS} WHERE kind = %s AND namespace = %s AND name = %s", key
        ).fetchone()
        return resource_from_json(row[0]) if row else None

    def put(self, resource: Resource) -> None:
        self._conn.execute(
            f"INSERT INTO {_OBJECTS} (kind, namespace, name, body) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (kind, namespace, name) DO UPDATE SET body = EXCLUDED.body",
            (*resource.key, resource_to_json(resource)),
        )

    def remove(self, key: Key) -> None:
        self._conn.execute(f"DELETE FROM {_OBJECTS} WHERE kind = %s AND namespace = %s AND name = %s", key)

    def record(self, event: ChangeEvent) -> None:
        self._conn.execute(
            f"INSERT INTO {_EVENTS} (revision, type, body) VALUES (%s, %s, %s)",
            (event.revision, event.type, resource_to_json(event.resource)),
        )


class PostgresStore(StoreBase):
    """A store in a PostgreSQL database (schema created and migrated on open); safe to share."""

    def __init__(
        self,
        url: str,
        *,
        password_file: Path | None = None,
        history: int = DEFAULT_HISTORY,
        clock: Callable[[], datetime] = utc_now,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        migrations: tuple[Migration, ...] = MIGRATIONS,
    ) -> None:
        super().__init__(clock)
        params = parse_url(url)
        self.where = describe(params)
        extra = {k: v for k, v in _DEFAULTS.items() if k not in params}
        if password_file is not None:
            extra["password"] = read_password(password_file)
        self._conninfo = pg_conninfo.make_conninfo(url, **extra)
        self._history = history
        self._poll = poll_seconds
        self._lock = threading.RLock()
        self._conn: Connection | None = None
        self._closed = False
        self._watch_failing = False
        with self._db() as conn:
            self.schema_version = migrate(conn, self.where, migrations)
        self._listener = _Listener(self._connect_listener, self._notifier.notify, self.where)

    def _connect(self) -> Connection:
        return psycopg.connect(self._conninfo, autocommit=True)

    def _connect_listener(self) -> Connection:
        # Named apart from the data connection, so an operator (or a test) can tell them apart.
        return psycopg.connect(self._conninfo, autocommit=True, application_name=LISTENER_NAME)

    @contextmanager
    def _db(self) -> Iterator[Connection]:
        """The shared connection (reopened if lost), with psycopg's errors turned into store errors."""
        with self._lock:
            if self._closed:
                raise StoreError(f"the store {self.where} is closed")
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = self._connect()
                yield self._conn
            except psycopg.OperationalError as exc:
                self._drop_connection()
                raise Unavailable(f"the PostgreSQL store {self.where} is unavailable: {exc}".strip()) from exc
            except psycopg.Error as exc:
                if self._conn is not None and self._conn.broken:
                    self._drop_connection()
                raise StoreError(f"PostgreSQL store {self.where}: {exc}") from exc

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[_PgTxn]:
        with self._db() as conn, conn.transaction() as tx:
            row = conn.execute(f"SELECT value FROM {_META} WHERE key = 'revision' FOR UPDATE").fetchone()
            start = int(row[0]) if row else 0
            txn = _PgTxn(conn, start)
            yield txn
            if not commit:
                raise psycopg.Rollback(tx)
            if txn.revision != start:
                conn.execute(f"UPDATE {_META} SET value = %s WHERE key = 'revision'", (txn.revision,))
                conn.execute(f"DELETE FROM {_EVENTS} WHERE revision <= %s", (txn.revision - self._history,))
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(txn.revision)))

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """See :meth:`mizzen.store.interface.ConfigStore.get`."""
        with self._db() as conn:
            row = conn.execute(
                f"SELECT body FROM {_OBJECTS} WHERE kind = %s AND namespace = %s AND name = %s",
                (kind, namespace, name),
            ).fetchone()
        if row is None:
            raise NotFound(kind, namespace, name)
        return resource_from_json(row[0])

    def list(self, kind: str | None = None, namespace: str | None = None) -> builtins.list[Resource]:
        """See :meth:`mizzen.store.interface.ConfigStore.list`."""
        with self._db() as conn:
            return self._list(conn, kind, namespace)

    def _list(self, conn: Connection, kind: str | None, namespace: str | None) -> builtins.list[Resource]:
        rows = conn.execute(
            f"SELECT body FROM {_OBJECTS} WHERE (%(kind)s::text IS NULL OR kind = %(kind)s) "
            "AND (%(ns)s::text IS NULL OR namespace = %(ns)s) ORDER BY kind, namespace, name",
            {"kind": kind, "ns": namespace},
        ).fetchall()
        return [resource_from_json(r[0]) for r in rows]

    def revision(self) -> int:
        """See :meth:`mizzen.store.interface.ConfigStore.revision`."""
        with self._db() as conn:
            return self._revision(conn)

    def _revision(self, conn: Connection) -> int:
        row = conn.execute(f"SELECT value FROM {_META} WHERE key = 'revision'").fetchone()
        return int(row[0]) if row else 0

    @contextmanager
    def _consistent_read(self) -> Iterator[Connection]:
        # One snapshot of the database for several statements.
        with self._db() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    def snapshot(self) -> tuple[int, builtins.list[Resource]]:
        """See :meth:`mizzen.store.interface.ConfigStore.snapshot`."""
        with self._consistent_read() as conn:
            return self._revision(conn), self._list(conn, None, None)

    def events_since(self, revision: int) -> builtins.list[ChangeEvent]:
        """See :meth:`mizzen.store.interface.ConfigStore.events_since`."""
        with self._consistent_read() as conn:
            current = self._revision(conn)
            oldest = conn.execute(f"SELECT MIN(revision) FROM {_EVENTS}").fetchone()
            first = int(oldest[0]) if oldest and oldest[0] is not None else current + 1
            if revision < first - 1 and revision < current:
                raise Compacted(revision, first - 1)
            rows = conn.execute(
                f"SELECT revision, type, body FROM {_EVENTS} WHERE revision > %s ORDER BY revision", (revision,)
            ).fetchall()
        return [ChangeEvent(int(r), event_type(t), resource_from_json(b)) for r, t, b in rows]

    async def _watch_read(self, after: int) -> builtins.list[ChangeEvent]:
        # Off the event loop (a round trip, or a connect timeout while the server is down), and
        # retried while the database is away: a watch outlives an outage.
        while True:
            try:
                events = await asyncio.to_thread(self.events_since, after)
            except Unavailable as exc:
                if not self._watch_failing:
                    log.warning("store watch paused: %s", exc)
                self._watch_failing = True
                await asyncio.sleep(self._poll)
                continue
            if self._watch_failing:
                log.info("store watch resumed at revision %d", after)
            self._watch_failing = False
            return events

    async def _watch_wait(self, woken: asyncio.Event) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), self._poll)

    def open_session(self, name: str) -> Session:
        """A dedicated connection named ``name`` (for what lives and dies with one session: advisory locks)."""
        return Session(pg_conninfo.make_conninfo(self._conninfo, **_SESSION_CLIENT), name, self.where)

    def close(self) -> None:
        """Stop listening and close the database connections."""
        self._listener.stop()
        with self._lock:
            self._closed = True
            self._drop_connection()


class _Listener:
    """A thread holding a ``LISTEN`` connection; every notification (and every reconnect) wakes watchers."""

    def __init__(self, connect: Callable[[], Connection], wake: Callable[[], None], where: str) -> None:
        self._connect = connect
        self._wake = wake
        self._where = where
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mizzen-store-listen", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stopping.is_set():
            try:
                with self._connect() as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    if failing:
                        log.info("store %s: listening for changes again", self._where)
                    failing = False
                    # Anything committed while nobody listened is read now (the catch-up read).
                    self._wake()
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake()
            except psycopg.Error as exc:
                if not failing:
                    log.warning("store %s: change notifications lost (%s); reconnecting", self._where, exc)
                failing = True
                self._stopping.wait(0.5)

    def stop(self) -> None:
        """Stop the thread (within about half a second) and close its connection."""
        self._stopping.set()
        self._thread.join(timeout=5)


Rows = builtins.list[tuple[Any, ...]]


class Session:
    """One connection of its own, opened on first use and reopened after a failure; errors as store errors.

    Dropping the connection (:meth:`reset`, a failure, :meth:`close`) ends the session and with it every
    session-level advisory lock it held.
    """

    def __init__(self, conninfo: str, name: str, where: str) -> None:
        self._conninfo = conninfo
        self._name = name
        self.where = where
        self._lock = threading.Lock()
        self._conn: Connection | None = None

    def query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement; its rows (none for a statement without results)."""
        return self.transaction([(sql, params)])

    def transaction(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> Rows:
        """Run the statements in one transaction; the rows of the last one."""
        with self._lock:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = psycopg.connect(self._conninfo, autocommit=True, application_name=self._name)
                    self._conn.execute(_SESSION_SERVER)
                conn = self._conn
                rows: Rows = []
                with conn.transaction():
                    for sql, params in statements:
                        cur = conn.execute(sql, params)
                        rows = cur.fetchall() if cur.description else []
                return rows
            except psycopg.Error as exc:
                self._drop()
                if isinstance(exc, psycopg.OperationalError):
                    raise Unavailable(f"the PostgreSQL store {self.where} is unavailable: {exc}".strip()) from exc
                raise StoreError(f"PostgreSQL store {self.where}: {exc}") from exc

    def reset(self) -> None:
        """End the session (its advisory locks are released with it)."""
        with self._lock:
            self._drop()

    close = reset

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None
