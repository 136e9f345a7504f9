"""The vocabulary of the store: the :class:`ConfigStore` protocol and the values it returns.

A store keeps one object per (kind, namespace, name). Every change bumps a global, monotonic
*revision*; each changed object gets its own revision, which is also its ``resourceVersion``. A
change is recorded as a :class:`ChangeEvent`, so a watcher that remembers the last revision it saw
can resume without missing or reordering anything.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from mizzen.config.resource import Resource

Key = tuple[str, str, str]
"""(kind, namespace, name)"""

Action = Literal["created", "configured", "unchanged"]
EventType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class ApplyResult:
    """What one applied document did: ``created``, ``configured`` or ``unchanged``."""

    key: Key
    action: Action
    resource: Resource


@dataclass(frozen=True)
class ChangeEvent:
    """One change, in revision order. For ``DELETED`` the resource is the object's last state."""

    revision: int
    type: EventType
    resource: Resource


class ConfigStore(Protocol):
    """Durable, revisioned configuration objects with ordered change events."""

    def apply(self, resources: Sequence[Resource], *, dry_run: bool = False) -> builtins.list[ApplyResult]:
        """Create or update every resource in one transaction: all are stored or none is.

        Raises :class:`~mizzen.store.errors.Invalid` or :class:`~mizzen.store.errors.Conflict`
        (a stale ``resourceVersion``); nothing is stored then. ``dry_run`` reports without storing.
        """
        ...

    def delete(self, keys: Iterable[Key]) -> builtins.list[Resource]:
        """Delete every key in one transaction; any missing key raises NotFound and deletes nothing."""
        ...

    def get(self, kind: str, namespace: str, name: str) -> Resource:
        """One object; raises :class:`~mizzen.store.errors.NotFound`."""
        ...

    def list(self, kind: str | None = None, namespace: str | None = None) -> builtins.list[Resource]:
        """Objects sorted by (kind, namespace, name), optionally filtered."""
        ...

    def revision(self) -> int:
        """The revision of the last committed change (0 for an empty, new store)."""
        ...

    def snapshot(self) -> tuple[int, builtins.list[Resource]]:
        """The revision and all objects, read consistently (list, then watch from the revision)."""
        ...

    def events_since(self, revision: int) -> builtins.list[ChangeEvent]:
        """Events with a revision greater than ``revision``, oldest first.

        Raises :class:`~mizzen.store.errors.Compacted` when that history is no longer kept.
        """
        ...

    def watch(self, from_revision: int) -> AsyncIterator[ChangeEvent]:
        """Every event after ``from_revision``, in order, then new ones as they are committed."""
        ...

    def close(self) -> None:
        """Release the store's resources (database connection)."""
        ...
