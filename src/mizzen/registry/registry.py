"""The service registry: services (Kubernetes Service, ServiceEntry) x workloads (WorkloadEntry, and the
addresses of Endpoints/EndpointSlices) -> endpoints per service port.

:func:`build_registry` is the pure, whole-world form. :class:`Registry` keeps the same result up to
date from store change events: a Service/ServiceEntry change recomputes that resource's services, a
WorkloadEntry change recomputes only the services in its namespace whose selector matched it before
or matches it now, an Endpoints/EndpointSlice change only the Service it names (before and after).
``apply`` answers which hostnames changed, so the control plane pushes only those.

Indexes keep every step proportional to what changed, not to the mesh: services with a selector
are indexed by one of their selector's label pairs, workloads by each of their label pairs, and the
merged per-(hostname, port) endpoint table is patched only for the hostnames that changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from mizzen.config.models import Typed
from mizzen.registry.convert import (
    EndpointSet,
    ServiceDef,
    Workload,
    endpoint_set_of,
    endpoints_for,
    selects,
    service_defs,
    workload_of,
)
from mizzen.registry.model import Endpoint, RegistrySnapshot, Service

REGISTRY_KINDS = frozenset({"Service", "ServiceEntry", "WorkloadEntry", "Endpoints", "EndpointSlice"})
ENDPOINT_SET_KINDS = frozenset({"Endpoints", "EndpointSlice"})
DELETE_EVENTS = frozenset({"DELETED", "DELETE", "REMOVED"})
"""Event types that remove a resource (Kubernetes watch spelling first); anything else upserts it."""

ResourceKey = tuple[str, str, str]
PortEndpoints = dict[int, tuple[Endpoint, ...]]
LabelPair = tuple[str, str]
_ANY: LabelPair = ("", "")  # bucket of empty selectors (a ServiceEntry workloadSelector {} selects all)


class Registry:
    """Incrementally maintained registry; :meth:`snapshot` gives the immutable view."""

    def __init__(self) -> None:
        self._defs: dict[ResourceKey, tuple[ServiceDef, ...]] = {}
        self._endpoints: dict[ResourceKey, tuple[PortEndpoints, ...]] = {}  # parallel to _defs
        self._by_host: dict[str, set[ResourceKey]] = defaultdict(set)
        # namespace -> one selector pair -> keys of resources whose services select with it
        self._selecting: dict[str, dict[LabelPair, set[ResourceKey]]] = defaultdict(lambda: defaultdict(set))
        self._workloads: dict[str, dict[str, Workload]] = defaultdict(dict)  # namespace -> name -> workload
        self._workloads_by_label: dict[str, dict[LabelPair, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._sets: dict[ResourceKey, EndpointSet] = {}  # Endpoints/EndpointSlice key -> its addresses
        self._sets_by_service: dict[tuple[str, str], set[ResourceKey]] = defaultdict(set)  # (ns, Service name)
        self._merged: dict[tuple[str, int], tuple[Endpoint, ...]] = {}
        self._merged_ports: dict[str, set[int]] = {}
        self._services: tuple[Service, ...] | None = ()
        self._snapshot: RegistrySnapshot | None = None

    def apply(self, event_type: str, config: Typed[object]) -> set[str]:
        """Apply one change event (a parsed resource); return the hostnames whose service or endpoints changed."""
        deleted = event_type.upper() in DELETE_EVENTS
        if config.kind in ("Service", "ServiceEntry"):
            changed = self._apply_service(config, deleted)
        elif config.kind == "WorkloadEntry":
            changed = self._apply_workload(config, deleted)
        elif config.kind in ENDPOINT_SET_KINDS:
            changed = self._apply_endpoint_set(config, deleted)
        else:
            return set()
        if changed:
            self._remerge(changed)
            self._snapshot = None
        return changed

    def snapshot(self) -> RegistrySnapshot:
        """The current registry as an immutable, sorted snapshot (cached until the next change)."""
        if self._snapshot is None:
            if self._services is None:
                services = (d.service for defs in self._defs.values() for d in defs)
                self._services = tuple(sorted(services, key=lambda s: (s.hostname, s.namespace, s.source_kind, s.name)))
            self._snapshot = RegistrySnapshot(services=self._services, endpoints=tuple(sorted(self._merged.items())))
        return self._snapshot

    def _apply_service(self, config: Typed[object], deleted: bool) -> set[str]:
        key = config.key
        old_defs, old_eps = self._defs.pop(key, ()), self._endpoints.pop(key, ())
        self._index_service(key, old_defs, add=False)
        new_defs = () if deleted else service_defs(config)
        if new_defs:
            self._defs[key] = new_defs
            self._index_service(key, new_defs, add=True)
            self._endpoints[key] = self._compute(key)
        new_eps = self._endpoints.get(key, ())
        if old_defs == new_defs and old_eps == new_eps:
            return set()
        if old_defs != new_defs:
            self._services = None
        return {d.service.hostname for d in (*old_defs, *new_defs)}

    def _apply_workload(self, config: Typed[object], deleted: bool) -> set[str]:
        ns, name = config.namespace, config.name
        old = self._workloads[ns].pop(name, None)
        new = None if deleted else workload_of(config)
        if old == new:
            if new is not None:
                self._workloads[ns][name] = new
            return set()
        for pair in old.labels if old else ():
            self._workloads_by_label[ns][pair].discard(name)
        if new is not None:
            self._workloads[ns][name] = new
            for pair in new.labels:
                self._workloads_by_label[ns][pair].add(name)
        changed: set[str] = set()
        for key in sorted(self._candidates(ns, old) | self._candidates(ns, new)):
            defs = self._defs[key]
            if not any(selects(d.service, w) for d in defs for w in (old, new) if w is not None):
                continue
            before, after = self._endpoints[key], self._compute(key)
            self._endpoints[key] = after
            changed.update(d.service.hostname for d, b, a in zip(defs, before, after, strict=True) if b != a)
        return changed

    def _apply_endpoint_set(self, config: Typed[object], deleted: bool) -> set[str]:
        key = config.key
        old = self._sets.pop(key, None)
        new = None if deleted else endpoint_set_of(config)
        if old is not None:
            self._sets_by_service[(old.namespace, old.service)].discard(key)
        if new is not None:
            self._sets[key] = new
            self._sets_by_service[(new.namespace, new.service)].add(key)
        if old == new:
            return set()
        changed: set[str] = set()
        for found in {s for s in (old, new) if s is not None}:
            service_key = ("Service", found.namespace, found.service)
            if service_key in self._defs:
                before, after = self._endpoints[service_key], self._compute(service_key)
                self._endpoints[service_key] = after
                if before != after:
                    changed.update(d.service.hostname for d in self._defs[service_key])
        return changed

    def _listed(self, namespace: str, name: str) -> list[Workload]:
        """The addresses of every Endpoints/EndpointSlice naming the Service ``namespace/name``."""
        keys = sorted(self._sets_by_service.get((namespace, name), ()))
        return [w for k in keys for w in self._sets[k].workloads]

    def _candidates(self, namespace: str, workload: Workload | None) -> set[ResourceKey]:
        """Resources whose selector might match ``workload``: indexed under one of its label pairs."""
        if workload is None:
            return set()
        buckets = self._selecting.get(namespace, {})
        out = set(buckets.get(_ANY, ()))
        for pair in workload.labels:
            out |= buckets.get(pair, set())
        return out

    def _index_service(self, key: ResourceKey, defs: tuple[ServiceDef, ...], *, add: bool) -> None:
        for d in defs:
            hosts = self._by_host[d.service.hostname]
            hosts.add(key) if add else hosts.discard(key)
            selector = d.service.selector
            if selector is not None:
                bucket = self._selecting[key[1]][selector[0] if selector else _ANY]
                bucket.add(key) if add else bucket.discard(key)

    def _compute(self, key: ResourceKey) -> tuple[PortEndpoints, ...]:
        # Selectors only reach workloads of the service's own namespace; narrow by the rarest pair.
        ns = key[1]
        out = []
        for d in self._defs[key]:
            selector = d.service.selector
            if selector:
                names = min((self._workloads_by_label[ns].get(p, set()) for p in selector), key=len)
                candidates = [self._workloads[ns][n] for n in sorted(names)]
            else:
                candidates = list(self._workloads.get(ns, {}).values()) if selector == () else []
            listed = self._listed(ns, key[2]) if key[0] == "Service" else []
            out.append(endpoints_for(d, candidates, listed))
        return tuple(out)

    def _remerge(self, hostnames: set[str]) -> None:
        for host in hostnames:
            for port in self._merged_ports.pop(host, ()):
                del self._merged[(host, port)]
            merged: dict[int, set[Endpoint]] = defaultdict(set)
            for key in self._by_host.get(host, ()):
                for sdef, eps in zip(self._defs[key], self._endpoints[key], strict=True):
                    if sdef.service.hostname == host:
                        # Same hostname from several resources: Istio merges their endpoints per port.
                        for port, port_eps in eps.items():
                            merged[port].update(port_eps)
            for port, eps_set in merged.items():
                self._merged[(host, port)] = tuple(sorted(eps_set))
            if merged:
                self._merged_ports[host] = set(merged)
            if not self._by_host.get(host):
                self._by_host.pop(host, None)


def build_registry(configs: Iterable[Typed[object]]) -> RegistrySnapshot:
    """The registry of a set of parsed resources (other kinds are ignored); pure and deterministic.

    Written directly from the rules (every service against every workload), without the indexes of
    :class:`Registry`, so it doubles as the reference the incremental registry is tested against.
    """
    items = list(configs)
    workloads = [w for r in items if (w := workload_of(r)) is not None]
    listed: dict[tuple[str, str], list[Workload]] = defaultdict(list)
    for r in items:
        if (found := endpoint_set_of(r)) is not None:
            listed[(found.namespace, found.service)].extend(found.workloads)
    defs = [d for r in items for d in service_defs(r)]
    merged: dict[tuple[str, int], set[Endpoint]] = defaultdict(set)
    for sdef in defs:
        svc = sdef.service
        own = listed.get((svc.namespace, svc.name), []) if svc.source_kind == "Service" else []
        for port, eps in endpoints_for(sdef, workloads, own).items():
            merged[(sdef.service.hostname, port)].update(eps)
    services = sorted((d.service for d in defs), key=lambda s: (s.hostname, s.namespace, s.source_kind, s.name))
    return RegistrySnapshot(
        services=tuple(services), endpoints=tuple((k, tuple(sorted(v))) for k, v in sorted(merged.items()))
    )
