"""Logic every store implementation shares: server-set metadata, apply planning and watching.

Theory of operation: an implementation supplies a *transaction* (:class:`Txn`) that reads and writes
objects and records events; :class:`StoreBase` decides what each applied document does (created,
configured or unchanged), fills Kubernetes metadata and allocates revisions. Because the decision
code is shared, both implementations behave identically by construction and the contract suite pins
the behaviour once.

Watchers may live on any asyncio loop while writes happen on other threads (the HTTP API runs store
calls in a worker thread), so :class:`Notifier` wakes each waiting loop thread-safely.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from mizzen.config.kinds import by_group_kind, by_kind, group_of, internal_kind
from mizzen.config.resource import Metadata, Resource

from .errors import Conflict, Invalid, NotFound, StoreError
from .interface import Action, ApplyResult, ChangeEvent, EventType, Key

log = logging.getLogger(__name__)

DEFAULT_HISTORY = 100_000
"""How many change events a store keeps for watchers that resume."""


class Txn(Protocol):
    """One open transaction: reads see earlier writes of the same transaction."""

    revision: int

    def get(self, key: Key) -> Resource | None:
        """The stored resource with this key, or None."""

    def put(self, resource: Resource) -> None:
        """Insert or replace a resource."""

    def remove(self, key: Key) -> None:
        """Delete the resource with this key."""

    def record(self, event: ChangeEvent) -> None:
        """Append a change event to the history."""


def utc_now() -> datetime:
    """The current time (the default store clock)."""
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC to the second, as Kubernetes writes ``creationTimestamp``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def resource_to_json(resource: Resource) -> str:
    """Serialise a stored resource (without its origin, which is not stored)."""
    return json.dumps(resource.to_json(), sort_keys=True, separators=(",", ":"))


def resource_from_json(text: str | dict[str, Any]) -> Resource:
    """Rebuild a stored resource from :func:`resource_to_json` output."""
    doc = json.loads(text) if isinstance(text, str) else text
    meta = doc["metadata"]
    info = by_group_kind(group_of(doc["apiVersion"]), doc["kind"])  # "Gateway" may be KubernetesGateway
    return Resource(
        api_version=doc["apiVersion"],
        kind=info.kind if info else doc["kind"],
        metadata=Metadata(
            name=meta["name"],
            namespace=meta.get("namespace", "default" if info is None or info.namespaced else ""),
            labels=meta.get("labels", {}),
            annotations=meta.get("annotations", {}),
            uid=meta.get("uid", ""),
            resource_version=meta.get("resourceVersion", ""),
            generation=meta.get("generation", 0),
            creation_timestamp=meta.get("creationTimestamp", ""),
        ),
        spec=doc.get("spec", {}),
    )


def event_type(value: str) -> EventType:
    """A stored event type, checked (a database edited by hand could hold anything)."""
    if value == "ADDED":
        return "ADDED"
    if value == "MODIFIED":
        return "MODIFIED"
    if value == "DELETED":
        return "DELETED"
    raise StoreError(f"corrupt event type {value!r} in the store")


def _same_content(old: Resource, new: Resource) -> bool:
    return (
        _plain(old.spec) == _plain(new.spec)
        and dict(old.metadata.labels) == dict(new.metadata.labels)
        and dict(old.metadata.annotations) == dict(new.metadata.annotations)
    )


def _plain(value: Any) -> Any:
    # Compare specs as JSON would see them: a tuple and a list with equal items are equal.
    return json.loads(json.dumps(value, sort_keys=True))


def check_storable(resource: Resource) -> None:
    """Raise :class:`Invalid` for objects no store may hold."""
    kind, ns, name = resource.key
    info = by_kind(kind) or internal_kind(kind)
    if info is None:
        raise Invalid(kind, ns, name, f'kind "{kind}" is not a kind Mizzen stores')
    if not name:
        raise Invalid(kind, ns, name, "metadata.name is required")
    if not ns and info.namespaced:
        raise Invalid(kind, ns, name, "metadata.namespace must not be empty")


class Notifier:
    """Wakes asyncio watchers (on any loop) when a transaction commits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def register(self) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        """A new waiter on the running loop, woken by :meth:`notify`."""
        waiter = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._waiters.add(waiter)
        return waiter

    def unregister(self, waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        """Forget a waiter (its watch ended)."""
        with self._lock:
            self._waiters.discard(waiter)

    def notify(self) -> None:
        """Wake every waiter, each on its own event loop (callable from any thread)."""
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:
                # The watcher's loop is closed; its generator will never run again.
                log.debug("dropping a watcher whose event loop is closed")
                self.unregister((loop, event))


class StoreBase(ABC):
    """Apply/delete semantics and watching on top of an implementation's transactions."""

    def __init__(self, clock: Callable[[], datetime] = utc_now) -> None:
        self._clock = clock
        self._notifier = Notifier()

    @abstractmethod
    def _transaction(self, *, commit: bool) -> AbstractContextManager[Txn]:
        """Open a transaction; it commits on clean exit when ``commit``, else rolls back."""

    @abstractmethod
    def events_since(self, revision: int) -> list[ChangeEvent]:
        """Every change after ``revision``, in order (raises :class:`~mizzen.store.errors.Compacted` if pruned)."""

    def apply(self, resources: Sequence[Resource], *, dry_run: bool = False) -> list[ApplyResult]:
        """See :meth:`mizzen.store.interface.ConfigStore.apply`."""
        for resource in resources:
            check_storable(resource)
        now = timestamp(self._clock())
        with self._transaction(commit=not dry_run) as txn:
            results = [self._apply_one(txn, r, now) for r in resources]
        if not dry_run and any(r.action != "unchanged" for r in results):
            self._notifier.notify()
        return results

    def _apply_one(self, txn: Txn, new: Resource, now: str) -> ApplyResult:
        old = txn.get(new.key)
        wanted_rv = new.metadata.resource_version
        if wanted_rv and (old is None or old.metadata.resource_version != wanted_rv):
            raise Conflict(*new.key, f"resourceVersion {wanted_rv} is stale; re-read the object and retry")
        if old is not None and _same_content(old, new):
            return ApplyResult(new.key, "unchanged", old)
        txn.revision += 1
        rv = str(txn.revision)
        action: Action
        event_type: EventType
        if old is None:
            action, event_type = "created", "ADDED"
            stored = new.with_metadata(uid=str(uuid.uuid4()), resource_version=rv, generation=1, creation_timestamp=now)
        else:
            action, event_type = "configured", "MODIFIED"
            spec_changed = _plain(old.spec) != _plain(new.spec)
            stored = new.with_metadata(
                uid=old.metadata.uid,
                resource_version=rv,
                generation=old.metadata.generation + (1 if spec_changed else 0),
                creation_timestamp=old.metadata.creation_timestamp,
            )
        stored = Resource(stored.api_version, stored.kind, stored.metadata, _plain(stored.spec))
        txn.put(stored)
        txn.record(ChangeEvent(txn.revision, event_type, stored))
        return ApplyResult(new.key, action, stored)

    def delete(self, keys: Iterable[Key]) -> list[Resource]:
        """See :meth:`mizzen.store.interface.ConfigStore.delete`."""
        deleted: list[Resource] = []
        with self._transaction(commit=True) as txn:
            for key in keys:
                old = txn.get(key)
                if old is None:
                    raise NotFound(*key)
                txn.revision += 1
                gone = old.with_metadata(resource_version=str(txn.revision))
                txn.remove(key)
                txn.record(ChangeEvent(txn.revision, "DELETED", gone))
                deleted.append(gone)
        if deleted:
            self._notifier.notify()
        return deleted

    async def watch(self, from_revision: int) -> AsyncIterator[ChangeEvent]:
        """See :meth:`mizzen.store.interface.ConfigStore.watch`."""
        waiter = self._notifier.register()
        last = from_revision
        try:
            while True:
                # Clear before reading: a commit between the read and the wait still wakes us.
                waiter[1].clear()
                for event in await self._watch_read(last):
                    last = event.revision
                    yield event
                await self._watch_wait(waiter[1])
        finally:
            self._notifier.unregister(waiter)

    async def _watch_read(self, after: int) -> list[ChangeEvent]:
        """The events a watcher reads after being woken (a networked store overrides this)."""
        return self.events_since(after)

    async def _watch_wait(self, woken: asyncio.Event) -> None:
        """Wait until a commit wakes the watcher (a networked store may also wake it periodically)."""
        await woken.wait()


def iter_filtered(resources: Iterable[Resource], kind: str | None, namespace: str | None) -> Iterator[Resource]:
    """Resources matching the optional kind and namespace filters."""
    for r in resources:
        if (kind is None or r.kind == kind) and (namespace is None or r.namespace == namespace):
            yield r
