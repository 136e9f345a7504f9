"""The configuration store: revisioned Kubernetes-shaped objects with ordered change events.

:class:`SqliteStore` is the default (durable); :class:`MemoryStore` holds the same semantics in memory;
``mizzen.store.postgres.PostgresStore`` shares one PostgreSQL database between control-plane replicas
(imported on demand: only it loads psycopg). :func:`open_store` picks one from a ``--store`` value.
"""

from .errors import Compacted, Conflict, Invalid, NotFound, SchemaTooNew, StoreError, Unavailable
from .interface import ApplyResult, ChangeEvent, ConfigStore, Key
from .memory import MemoryStore
from .sqlite import SqliteStore

__all__ = [
    "ApplyResult",
    "ChangeEvent",
    "Compacted",
    "ConfigStore",
    "Conflict",
    "Invalid",
    "Key",
    "MemoryStore",
    "NotFound",
    "SchemaTooNew",
    "SqliteStore",
    "StoreError",
    "Unavailable",
]
