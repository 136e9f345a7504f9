"""Per-service translation output reused across mesh snapshots (incremental translation).

Theory of operation
-------------------
A sidecar's outbound clusters and load assignments for one service are a pure function of a few typed
inputs: the :class:`~mizzen.registry.model.Service`, the merged DestinationRule policy for its host (the
``trafficPolicy``, the subsets and the rule they came from), the endpoints of its ports, the mesh
settings, the asking proxy's namespace, type, locality and failoverPriority label values (locality load
balancing; the same proxy fields the sharing key compares), and the config kinds this module does not follow one
by one (Sidecars, Secrets and any kind a later MeshSnapshot field adds: their change invalidates every
entry, which is always correct). :class:`ServiceOutputCache` keys each service's output by exactly
those inputs, so after a change only the services whose inputs changed are translated and encoded
again; everything else is the very same JSON and bytes objects as before (``bench/scale.py`` measures
what that saves; ``tests/unit/controlplane/test_incremental.py`` proves the result equals a full
translation over random edit sequences).

Values (a Service, endpoints, MeshConfig) enter a key by equality. Config objects enter it by identity
(:class:`Ref`): the control plane parses a resource once and keeps that object while the resource is
unchanged, so an object stands for one version of one resource, and comparing by identity costs
nothing where comparing typed specs field by field would cost as much as translating. A key holds its
objects alive, so an ``id`` is never reused while an entry still names it.

Entries live two generations: :meth:`ServiceOutputCache.next_generation` starts a new one (a new mesh
snapshot); an entry used in the current or the previous generation survives, older ones are dropped.
So the cache holds at most what two consecutive snapshots need.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from mizzen.registry.model import Service
from mizzen.translate.clusters import service_clusters
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import service_endpoints
from mizzen.translate.model import MeshSnapshot
from mizzen.translate.scope import Scope
from mizzen.translate.sharing import failover_priority_labels
from mizzen.xds import types as xt
from mizzen.xds.encode import encode

# MeshSnapshot fields a service's clusters are keyed on one by one (the rest are in the "others" token).
# Gateways and VirtualServices configure routes and gateway listeners, and Telemetries a proxy's
# listeners (access logs, tracing), never a sidecar's clusters.
_FOLLOWED = frozenset({"virtual_services", "destination_rules", "gateways", "registry", "mesh", "telemetries"})


class Ref:
    """A key part comparing its object by identity (see the module docstring)."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other.obj is self.obj

    def __repr__(self) -> str:
        return f"Ref({type(self.obj).__name__}@{id(self.obj):x})"


@dataclass(frozen=True)
class SnapshotToken:
    """What every service's key takes from the whole snapshot (computed once per snapshot)."""

    failover_labels: tuple[str, ...]  # the label names locality failover compares
    others: Hashable  # every MeshSnapshot field not followed one by one, by identity of its items


def snapshot_token(mesh: MeshSnapshot) -> SnapshotToken:
    """The :class:`SnapshotToken` of ``mesh``."""
    parts: list[Hashable] = []
    for f in dataclasses.fields(mesh):
        if f.name in _FOLLOWED:
            continue
        value = getattr(mesh, f.name)
        items = value if isinstance(value, tuple) else (value,)
        parts.append((f.name, tuple(Ref(x) for x in items)))
    return SnapshotToken(failover_priority_labels(mesh), tuple(parts))


@dataclass(frozen=True)
class ServiceOutput:
    """One service's clusters and load assignments, as JSON and as encoded ``Any`` bytes."""

    clusters: Mapping[str, JSONDict]
    endpoints: Mapping[str, JSONDict]
    encoded_clusters: Mapping[str, bytes]
    encoded_endpoints: Mapping[str, bytes]


class ServiceOutputCache:
    """Service outputs by their inputs, over two generations (see the module docstring)."""

    def __init__(self) -> None:
        self._current: dict[Hashable, ServiceOutput] = {}
        self._previous: dict[Hashable, ServiceOutput] = {}
        self.hits = 0
        self.misses = 0

    def next_generation(self) -> None:
        """A new mesh snapshot: entries unused since the one before are dropped."""
        self._previous, self._current = self._current, {}

    def __len__(self) -> int:
        return len(self._current.keys() | self._previous.keys())

    def service(self, scope: Scope, svc: Service, token: SnapshotToken) -> ServiceOutput:
        """The output of ``svc`` in ``scope`` (``token`` is :func:`snapshot_token` of the scope's mesh)."""
        key = service_key(scope, svc, token)
        out = self._current.get(key)
        if out is None:
            out = self._previous.get(key)
            if out is None:
                self.misses += 1
                out = _translate(scope, svc)
            else:
                self.hits += 1
            self._current[key] = out
        else:
            self.hits += 1
        return out


def service_key(scope: Scope, svc: Service, token: SnapshotToken) -> Hashable:
    """Everything :func:`service_clusters` and :func:`service_endpoints` read for ``svc`` in ``scope``."""
    policy = scope.destination_policy(svc.hostname)
    endpoints = tuple(scope.endpoints_of(svc.hostname, p.number) for p in svc.ports)
    proxy = scope.proxy
    return (
        svc,
        Ref(policy.traffic_policy),
        tuple(Ref(s) for s in policy.subsets),
        Ref(policy.source),
        endpoints,
        scope.mesh.mesh,
        proxy.type,
        proxy.namespace,
        proxy.locality,
        tuple(proxy.labels.get(name, "") for name in token.failover_labels),
        token.others,
    )


def _translate(scope: Scope, svc: Service) -> ServiceOutput:
    clusters = service_clusters(scope, svc)
    endpoints = service_endpoints(scope, svc)
    return ServiceOutput(clusters, endpoints, encode(xt.CLUSTER, clusters), encode(xt.ENDPOINT, endpoints))
