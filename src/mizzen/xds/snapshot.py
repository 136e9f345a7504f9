"""Immutable per-proxy snapshots: per type URL a content version and ``{name: serialized Any}``.

The snapshot is the seam between the control plane (which computes config) and the ADS server (which
only delivers it). Versions are content hashes per type, so a snapshot rebuilt with unchanged clusters
keeps the cluster version and the server sends nothing for that type.

Consistency rules (checked by :meth:`Snapshot.consistent`; :class:`~mizzen.xds.cache.SnapshotCache`
refuses to publish a snapshot that breaks them):

- every RouteConfiguration named by a listener's ``rds.route_config_name`` is in the snapshot,
  otherwise the listener warms until Envoy's initial fetch timeout;
- every EDS cluster's ClusterLoadAssignment (``eds_cluster_config.service_name`` or the cluster name)
  is in the snapshot, otherwise the cluster warms likewise.

Endpoints or routes nobody references are harmless (Envoy ignores unrequested names) and not reported.

Checking decodes listeners and clusters, so references are remembered per content (bounded): per
serialized resource (the encoder hands out one shared ``bytes`` object per distinct resource, so a push
to many alike proxies decodes each shared resource once) and per type version (a content hash, so an
unchanged type costs one lookup). ``bench/snapshot_check.py`` measures what the check adds to a push.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import Any as AnyType

from google.protobuf import any_pb2

from mizzen.xds import types
from mizzen.xds.encode import encode, import_extensions, message_class
from mizzen.xds.errors import InconsistentSnapshot
from mizzen.xds.views import Layered

Resources = Mapping[str, bytes]  # resource name -> serialized google.protobuf.Any
_EMPTY: Resources = MappingProxyType({})


def content_version(resources: Resources) -> str:
    """A stable version string for one type's resources: a hash of names and bytes, order-independent."""
    h = hashlib.blake2b(digest_size=8)
    for name in sorted(resources):
        data = resources[name]
        h.update(len(name).to_bytes(4, "little"))
        h.update(name.encode())
        h.update(len(data).to_bytes(4, "little"))
        h.update(data)
    return h.hexdigest()


EMPTY_VERSION = content_version({})


class Snapshot:
    """What one proxy should have: per type URL, a version and the resources.

    A snapshot is the proxy's whole desired state: a type it does not define is served as empty
    (for CDS/LDS that deletes every cluster/listener the proxy had).

    Treat as immutable: build a new one (or use :meth:`replace`) to change anything.
    """

    __slots__ = ("_resources", "_versions")

    def __init__(
        self, resources: Mapping[str, Resources] | None = None, versions: Mapping[str, str] | None = None
    ) -> None:
        """``resources`` maps type URL to ``{name: Any bytes}``; ``versions`` overrides computed versions.

        A ``MappingProxyType`` or :class:`~mizzen.xds.views.Layered` is kept without copying: its owner must
        not change what is behind it.
        """
        # A read-only view is taken as it is: proxies alike share one mapping instead of a copy each.
        self._resources: dict[str, Resources] = {
            t: r if isinstance(r, (MappingProxyType, Layered)) else MappingProxyType(dict(r))
            for t, r in (resources or {}).items()
        }
        given = versions or {}
        self._versions = {t: given.get(t) or content_version(r) for t, r in self._resources.items()}

    @classmethod
    def from_dicts(cls, resources: Mapping[str, Mapping[str, Mapping[str, object]]]) -> Snapshot:
        """Build from proto-JSON dicts per type URL (encoded and cached by :func:`mizzen.xds.encode.encode`)."""
        return cls({type_url: encode(type_url, items) for type_url, items in resources.items()})

    @property
    def type_urls(self) -> tuple[str, ...]:
        """Type URLs present, in push order (known types first, others sorted)."""
        return types.ordered(self._resources)

    def version(self, type_url: str) -> str:
        """The content version of a type; an absent type counts as empty (:data:`EMPTY_VERSION`)."""
        return self._versions.get(type_url, EMPTY_VERSION)

    def resources(self, type_url: str) -> Resources:
        """``{name: Any bytes}`` of a type (empty when absent)."""
        return self._resources.get(type_url, _EMPTY)

    def has(self, type_url: str) -> bool:
        """Whether the snapshot defines the type at all (an empty set counts: it deletes everything)."""
        return type_url in self._resources

    def replace(self, updates: Mapping[str, Resources]) -> Snapshot:
        """A new snapshot with the given types replaced; untouched types keep their versions."""
        merged = dict(self._resources)
        merged.update(updates)
        versions = {t: v for t, v in self._versions.items() if t not in updates}
        return Snapshot(merged, versions)

    def versions(self) -> dict[str, str]:
        """``{type_url: version}`` for every type present."""
        return dict(self._versions)

    def same_versions(self, other: Snapshot | None) -> bool:
        """True when ``other`` has exactly the same types and versions (nothing to push)."""
        return other is not None and self._versions == other._versions

    def consistent(self) -> list[str]:
        """Problems with references between types (see the module docstring); empty when consistent."""
        problems: list[str] = []
        routes = self.resources(types.ROUTE)
        listeners = self.resources(types.LISTENER)
        if not _listener_refs.covered(self.version(types.LISTENER), listeners, self.version(types.ROUTE), routes):
            problems += [
                f"listener {listener!r} references missing route configuration {name!r}"
                for listener, name in _listener_refs.find(listeners)
                if name not in routes
            ]
        endpoints = self.resources(types.ENDPOINT)
        clusters = self.resources(types.CLUSTER)
        if not _cluster_refs.covered(self.version(types.CLUSTER), clusters, self.version(types.ENDPOINT), endpoints):
            problems += [
                f"EDS cluster {cluster!r} has no ClusterLoadAssignment {name!r}"
                for cluster, name in _cluster_refs.find(clusters)
                if name not in endpoints
            ]
        return problems

    def check(self) -> None:
        """Raise :class:`~mizzen.xds.errors.InconsistentSnapshot` listing every consistency problem."""
        problems = self.consistent()
        if problems:
            raise InconsistentSnapshot(problems)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{types.SHORT_NAMES.get(t, t)}={self._versions[t]}({len(self._resources[t])})" for t in self.type_urls
        )
        return f"Snapshot({parts})"


def decode(data: bytes) -> AnyType:
    """The resource message inside serialized ``Any`` bytes (for consistency checks, debugging, diffs)."""
    wrapper = any_pb2.Any.FromString(data)
    import_extensions()  # its nested Any values print and compare by their registered types
    msg = message_class(wrapper.type_url)()
    wrapper.Unpack(msg)
    return msg


class _RefMemo:
    """References found in serialized resources, by content (bounded: emptied when full).

    A plain dict without a lock: a memo hit costs one lookup (``bytes`` caches its hash), which is what
    keeps the check at a few microseconds per proxy. Races between threads can only recompute an entry.
    """

    def __init__(self, find: Callable[[bytes], tuple[str, ...]], max_entries: int = 50_000) -> None:
        self._find = find
        self._max = max_entries
        self._memo: dict[bytes, tuple[str, ...]] = {}

    def __call__(self, data: bytes) -> tuple[str, ...]:
        found = self._memo.get(data)
        if found is None:
            if len(self._memo) >= self._max:
                self._memo.clear()
            found = self._memo[data] = self._find(data)
        return found


def _route_names(data: bytes) -> tuple[str, ...]:
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

    hcm_url = "type.googleapis.com/" + hcm.HttpConnectionManager.DESCRIPTOR.full_name
    listener = decode(data)
    chains = list(listener.filter_chains)
    if listener.HasField("default_filter_chain"):
        chains.append(listener.default_filter_chain)
    names: list[str] = []
    for chain in chains:
        for f in chain.filters:
            if f.typed_config.type_url != hcm_url:
                continue
            manager = hcm.HttpConnectionManager()
            f.typed_config.Unpack(manager)
            if manager.HasField("rds"):
                names.append(manager.rds.route_config_name)
    return tuple(names)


def _eds_names(data: bytes) -> tuple[str, ...]:
    from envoy.config.cluster.v3 import cluster_pb2

    cluster = decode(data)
    if cluster.type != cluster_pb2.Cluster.EDS:  # unset (or a custom cluster_type) reads as STATIC
        return ()
    return (cluster.eds_cluster_config.service_name or cluster.name,)


_routes_of = _RefMemo(_route_names)
_endpoints_of = _RefMemo(_eds_names)


def referenced_routes(listeners: Resources) -> Iterator[tuple[str, str]]:
    """``(listener name, route config name)`` for every RDS reference in HTTP connection managers."""
    for name, data in listeners.items():
        for route in _routes_of(data):
            yield name, route


def referenced_endpoints(clusters: Resources) -> Iterator[tuple[str, str]]:
    """``(cluster name, EDS service name)`` for every EDS cluster."""
    for name, data in clusters.items():
        for service in _endpoints_of(data):
            yield name, service


_MAX_BASES = 64  # shared parts are one per scope and push


class _TypeRefs:
    """The names one type's resources reference, by that type's content version (bounded like _RefMemo).

    A version is a hash of the type's names and bytes, so it stands for the content: a push that leaves a
    proxy's clusters alone checks them with one lookup and a set comparison. Only the set of names is
    kept (who refers to a missing name is worked out again when a check fails), and equal sets are one
    object: proxies of one scope reference the same names, so thousands of proxies share one set.
    """

    def __init__(self, find: Callable[[Resources], Iterator[tuple[str, str]]], max_entries: int = 50_000) -> None:
        self.find = find
        self._max = max_entries
        self._memo: dict[str, frozenset[str]] = {}
        self._sets: dict[frozenset[str], frozenset[str]] = {}
        self._covered: dict[tuple[str, str], bool] = {}  # (this type's version, the target's) -> all present
        self._bases: dict[tuple[int, str], tuple[Resources, bool]] = {}  # a Layered's shared part, likewise

    def of(self, version: str, resources: Resources) -> frozenset[str]:
        found = self._memo.get(version)
        if found is None:
            if len(self._memo) >= self._max:
                self._memo.clear()
                self._sets.clear()
            names = frozenset(name for _, name in self.find(resources))
            found = self._memo[version] = self._sets.setdefault(names, names)
        return found

    def covered(self, version: str, resources: Resources, target_version: str, targets: Resources) -> bool:
        """Whether every name ``resources`` reference is in ``targets``: one lookup per pair of versions
        (both are content hashes), so a thousand proxies with the same clusters and endpoints check once."""
        key = (version, target_version)
        known = self._covered.get(key)
        if known is None:
            if len(self._covered) >= self._max:
                self._covered.clear()
                self._bases.clear()
            if isinstance(resources, Layered):
                # A proxy's own few resources over its scope's shared ones: each proxy has its own version,
                # but the shared part is one object for all of them, so it is checked once per target version.
                known = self._base_covered(resources.base, target_version, targets) and all(
                    name in targets for _, name in self.find(resources.top)
                )
            else:
                known = self.of(version, resources) <= targets.keys()
            self._covered[key] = known
        return known

    def _base_covered(self, base: Resources, target_version: str, targets: Resources) -> bool:
        # Keyed by identity; the entry holds ``base``, so its id is not reused while the entry lives.
        key = (id(base), target_version)
        known = self._bases.get(key)
        if known is None or known[0] is not base:
            names = frozenset(name for _, name in self.find(base))
            known = self._bases[key] = (base, names <= targets.keys())
            while len(self._bases) > _MAX_BASES:  # it holds old mappings alive: keep only recent ones
                del self._bases[next(iter(self._bases))]
        return known[1]


_listener_refs = _TypeRefs(referenced_routes)
_cluster_refs = _TypeRefs(referenced_endpoints)
