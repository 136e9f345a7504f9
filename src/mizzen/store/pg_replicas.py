"""Replica coordination on PostgreSQL: heartbeats, shared proxy records, advisory-lock leadership.

Theory of operation. Each replica has one coordination :class:`~mizzen.store.postgres.Session` (its own
connection, with keepalives and ``tcp_user_timeout`` on both ends, so the server drops it about 2 s
after its replica stops answering). A beat, on that session:

1. takes the leadership if free (``pg_try_advisory_lock``) or confirms the session is still alive when it
   holds it: a session-level advisory lock is released by PostgreSQL the moment its session ends, so a
   stopped, killed or cut-off leader loses it without anyone's help, and the next beat of another
   replica takes it. A beat that fails drops the session, and with it the leadership;
2. upserts the replica's row (heartbeat = the database's ``now()``) and, when they changed, its proxy rows;
3. reads every replica (leader = the one whose session pid holds the lock in ``pg_locks``) and the proxies
   of the other live replicas.

The leader also deletes replicas that have not beaten for :data:`FORGET_AFTER_S` (their proxy rows go
with them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .pg_schema import SCHEMA
from .postgres import Session
from .replicas import ALIVE_SECONDS, Replica, View, proxy_body

LEADER_LOCK = 0x6D697A7A00000002  # an advisory-lock key of our own ("mizz" + 2)
_LOCK_CLASS, _LOCK_OBJ = LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF  # as pg_locks shows a bigint key

FORGET_AFTER_S = 3600.0
"""A replica silent for this long is removed from ``mizzen status``."""

_UPSERT = f"""
INSERT INTO {SCHEMA}.replicas (name, api_url, xds_address, started_at, heartbeat_at, session_pid)
VALUES (%s, %s, %s, %s, now(), pg_backend_pid())
ON CONFLICT (name) DO UPDATE SET api_url = EXCLUDED.api_url, xds_address = EXCLUDED.xds_address,
    started_at = EXCLUDED.started_at, heartbeat_at = now(), session_pid = EXCLUDED.session_pid
"""
_REPLICAS = f"""
SELECT r.name, r.api_url, r.xds_address, r.started_at, EXTRACT(EPOCH FROM now() - r.heartbeat_at)::float8,
       EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid = r.session_pid
               AND l.classid = %s::oid AND l.objid = %s::oid AND l.objsubid = 1)
FROM {SCHEMA}.replicas r ORDER BY r.name
"""
_REMOTE_PROXIES = f"""
SELECT p.body FROM {SCHEMA}.proxy_connections p JOIN {SCHEMA}.replicas r ON r.name = p.replica
WHERE p.replica <> %s AND r.heartbeat_at > now() - make_interval(secs => %s) ORDER BY p.node_id
"""


class PostgresCoordination:
    """:class:`~mizzen.store.replicas.Coordination` through one dedicated PostgreSQL session."""

    shares_proxies = True

    def __init__(self, session: Session) -> None:
        self._session = session
        self._leading = False

    def beat(self, me: Replica, proxies: Sequence[dict[str, Any]] | None) -> View:
        """See :meth:`mizzen.store.replicas.Coordination.beat`."""
        try:
            return self._beat(me, proxies)
        except Exception:
            self._leading = False  # the session was dropped, and the lock with it
            raise

    def _beat(self, me: Replica, proxies: Sequence[dict[str, Any]] | None) -> View:
        if not self._leading:
            rows = self._session.query("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
            self._leading = bool(rows and rows[0][0])
        statements: list[tuple[str, Sequence[Any]]] = [(_UPSERT, (me.name, me.api_url, me.xds_address, me.started_at))]
        if proxies is not None:
            statements.append((f"DELETE FROM {SCHEMA}.proxy_connections WHERE replica = %s", (me.name,)))
            statements += [
                (
                    f"INSERT INTO {SCHEMA}.proxy_connections (replica, node_id, body) VALUES (%s, %s, %s)",
                    (me.name, str(p.get("nodeId", p.get("id", ""))), proxy_body(p)),
                )
                for p in proxies
            ]
        if self._leading:
            statements.append(
                (
                    f"DELETE FROM {SCHEMA}.replicas WHERE heartbeat_at < now() - make_interval(secs => %s)",
                    (FORGET_AFTER_S,),
                )
            )
        statements.append((_REPLICAS, (_LOCK_CLASS, _LOCK_OBJ)))
        replica_rows = self._session.transaction(statements)
        proxy_rows = self._session.query(_REMOTE_PROXIES, (me.name, ALIVE_SECONDS))
        replicas = tuple(
            Replica(str(n), str(api), str(xds), float(started), float(age), bool(lead))
            for n, api, xds, started, age, lead in replica_rows
        )
        remote = tuple(json.loads(str(row[0])) for row in proxy_rows)
        return View(leader=self._leading, replicas=replicas, remote_proxies=remote)

    def close(self) -> None:
        """End the session (the leadership goes with it)."""
        self._leading = False
        self._session.close()
