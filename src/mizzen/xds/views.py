"""Read-only views of resource mappings that the SotW and delta streams share instead of copying.

A push to a thousand alike proxies hands each the same read-only ``{name: Any bytes}`` mapping of a
type, and after an edit each stream asks the same question: which names differ between the mapping it
last covered and the new one. :func:`changes` answers it once per pair of mapping objects, so a push
that changed one ClusterLoadAssignment of three thousand costs each proxy a few lookups instead of a
walk over every name. :class:`Scoped` is a proxy's subscribed part of a mapping without a copy, and
:class:`Layered` a proxy's own few resources of a type over the thousands its scope shares, also without
a copy (its changes come from the shared part's memoized diff and its own part).
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator, Mapping
from typing import Any as AnyType
from typing import TypeVar

Resources = Mapping[str, bytes]  # resource name -> serialized google.protobuf.Any


class Scoped(Mapping[str, bytes]):
    """The ``names`` part of ``resources``, without copying it."""

    __slots__ = ("_names", "_resources")

    def __init__(self, resources: Resources, names: frozenset[str]) -> None:
        self._resources = resources
        self._names = names

    def __getitem__(self, name: str) -> bytes:
        if name not in self._names:
            raise KeyError(name)
        return self._resources[name]

    def get(self, name: str, default: AnyType = None) -> AnyType:
        """The resource's bytes when in scope and present, else ``default`` (no exception on the way)."""
        return self._resources.get(name, default) if name in self._names else default

    def __contains__(self, name: object) -> bool:
        return name in self._names and name in self._resources

    def __iter__(self) -> Iterator[str]:
        if len(self._names) < len(self._resources):
            return (n for n in self._names if n in self._resources)
        return (n for n in self._resources if n in self._names)

    def __len__(self) -> int:
        return sum(1 for n in self._names if n in self._resources)


def scoped(resources: Resources, names: frozenset[str]) -> Scoped:
    """The ``names`` part of ``resources``; a view of a view is flattened (subscriptions change often)."""
    if isinstance(resources, Scoped):
        return Scoped(resources._resources, resources._names & names)
    return Scoped(resources, names)


class Layered(Mapping[str, bytes]):
    """``{**base, **top}`` without copying ``base``: iteration order, values and length are the same."""

    __slots__ = ("_len", "base", "top")

    def __init__(self, base: Resources, top: Resources) -> None:
        self.base = base
        self.top = top
        self._len = len(base) + sum(1 for n in top if n not in base)

    def __getitem__(self, name: str) -> bytes:
        found = self.top.get(name)
        return found if found is not None else self.base[name]

    def get(self, name: str, default: AnyType = None) -> AnyType:
        """The resource's bytes (``top`` first), else ``default``."""
        found = self.top.get(name)
        return found if found is not None else self.base.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.top or name in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.base
        base = self.base
        yield from (n for n in self.top if n not in base)

    def __len__(self) -> int:
        return self._len


Changes = tuple[frozenset[str], tuple[str, ...]]  # (names added or whose bytes differ, names removed)

_MAX_PAIRS = 256
_pairs: dict[tuple[int, int], tuple[Resources, Resources, Changes]] = {}
_lock = threading.Lock()


def changes(old: Resources, new: Resources) -> Changes:
    """``(names new or changed in new, names only in old)``, computed once per pair of mapping objects.

    The memo holds both mappings, so their ids cannot be reused while it knows them; it is bounded (the
    oldest pairs go first). Mappings must not change after they are first compared (the snapshot's are
    read-only views; a stream's own dicts are replaced, never mutated).
    """
    if isinstance(old, Layered) and isinstance(new, Layered):
        return _layered_changes(old, new)
    key = (id(old), id(new))
    known = _pairs.get(key)
    if known is not None and known[0] is old and known[1] is new:
        return known[2]
    get = old.get
    differ = frozenset(n for n, b in new.items() if (o := get(n)) is not b and o != b)
    gone = tuple(n for n in old if n not in new)
    with _lock:
        _pairs[key] = (old, new, (differ, gone))
        while len(_pairs) > _MAX_PAIRS:
            del _pairs[next(iter(_pairs))]
    return differ, gone


def _layered_changes(old: Layered, new: Layered) -> Changes:
    """What differs between two layered mappings: only names the shared parts' diff (memoized, so
    computed once for every proxy) or either own part mentions can, so only those are compared. Not
    memoized itself: each proxy has its own pair, and it costs a few lookups."""
    if old.base is new.base:
        base_differ: frozenset[str] = frozenset()
        base_gone: tuple[str, ...] = ()
    else:
        base_differ, base_gone = changes(old.base, new.base)
    get = old.get
    maybe = base_differ.union(old.top, new.top)
    differ = frozenset(n for n in maybe if (b := new.get(n)) is not None and (o := get(n)) is not b and o != b)
    gone = tuple(n for n in dict.fromkeys((*base_gone, *old.top)) if n not in new)
    return differ, gone


_SHARED: dict[Hashable, Hashable] = {}
_MAX_SHARED = 4096
H = TypeVar("H", bound=Hashable)


def shared_names(names: H) -> H:
    """One object per distinct set (or tuple) of names: proxies alike subscribe to the same thousands
    of names, so each keeps a reference instead of its own copy."""
    found = _SHARED.get(names)
    if found is None:
        if len(_SHARED) >= _MAX_SHARED:
            _SHARED.clear()
        found = _SHARED.setdefault(names, names)
    return found  # type: ignore[return-value]  # equal keys are the same type here
