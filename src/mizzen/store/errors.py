"""Errors raised by a :class:`~mizzen.store.interface.ConfigStore`.

::

    StoreError
     ├── NotFound    the object does not exist (HTTP 404)
     ├── Conflict    the object changed since the caller read it (HTTP 409); re-read and retry
     ├── Invalid     the object can never be stored as given (HTTP 422); retrying will not help
     ├── Compacted   a watch asked for history older than the store keeps (HTTP 410); re-list
     ├── Unavailable the database cannot be reached now (HTTP 503); retry later
     ├── SchemaTooNew the database was migrated by a newer Mizzen; upgrade before using it
     └── StorageFull the disk is full (HTTP 507); the write was rolled back, nothing changed

Every object error names the kind, namespace and name it is about.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error."""


class _ObjectError(StoreError):
    """An error about one object, naming its kind, namespace and name."""

    def __init__(self, kind: str, namespace: str, name: str, reason: str) -> None:
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.reason = reason
        super().__init__(f"{kind} {namespace}/{name}: {reason}")


class NotFound(_ObjectError):
    """The object does not exist."""

    def __init__(self, kind: str, namespace: str, name: str, reason: str = "not found") -> None:
        super().__init__(kind, namespace, name, reason)


class Conflict(_ObjectError):
    """The caller's resourceVersion is stale: the object changed (or appeared) meanwhile."""


class Invalid(_ObjectError):
    """The object is malformed for the store (unknown kind, empty name); a permanent error."""


class StorageFull(StoreError):
    """No space left for the write; the transaction was rolled back, so the store is as it was."""

    def __init__(self, where: str, detail: str) -> None:
        self.where = where
        super().__init__(f"the disk holding the store is full ({where}: {detail})")


class Compacted(StoreError):
    """The requested revision is older than the retained change history."""

    def __init__(self, revision: int, oldest: int) -> None:
        self.revision = revision
        self.oldest = oldest
        super().__init__(f"revision {revision} has been compacted; the oldest watchable revision is {oldest}")


class Unavailable(StoreError):
    """The database cannot be reached (connection refused or lost); the operation may be retried."""


class SchemaTooNew(StoreError):
    """The database's schema version is newer than this code knows: it was migrated by a newer Mizzen."""

    def __init__(self, where: str, found: int, known: int) -> None:
        self.found = found
        self.known = known
        super().__init__(
            f"the store at {where} has schema version {found}, but this Mizzen knows versions up to {known}: "
            "it was upgraded by a newer Mizzen; upgrade Mizzen (on every replica) before using this database"
        )
