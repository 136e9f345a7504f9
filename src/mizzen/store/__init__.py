"""The configuration store: revisioned Kubernetes-shaped objects with ordered change events.

:class:`SqliteStore` is the default (durable); :class:`MemoryStore` holds the same semantics in memory.
"""

from .errors import Compacted, Conflict, Invalid, NotFound, StoreError
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
    "SqliteStore",
    "StoreError",
]
