"""The snapshot cache: the newest :class:`~mizzen.xds.snapshot.Snapshot` per node id, with wake-ups.

The control plane writes (``set``/``update_types``/``remove``); the server's streams watch their node
and re-read the cache when woken. The cache is the checked seam: a snapshot whose references do not
resolve (:meth:`~mizzen.xds.snapshot.Snapshot.consistent`) is refused with
:class:`~mizzen.xds.errors.InconsistentSnapshot` and the node keeps the snapshot it had. Waking is
idempotent, so bursts of sets coalesce into whatever the stream reads next. Per-type versions decide
what is actually sent, so setting a snapshot whose clusters are unchanged never resends clusters.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from mizzen.clock import SYSTEM_CLOCK, Clock
from mizzen.xds.snapshot import Resources, Snapshot

log = logging.getLogger(__name__)

Watcher = Callable[[], None]


class SnapshotCache:
    """Snapshots by node id. Not thread-safe: use it from the server's event loop."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK) -> None:
        self._clock = clock
        self._snapshots: dict[str, Snapshot] = {}
        self._set_times: dict[str, float] = {}
        self._watchers: dict[str, set[Watcher]] = {}

    def set(self, node_id: str, snapshot: Snapshot) -> None:
        """Publish a node's snapshot and wake its streams (unless every type version is unchanged).

        Raises :class:`~mizzen.xds.errors.InconsistentSnapshot` (and changes nothing) when the snapshot's
        references do not resolve.
        """
        previous = self._snapshots.get(node_id)
        if snapshot.same_versions(previous):
            self._snapshots[node_id] = snapshot
            return
        snapshot.check()
        self._snapshots[node_id] = snapshot
        self._set_times[node_id] = self._clock.monotonic()
        self._wake(node_id)

    def get(self, node_id: str) -> Snapshot | None:
        """The node's current snapshot, or None when none was set."""
        return self._snapshots.get(node_id)

    def set_time(self, node_id: str) -> float | None:
        """The clock's monotonic time of the last effective set for the node (push-latency metrics)."""
        return self._set_times.get(node_id)

    def remove(self, node_id: str) -> None:
        """Forget a node's snapshot; its open streams keep what they have and wait for a new one."""
        self._snapshots.pop(node_id, None)
        self._set_times.pop(node_id, None)

    def update_types(self, node_id: str, updates: Mapping[str, Resources]) -> Snapshot:
        """Replace only the given types of the node's snapshot (e.g. endpoints); return the new snapshot.

        Untouched types keep their versions, so only the updated types are pushed. Checked like :meth:`set`.
        """
        current = self._snapshots.get(node_id) or Snapshot()
        snapshot = current.replace(updates)
        self.set(node_id, snapshot)
        return snapshot

    def watch(self, node_id: str, watcher: Watcher) -> None:
        """Call ``watcher()`` whenever the node's snapshot changes."""
        self._watchers.setdefault(node_id, set()).add(watcher)

    def unwatch(self, node_id: str, watcher: Watcher) -> None:
        """Stop calling ``watcher`` for the node."""
        watchers = self._watchers.get(node_id)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[node_id]

    def _wake(self, node_id: str) -> None:
        for watcher in list(self._watchers.get(node_id, ())):
            try:
                watcher()
            except Exception:  # one broken watcher must not stop the others from being woken
                log.exception("snapshot watcher for %s failed", node_id)
