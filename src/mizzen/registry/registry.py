"""The service registry: services (Kubernetes Service, ServiceEntry) x workloads (WorkloadEntry) ->
endpoints per service port.

:func:`build_registry` is the pure, whole-world form. :class:`Registry` keeps the same result up to
date from store change events: a Service/ServiceEntry change recomputes that resource's services, a
WorkloadEntry change recomputes only the services in its namespace whose selector matched it before
or matches it now. ``apply`` answers which hostnames changed, so the control plane pushes only those.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from mizzen.config.resource import Resource
from mizzen.registry.convert import ServiceDef, Workload, endpoints_for, selects, service_defs, workload_of
from mizzen.registry.model import Endpoint, RegistrySnapshot, Service

REGISTRY_KINDS = frozenset({"Service", "ServiceEntry", "WorkloadEntry"})
DELETE_EVENTS = frozenset({"DELETED", "DELETE", "REMOVED"})
"""Event types that remove a resource (Kubernetes watch spelling first); anything else upserts it."""

ResourceKey = tuple[str, str, str]
PortEndpoints = dict[int, tuple[Endpoint, ...]]


class Registry:
    """Incrementally maintained registry; :meth:`snapshot` gives the immutable view."""

    def __init__(self) -> None:
        self._defs: dict[ResourceKey, tuple[ServiceDef, ...]] = {}
        self._endpoints: dict[ResourceKey, tuple[PortEndpoints, ...]] = {}  # parallel to _defs
        self._workloads: dict[tuple[str, str], Workload] = {}
        self._selecting: dict[str, set[ResourceKey]] = defaultdict(set)  # namespace -> keys w/ selector
        self._snapshot: RegistrySnapshot | None = None

    def apply(self, event_type: str, resource: Resource) -> set[str]:
        """Apply one change event; return the hostnames whose service or endpoints changed."""
        deleted = event_type.upper() in DELETE_EVENTS
        if resource.kind in ("Service", "ServiceEntry"):
            changed = self._apply_service(resource, deleted)
        elif resource.kind == "WorkloadEntry":
            changed = self._apply_workload(resource, deleted)
        else:
            return set()
        if changed:
            self._snapshot = None
        return changed

    def snapshot(self) -> RegistrySnapshot:
        """The current registry as an immutable, sorted snapshot (cached until the next change)."""
        if self._snapshot is None:
            self._snapshot = self._assemble()
        return self._snapshot

    def _apply_service(self, resource: Resource, deleted: bool) -> set[str]:
        key = resource.key
        old_defs, old_eps = self._defs.pop(key, ()), self._endpoints.pop(key, ())
        self._selecting[resource.namespace].discard(key)
        new_defs = () if deleted else service_defs(resource)
        if new_defs:
            self._defs[key] = new_defs
            self._endpoints[key] = self._compute(key)
            if any(d.service.selector is not None for d in new_defs):
                self._selecting[resource.namespace].add(key)
        new_eps = self._endpoints.get(key, ())
        if old_defs == new_defs and old_eps == new_eps:
            return set()
        return {d.service.hostname for d in (*old_defs, *new_defs)}

    def _apply_workload(self, resource: Resource, deleted: bool) -> set[str]:
        wkey = (resource.namespace, resource.name)
        old = self._workloads.pop(wkey, None)
        new = None if deleted else workload_of(resource)
        if new is not None:
            self._workloads[wkey] = new
        if old == new:
            return set()
        changed: set[str] = set()
        for key in sorted(self._selecting.get(resource.namespace, ())):
            defs = self._defs[key]
            if not any(_matches(d, w) for d in defs for w in (old, new) if w is not None):
                continue
            before, after = self._endpoints[key], self._compute(key)
            self._endpoints[key] = after
            changed.update(d.service.hostname for d, b, a in zip(defs, before, after, strict=True) if b != a)
        return changed

    def _compute(self, key: ResourceKey) -> tuple[PortEndpoints, ...]:
        namespace = key[1]
        candidates = [w for (ns, _), w in self._workloads.items() if ns == namespace]
        return tuple(endpoints_for(d, candidates) for d in self._defs[key])

    def _assemble(self) -> RegistrySnapshot:
        services: list[Service] = []
        merged: dict[tuple[str, int], set[Endpoint]] = defaultdict(set)
        for key, defs in self._defs.items():
            for sdef, eps in zip(defs, self._endpoints[key], strict=True):
                services.append(sdef.service)
                for port, port_eps in eps.items():
                    # Same hostname from several resources: Istio merges their endpoints per port.
                    merged[(sdef.service.hostname, port)].update(port_eps)
        services.sort(key=lambda s: (s.hostname, s.namespace, s.source_kind, s.name))
        endpoints = tuple((k, tuple(sorted(v))) for k, v in sorted(merged.items()))
        return RegistrySnapshot(services=tuple(services), endpoints=endpoints)


def _matches(sdef: ServiceDef, workload: Workload) -> bool:
    return workload.namespace == sdef.service.namespace and selects(sdef.service.selector, workload.labels)


def build_registry(resources: Iterable[Resource]) -> RegistrySnapshot:
    """The registry of a set of resources (other kinds are ignored); pure and deterministic."""
    registry = Registry()
    for resource in sorted((r for r in resources if r.kind in REGISTRY_KINDS), key=lambda r: r.key):
        registry.apply("ADDED", resource)
    return registry.snapshot()
