"""Immutable per-proxy snapshots: per type URL a content version and ``{name: serialized Any}``.

The snapshot is the seam between the control plane (which computes config) and the ADS server (which
only delivers it). Versions are content hashes per type, so a snapshot rebuilt with unchanged clusters
keeps the cluster version and the server sends nothing for that type.

Consistency rules (checked by :meth:`Snapshot.consistent`, which the caller runs before publishing):

- every RouteConfiguration named by a listener's ``rds.route_config_name`` is in the snapshot,
  otherwise the listener warms until Envoy's initial fetch timeout;
- every EDS cluster's ClusterLoadAssignment (``eds_cluster_config.service_name`` or the cluster name)
  is in the snapshot, otherwise the cluster warms likewise.

Endpoints or routes nobody references are harmless (Envoy ignores unrequested names) and not reported.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any as AnyType

from google.protobuf import any_pb2

from mizzen.xds import types
from mizzen.xds.encode import encode, message_class
from mizzen.xds.errors import SnapshotError

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
        """``resources`` maps type URL to ``{name: Any bytes}``; ``versions`` overrides computed versions."""
        self._resources: dict[str, Resources] = {t: MappingProxyType(dict(r)) for t, r in (resources or {}).items()}
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
        for listener, name in referenced_routes(self.resources(types.LISTENER)):
            if name not in routes:
                problems.append(f"listener {listener!r} references missing route configuration {name!r}")
        endpoints = self.resources(types.ENDPOINT)
        for cluster, name in referenced_endpoints(self.resources(types.CLUSTER)):
            if name not in endpoints:
                problems.append(f"EDS cluster {cluster!r} has no ClusterLoadAssignment {name!r}")
        return problems

    def check(self) -> None:
        """Raise :class:`SnapshotError` listing every consistency problem."""
        problems = self.consistent()
        if problems:
            raise SnapshotError("inconsistent snapshot: " + "; ".join(problems))

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{types.SHORT_NAMES.get(t, t)}={self._versions[t]}({len(self._resources[t])})" for t in self.type_urls
        )
        return f"Snapshot({parts})"


def decode(data: bytes) -> AnyType:
    """The resource message inside serialized ``Any`` bytes (for consistency checks, debugging, diffs)."""
    wrapper = any_pb2.Any.FromString(data)
    msg = message_class(wrapper.type_url)()
    wrapper.Unpack(msg)
    return msg


def referenced_routes(listeners: Resources) -> Iterator[tuple[str, str]]:
    """``(listener name, route config name)`` for every RDS reference in HTTP connection managers."""
    from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2 as hcm

    hcm_url = "type.googleapis.com/" + hcm.HttpConnectionManager.DESCRIPTOR.full_name
    for name, data in listeners.items():
        listener = decode(data)
        chains = list(listener.filter_chains)
        if listener.HasField("default_filter_chain"):
            chains.append(listener.default_filter_chain)
        for chain in chains:
            for f in chain.filters:
                if f.typed_config.type_url != hcm_url:
                    continue
                manager = hcm.HttpConnectionManager()
                f.typed_config.Unpack(manager)
                if manager.HasField("rds"):
                    yield name, manager.rds.route_config_name


def referenced_endpoints(clusters: Resources) -> Iterator[tuple[str, str]]:
    """``(cluster name, EDS service name)`` for every EDS cluster."""
    from envoy.config.cluster.v3 import cluster_pb2

    for name, data in clusters.items():
        cluster = decode(data)
        if cluster.type != cluster_pb2.Cluster.EDS:  # unset (or a custom cluster_type) reads as STATIC
            continue
        yield name, cluster.eds_cluster_config.service_name or name
