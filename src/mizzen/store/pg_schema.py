"""The PostgreSQL store's schema as an ordered list of migrations (pure data; applied by ``postgres.py``).

Every table lives in the ``mizzen`` schema, so the database may be shared with other applications.
``mizzen.schema_version`` has one row per applied migration. A migration is never edited once
released: a change to the schema is a new migration appended to :data:`MIGRATIONS`. All pending
migrations run in one transaction with their version rows, so a failed upgrade leaves the database as
it was.

Tables (migration 1):

- ``meta``: the current revision (one row, ``key = 'revision'``). Writers lock this row first, which
  serialises writers across replicas, so revisions commit in revision order and a reader never sees
  revision N+1 without N.
- ``objects``: the current state, one row per (kind, namespace, name); ``body`` is the object's JSON.
- ``events``: the change history, one row per revision, trimmed to the store's ``history``.

Tables (migration 2, the replicas of one control plane; see ``store/replicas.py``):

- ``replicas``: one row per control-plane replica: its addresses, when it started, its last heartbeat
  (the database's clock, so replicas' clocks need not agree) and the backend pid of its coordination
  session (the leader is the replica whose session holds the leadership lock, read from ``pg_locks``).
- ``proxy_connections``: the proxies connected to each replica (their ``proxy-status`` view as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA = "mizzen"
"""The PostgreSQL schema (namespace) that holds Mizzen's tables."""

VERSION_TABLE = f"{SCHEMA}.schema_version"

CREATE_VERSION_TABLE = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    version integer PRIMARY KEY,
    description text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One step of the schema: ``sql`` takes the database from ``version - 1`` to ``version``."""

    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "objects, change events and the revision counter",
        f"""
        CREATE TABLE {SCHEMA}.meta (key text PRIMARY KEY, value bigint NOT NULL);
        INSERT INTO {SCHEMA}.meta (key, value) VALUES ('revision', 0);
        CREATE TABLE {SCHEMA}.objects (
            kind text NOT NULL, namespace text NOT NULL, name text NOT NULL, body text NOT NULL,
            PRIMARY KEY (kind, namespace, name)
        );
        CREATE TABLE {SCHEMA}.events (
            revision bigint PRIMARY KEY,
            type text NOT NULL CHECK (type IN ('ADDED', 'MODIFIED', 'DELETED')),
            body text NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "control-plane replicas and the proxies connected to each",
        f"""
        CREATE TABLE {SCHEMA}.replicas (
            name text PRIMARY KEY, api_url text NOT NULL, xds_address text NOT NULL,
            started_at double precision NOT NULL, heartbeat_at timestamptz NOT NULL, session_pid integer
        );
        CREATE TABLE {SCHEMA}.proxy_connections (
            replica text NOT NULL REFERENCES {SCHEMA}.replicas (name) ON DELETE CASCADE,
            node_id text NOT NULL, body text NOT NULL,
            PRIMARY KEY (replica, node_id)
        );
        """,
    ),
)


def check_sequence(migrations: tuple[Migration, ...]) -> None:
    """Raise ``ValueError`` unless the versions are exactly 1, 2, 3, ... in order."""
    for index, migration in enumerate(migrations, start=1):
        if migration.version != index:
            raise ValueError(f"migration {index} has version {migration.version}; versions must be 1, 2, 3, ...")
