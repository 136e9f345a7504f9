"""An in-memory :class:`~mizzen.store.interface.ConfigStore`: real semantics, no durability.

Used by tests and by anything that wants a store without a file. A transaction works on copies and
swaps them in on commit, so a failed apply leaves nothing behind.
"""

from __future__ import annotations

import builtins
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from itertools import islice

from mizzen.config.resource import Resource

from .base import DEFAULT_HISTORY, StoreBase, iter_filtered, utc_now
from .errors import Compacted, NotFound
from .interface import ChangeEvent, Key


class _MemoryTxn:
    def __init__(self, objects: dict[Key, Resource], revision: int) -> None:
        self.objects = dict(objects)
        self.revision = revision
        self.events: list[ChangeEvent] = []

    def get(self, key: Key) -> Resource | None:
        return self.objects.get(key)

    def put(self, resource: Resource) -> None:
        self.objects[resource.key] = resource

    def remove(self, key: Key) -> None:
        del self.objects[key]

    def record(self, event: ChangeEvent) -> None:
        self.events.append(event)


class MemoryStore(StoreBase):
    """A thread-safe store held in dictionaries."""

    def __init__(self, *, history: int = DEFAULT_HISTORY, clock: Callable[[], datetime] = utc_now) -> None:
        super().__init__(clock)
        self._lock = threading.RLock()
        self._objects: dict[Key, Resource] = {}
        self._events: deque[ChangeEvent] = deque(maxlen=history)
        self._revision = 0

    @contextmanager
    def _transaction(self, *, commit: bool) -> Iterator[_MemoryTxn]:
        with self._lock:
            txn = _MemoryTxn(self._objects, self._revision)
            yield txn
            if commit:
                self._objects = txn.objects
                self._revision = txn.revision
                self._events.extend(txn.events)

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """See :meth:`mizzen.store.interface.ConfigStore.get`."""
        with self._lock:
            found = self._objects.get((kind, namespace, name))
        if found is None:
            raise NotFound(kind, namespace, name)
        return found

    def list(self, kind: str | None = None, namespace: str | None = None) -> builtins.list[Resource]:
        """See :meth:`mizzen.store.interface.ConfigStore.list`."""
        with self._lock:
            objects = list(self._objects.values())
        return sorted(iter_filtered(objects, kind, namespace), key=lambda r: r.key)

    def revision(self) -> int:
        """See :meth:`mizzen.store.interface.ConfigStore.revision`."""
        with self._lock:
            return self._revision

    def snapshot(self) -> tuple[int, builtins.list[Resource]]:
        """See :meth:`mizzen.store.interface.ConfigStore.snapshot`."""
        with self._lock:
            return self._revision, sorted(self._objects.values(), key=lambda r: r.key)

    def events_since(self, revision: int) -> builtins.list[ChangeEvent]:
        """See :meth:`mizzen.store.interface.ConfigStore.events_since`."""
        with self._lock:
            oldest = self._events[0].revision if self._events else self._revision + 1
            if revision < oldest - 1 and revision < self._revision:
                raise Compacted(revision, oldest - 1)
            # Every revision has exactly one event, so the deque is indexed by revision.
            start = max(0, revision - oldest + 1)
            return list(islice(self._events, start, None))

    def close(self) -> None:
        """Nothing to release."""
