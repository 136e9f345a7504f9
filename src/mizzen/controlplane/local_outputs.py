"""Each sidecar's own output (listeners, inbound clusters, upstream routes) reused while what it read is unchanged.

Theory of operation
-------------------
A sidecar's own part (:func:`~mizzen.translate.sharing.local_resources`) is a pure function of its
:class:`~mizzen.translate.scope.Scope`: the proxy, the scope's fields, and the fields of the
:class:`~mizzen.translate.model.MeshSnapshot` behind it. Which of those it reads depends on the proxy
(an inbound port reads the authorization policies, an upstream the VirtualServices, a capture sidecar
the services), so instead of a hand-written key :class:`LocalOutputCache` *records* the reads: the
translation runs on a copy of the scope (and of its mesh) whose attribute lookups note each field
read. The entry keeps the output with the value of every field read; on the next snapshot the entry
is reused when each of those values is the same object as, or equal to, the new snapshot's. A field
the translation did not read cannot change its output, so a reused entry equals a fresh translation
(``tests/unit/controlplane/test_incremental.py`` checks it byte for byte over random edit sequences).

Reads are recorded per field, not per item: a proxy that read the VirtualServices is translated again
after any VirtualService change. Private scope fields are indexes built from public ones and record
those (``_DERIVED``); a new private field must say what it is derived from, or this module refuses to
load. The mesh's registry is recorded one level down, per registry field (its services apart from
its endpoints; its cached indexes likewise, ``_REGISTRY_DERIVED``): every sidecar asks which services
select it, and endpoints change far more often than services. Values compare by identity first
(unchanged config keeps its parsed objects, see :mod:`mizzen.controlplane.incremental`), then by
equality, memoized per pair of objects for one snapshot, so a thousand proxies reading one changed
tuple compare it once.

Each entry also keeps the proxy's merged view of a type (the shared resources with its own on top, a
:class:`~mizzen.xds.views.Layered` view, not a copy), keyed by the shared part's content version, so an
unchanged type is the same object from push to push and a changed one is diffed through its shared part.

Entries of the push loop's cache live while their proxy is in the proxy table (:meth:`LocalOutputCache.next_generation`
with ``known``); without it, two generations, as in :class:`~mizzen.controlplane.incremental.ServiceOutputCache`.
"""

from __future__ import annotations

import contextvars
import dataclasses
import functools
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from mizzen.registry.model import RegistrySnapshot
from mizzen.translate.model import MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope
from mizzen.translate.sharing import local_resources
from mizzen.xds import types as xt
from mizzen.xds.encode import encode
from mizzen.xds.snapshot import Resources, content_version
from mizzen.xds.views import Layered

# Each xDS type URL and the ProxyResources field holding it (the push path's one table of them).
TYPES = (
    (xt.CLUSTER, "clusters"),
    (xt.ENDPOINT, "endpoints"),
    (xt.LISTENER, "listeners"),
    (xt.ROUTE, "routes"),
    (xt.SECRET, "secrets"),
)

SCOPE = "scope"
MESH = "mesh"
REGISTRY = "registry"  # the mesh's registry snapshot: its services apart from its endpoints
Read = tuple[str, str]  # (SCOPE, MESH or REGISTRY; field name)

# Scope's private fields are indexes and memo tables of public ones: a read of one is a read of these.
_DERIVED: dict[str, tuple[str, ...]] = {
    "_by_host": ("services",),
    "_rules_by_host": ("destination_rules",),
    "_wildcard_rules": ("destination_rules",),
    "_policies": ("destination_rules", "proxy"),  # merged per host for the scope's proxy
}


def _scope_reads() -> dict[str, tuple[Read, ...]]:
    out: dict[str, tuple[Read, ...]] = {}
    for f in dataclasses.fields(Scope):
        if f.name == "mesh":
            continue  # the recording mesh notes its own fields
        if f.name.startswith("_"):
            if f.name not in _DERIVED:
                raise RuntimeError(f"Scope.{f.name}: say in local_outputs._DERIVED which fields it is built from")
            out[f.name] = tuple((SCOPE, d) for d in _DERIVED[f.name])
        else:
            out[f.name] = ((SCOPE, f.name),)
    return out


# The registry's cached indexes, likewise. A sidecar's own part asks which services select it (inbound),
# so it reads the services; an endpoint change must not rebuild every sidecar's own part.
_REGISTRY_DERIVED: dict[str, tuple[str, ...]] = {
    "_endpoint_index": ("endpoints",),
    "_selector_index": ("services",),
    "_service_order": ("services",),
}


def _registry_reads() -> dict[str, tuple[Read, ...]]:
    out: dict[str, tuple[Read, ...]] = {f.name: ((REGISTRY, f.name),) for f in dataclasses.fields(RegistrySnapshot)}
    for name, value in vars(RegistrySnapshot).items():
        if isinstance(value, functools.cached_property):
            if name not in _REGISTRY_DERIVED:
                raise RuntimeError(
                    f"RegistrySnapshot.{name}: say in local_outputs._REGISTRY_DERIVED which fields it is built from"
                )
            out[name] = tuple((REGISTRY, d) for d in _REGISTRY_DERIVED[name])
    return out


_SCOPE_READS = _scope_reads()
# The registry itself is not a read: the recording mesh hands out a recording registry noting its fields.
_MESH_READS = {f.name: ((MESH, f.name),) for f in dataclasses.fields(MeshSnapshot) if f.name != "registry"}
_REGISTRY_READS = _registry_reads()
_LOG: contextvars.ContextVar[set[Read] | None] = contextvars.ContextVar("mizzen_local_reads", default=None)


def _note(table: Mapping[str, tuple[Read, ...]], name: str) -> None:
    reads = table.get(name)
    if reads is not None:
        log = _LOG.get()
        if log is not None:
            log.update(reads)


class _RecordingScope(Scope):
    """A Scope noting each field read into the current log (also in copies made with ``replace``)."""

    def __getattribute__(self, name: str) -> Any:
        _note(_SCOPE_READS, name)
        return super().__getattribute__(name)


class _RecordingMesh(MeshSnapshot):
    """A MeshSnapshot noting each field read into the current log."""

    def __getattribute__(self, name: str) -> Any:
        _note(_MESH_READS, name)
        return super().__getattribute__(name)


class _RecordingRegistry(RegistrySnapshot):
    """A RegistrySnapshot noting each field (or index built from one) read into the current log."""

    def __getattribute__(self, name: str) -> Any:
        _note(_REGISTRY_READS, name)
        return super().__getattribute__(name)


def _recording(scope: Scope) -> _RecordingScope:
    registry = object.__new__(_RecordingRegistry)
    registry.__dict__.update(vars(scope.mesh.registry))  # with the indexes already built
    mesh = object.__new__(_RecordingMesh)
    mesh.__dict__.update(vars(scope.mesh))
    mesh.__dict__["registry"] = registry
    rec = object.__new__(_RecordingScope)
    # Without a cached `telemetry`: computing it again reads (and so records) what it is made of.
    rec.__dict__.update({k: v for k, v in vars(scope).items() if k != "telemetry"})
    rec.__dict__["mesh"] = mesh
    return rec


@contextmanager
def recording() -> Iterator[set[Read]]:
    """Note every field a :func:`recording` scope is read for, into the yielded set."""
    log: set[Read] = set()
    token = _LOG.set(log)
    try:
        yield log
    finally:
        _LOG.reset(token)


def read_value(scope: Scope, read: Read) -> object:
    """The value of one recorded field in ``scope`` (or in its mesh)."""
    owner, name = read
    if owner == REGISTRY:
        return object.__getattribute__(scope.mesh.registry, name)
    return object.__getattribute__(scope if owner == SCOPE else scope.mesh, name)


def translate_recorded(scope: Scope) -> tuple[ProxyResources, dict[Read, object]]:
    """The sidecar's own part, and the value of every scope and mesh field it read."""
    rec = _recording(scope)
    with recording() as log:
        out = local_resources(rec.proxy, rec.mesh, rec)
    log.add((SCOPE, "proxy"))
    return out, {r: read_value(scope, r) for r in sorted(log)}


def encode_all(res: ProxyResources) -> dict[str, Resources]:
    """Every type of ``res``, encoded (through the encoder's content cache)."""
    return {t: encode(t, getattr(res, attr)) for t, attr in TYPES}


@dataclass(frozen=True)
class LocalOutput:
    """One sidecar's own part as JSON, encoded per type, and each type's content version."""

    resources: ProxyResources
    encoded: Mapping[str, Resources]
    versions: Mapping[str, str]


@dataclass(frozen=True)
class _Entry:
    reads: Mapping[Read, object]
    output: LocalOutput
    # type URL -> (shared part's version, the shared and own resources in one read-only mapping)
    merged: dict[str, tuple[str, Resources]] = dataclasses.field(default_factory=dict)


class LocalOutputCache:
    """Sidecars' own parts by proxy id, reused while every field they read is unchanged (module docstring)."""

    def __init__(self) -> None:
        self._current: dict[str, _Entry] = {}
        self._previous: dict[str, _Entry] = {}
        # (id(old), id(new)) -> (old, new, equal): holding both keeps the ids from being reused.
        self._same: dict[tuple[int, int], tuple[object, object, bool]] = {}
        self.hits = 0
        self.misses = 0

    def next_generation(self, known: Callable[[str], bool] | None = None) -> None:
        """A new mesh snapshot. With ``known`` (is this ``Proxy.id`` still in the proxy table?), every
        entry of a known proxy is kept and the others dropped: a snapshot may ask for a few proxies' own parts only
        (proxies connecting) or none (an endpoint-only push), which says nothing about the rest. Without
        it, entries unused since the snapshot before are dropped; a generation in which no own part was
        asked for does not count."""
        if known is not None:
            entries = {**self._previous, **self._current}
            self._previous, self._current = {i: e for i, e in entries.items() if known(i)}, {}
        elif self._current:
            self._previous, self._current = self._current, {}
        self._same = {}

    def __len__(self) -> int:
        return len(self._current.keys() | self._previous.keys())

    def local(self, scope: Scope) -> LocalOutput:
        """The own part of ``scope.proxy`` (a sidecar) in ``scope``."""
        proxy_id = scope.proxy.id
        entry = self._current.get(proxy_id) or self._previous.get(proxy_id)
        if entry is not None and all(self._unchanged(old, read_value(scope, r)) for r, old in entry.reads.items()):
            self.hits += 1
        else:
            self.misses += 1
            resources, reads = translate_recorded(scope)
            encoded = encode_all(resources)
            versions = {t: content_version(encoded[t]) for t, _ in TYPES}
            entry = _Entry(reads, LocalOutput(resources, encoded, versions))
        self._current[proxy_id] = entry
        return entry.output

    def merged(self, proxy_id: str, type_url: str, shared: Resources, shared_version: str) -> Resources:
        """The shared resources of a type with the proxy's own (from its last :meth:`local`) on top, as one
        read-only mapping; the same object as last time when neither part's content changed."""
        entry = self._current[proxy_id]
        known = entry.merged.get(type_url)
        if known is not None and known[0] == shared_version:
            return known[1]
        out: Resources = Layered(shared, entry.output.encoded[type_url])
        entry.merged[type_url] = (shared_version, out)
        return out

    def _unchanged(self, old: object, new: object) -> bool:
        if old is new:
            return True
        key = (id(old), id(new))
        known = self._same.get(key)
        if known is None:
            known = self._same[key] = (old, new, old == new)
        return known[2]
