"""What one proxy can see: visible services, merged DestinationRules, VirtualServices, its Sidecar.

Istio computes a ``SidecarScope`` per proxy; this is the same idea, reduced to what the builders read.
Visibility follows ``exportTo``; a ``Sidecar`` resource's ``egress.hosts`` narrows the services (the
main push-size reducer), and its ``outboundTrafficPolicy`` overrides the mesh's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.config.resource import Resource
from mizzen.registry.model import Endpoint, Service
from mizzen.translate.common import as_int, as_list, as_map, exported_to, labels_match
from mizzen.translate.hosts import fqdn, host_matches, match_specificity
from mizzen.translate.model import InboundPort, MeshSnapshot, Proxy


@dataclass(frozen=True)
class DestinationPolicy:
    """The DestinationRules for one host merged as Istio does: first ``trafficPolicy`` wins, subsets
    unioned in order (a duplicate subset name keeps the first)."""

    host: str
    traffic_policy: Mapping[str, Any] = field(default_factory=dict)
    subsets: tuple[Mapping[str, Any], ...] = ()
    source: Resource | None = None  # the first DR (provenance metadata)

    def subset(self, name: str) -> Mapping[str, Any] | None:
        return next((s for s in self.subsets if s.get("name") == name), None)


@dataclass(frozen=True)
class Scope:
    """The per-proxy view every builder reads."""

    proxy: Proxy
    mesh: MeshSnapshot
    services: tuple[Service, ...]  # visible and in Sidecar egress scope, sorted by hostname
    virtual_services: tuple[Resource, ...]  # visible VSs, creation order
    destination_rules: tuple[Resource, ...]  # visible DRs, creation order
    sidecar: Resource | None
    outbound_policy: str  # "ALLOW_ANY" | "REGISTRY_ONLY"
    # Indexes and memo tables: translation must stay linear in the number of services.
    _by_host: dict[str, Service] = field(default_factory=dict, compare=False)
    _endpoints: dict[tuple[str, int], tuple[Endpoint, ...]] = field(default_factory=dict, compare=False)
    _rules_by_host: dict[str, list[tuple[int, Resource]]] = field(default_factory=dict, compare=False)
    _wildcard_rules: list[tuple[int, str, Resource]] = field(default_factory=list, compare=False)
    _policies: dict[str, DestinationPolicy] = field(default_factory=dict, compare=False)
    known_hosts: frozenset[str] = frozenset()  # every registry hostname (visible or not)

    def service(self, hostname: str) -> Service | None:
        """The visible service named ``hostname`` (exact), if any."""
        return self._by_host.get(hostname)

    def allows_host(self, hostname: str, namespace: str) -> bool:
        """Whether the proxy's Sidecar ``egress.hosts`` (if any) admit a host defined in ``namespace``."""
        if self.sidecar is None:
            return True
        egress = _egress_hosts(self.sidecar)
        return not egress or egress_allows_host(egress, hostname, namespace, self.sidecar.namespace)

    def endpoints_of(self, hostname: str, port: int) -> tuple[Endpoint, ...]:
        """Registry endpoints of one service port."""
        return self._endpoints.get((hostname, port), ())

    def destination_policy(self, hostname: str) -> DestinationPolicy:
        """Merged DestinationRules for ``hostname``: exact host first, else the most specific wildcard."""
        cached = self._policies.get(hostname)
        if cached is None:
            candidates = self._rules_by_host.get(hostname, [])
            if not candidates:
                wild = [(-match_specificity(h), i, r) for i, h, r in self._wildcard_rules if host_matches(h, hostname)]
                best = min((w[0] for w in wild), default=0)
                candidates = [(i, r) for s, i, r in wild if s == best]
            cached = _merge_rules(hostname, candidates, self.proxy)
            self._policies[hostname] = cached
        return cached


def build_scope(proxy: Proxy, mesh: MeshSnapshot) -> Scope:
    """Compute the proxy's scope from the snapshot (pure)."""
    sidecar = select_sidecar(proxy, mesh) if proxy.type == "sidecar" else None
    visible = [s for s in mesh.registry.services if exported_to(s.export_to, s.namespace, proxy.namespace)]
    if sidecar is not None:
        egress = _egress_hosts(sidecar)
        if egress:
            visible = [s for s in visible if _egress_allows(egress, s, sidecar.namespace)]
    by_host: dict[str, Service] = {}
    for s in sorted(visible, key=lambda s: s.hostname):
        by_host.setdefault(s.hostname, s)  # one service per host name (first wins)
    services = tuple(by_host.values())
    vss = tuple(r for r in mesh.of("VirtualService") if _visible(r, proxy))
    drs = tuple(r for r in mesh.of("DestinationRule") if _visible(r, proxy) and _dr_applies(r, proxy))
    policy = mesh.mesh.outbound_traffic_policy
    if sidecar is not None:
        mode = as_map(sidecar.spec.get("outboundTrafficPolicy")).get("mode")
        if mode in ("ALLOW_ANY", "REGISTRY_ONLY"):
            policy = mode
    rules_by_host: dict[str, list[tuple[int, Resource]]] = {}
    wildcard_rules: list[tuple[int, str, Resource]] = []
    for index, dr in enumerate(drs):
        host = fqdn(str(dr.spec.get("host", "")), dr.namespace)
        if host.startswith("*"):
            wildcard_rules.append((index, host, dr))
        elif host:
            rules_by_host.setdefault(host, []).append((index, dr))
    return Scope(
        proxy,
        mesh,
        services,
        vss,
        drs,
        sidecar,
        str(policy),
        by_host,
        dict(mesh.registry.endpoints),
        rules_by_host,
        wildcard_rules,
        {},
        frozenset(s.hostname for s in mesh.registry.services),
    )


def inbound_ports(scope: Scope) -> tuple[InboundPort, ...]:
    """The proxy's inbound ports, with a Sidecar ``ingress`` applied: an entry for a port the agent
    already serves redirects it to ``defaultEndpoint``; other entries add a listener on that port."""
    ports = {p.service_port: p for p in scope.proxy.inbound}
    if scope.sidecar is None:
        return tuple(ports.values())
    for ingress in as_list(scope.sidecar.spec.get("ingress")):
        ingress = as_map(ingress)
        port = as_map(ingress.get("port"))
        number = as_int(port.get("number"))
        _, _, target = str(ingress.get("defaultEndpoint", "")).rpartition(":")
        if not number or not target.isdigit():
            continue  # unix:// endpoints and malformed entries: nothing this proxy can bind
        current = ports.get(number)
        ports[number] = InboundPort(
            service_port=number,
            name=str(port.get("name", current.name if current else "")),
            protocol=str(port.get("protocol", current.protocol if current else "HTTP")).upper(),
            listen_port=current.listen_port if current else number,
            app_port=int(target),
        )
    return tuple(sorted(ports.values(), key=lambda p: p.service_port))


def _visible(resource: Resource, proxy: Proxy) -> bool:
    export = resource.spec.get("exportTo")
    return exported_to([str(e) for e in as_list(export)] or None, resource.namespace, proxy.namespace)


def _dr_applies(dr: Resource, proxy: Proxy) -> bool:
    selector = as_map(dr.spec.get("workloadSelector")).get("matchLabels")
    if selector is None:
        return True
    return dr.namespace == proxy.namespace and labels_match(as_map(selector), proxy.labels)


def select_sidecar(proxy: Proxy, mesh: MeshSnapshot) -> Resource | None:
    """Istio's precedence: a workload-selecting Sidecar in the proxy's namespace, then the namespace's
    selector-less Sidecar, then the root namespace's selector-less Sidecar (the mesh default)."""
    sidecars = mesh.of("Sidecar")
    own = [s for s in sidecars if s.namespace == proxy.namespace]
    for s in own:
        selector = as_map(as_map(s.spec.get("workloadSelector")).get("labels"))
        if selector and labels_match(selector, proxy.labels):
            return s
    for s in own:
        if not as_map(s.spec.get("workloadSelector")).get("labels"):
            return s
    root = mesh.mesh.root_namespace
    return next((s for s in sidecars if s.namespace == root and not s.spec.get("workloadSelector")), None)


def _egress_hosts(sidecar: Resource) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for egress in as_list(sidecar.spec.get("egress")):
        for entry in as_list(as_map(egress).get("hosts")):
            ns, _, host = str(entry).partition("/")
            if host:
                out.append((ns, host.lower()))
    return out


def _egress_allows(egress: list[tuple[str, str]], svc: Service, sidecar_ns: str) -> bool:
    return egress_allows_host(egress, svc.hostname, svc.namespace, sidecar_ns)


def egress_allows_host(egress: list[tuple[str, str]], hostname: str, namespace: str, sidecar_ns: str) -> bool:
    """True when a Sidecar ``egress.hosts`` entry (``ns/host``) admits ``hostname`` from ``namespace``."""
    for ns, host in egress:
        if ns == "~":
            continue
        target_ns = sidecar_ns if ns == "." else ns
        if target_ns != "*" and target_ns != namespace:
            continue
        pattern = fqdn(host, namespace) if "." not in host and host != "*" else host
        if host_matches(pattern, hostname):
            return True
    return False


def _merge_rules(hostname: str, candidates: list[tuple[int, Resource]], proxy: Proxy) -> DestinationPolicy:
    if not candidates:
        return DestinationPolicy(hostname)
    # Istio looks in the proxy's namespace first, then the service's, then elsewhere.
    chosen = [r for _, _, r in sorted((0 if r.namespace == proxy.namespace else 1, i, r) for i, r in candidates)]
    policy: Mapping[str, Any] = {}
    subsets: dict[str, Mapping[str, Any]] = {}
    for dr in chosen:
        if not policy and as_map(dr.spec.get("trafficPolicy")):
            policy = as_map(dr.spec.get("trafficPolicy"))
        for s in as_list(dr.spec.get("subsets")):
            name = str(as_map(s).get("name", ""))
            if name and name not in subsets:
                subsets[name] = as_map(s)
    return DestinationPolicy(hostname, policy, tuple(subsets.values()), chosen[0])
