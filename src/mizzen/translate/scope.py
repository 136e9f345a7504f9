"""What one proxy can see: visible services, merged DestinationRules, VirtualServices, its Sidecar.

Istio computes a ``SidecarScope`` per proxy; this is the same idea, reduced to what the builders read.
Visibility follows ``exportTo``; a ``Sidecar`` resource's ``egress.hosts`` narrows the services (the
main push-size reducer), and its ``outboundTrafficPolicy`` overrides the mesh's.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

from mizzen.config.models import DestinationRule, Sidecar, Typed, VirtualService
from mizzen.config.models.destination_rule import Subset, TrafficPolicy
from mizzen.config.models.gateway import ServerTLSSettings
from mizzen.config.models.sidecar import IstioEgressListener
from mizzen.config.semantics.hosts import fqdn, host_matches, match_specificity
from mizzen.config.semantics.selectors import DESTINATION_RULE, SIDECAR, selects, workload_specific
from mizzen.config.semantics.visibility import exported_to, hosts_admit, namespaced_host
from mizzen.node import InboundPort, Proxy
from mizzen.registry.model import Endpoint, Service
from mizzen.translate.model import MeshSnapshot
from mizzen.translate.telemetry_api import ProxyTelemetry
from mizzen.translate.telemetry_api import resolve as resolve_telemetry

EgressHosts = tuple[tuple[str, str], ...]
"""A Sidecar's ``egress.hosts`` as (namespace filter, host) pairs; empty when nothing narrows."""


@dataclass(frozen=True)
class DestinationPolicy:
    """The DestinationRules for one host merged as Istio does: first ``trafficPolicy`` wins, subsets
    unioned in order (a duplicate subset name keeps the first)."""

    host: str
    traffic_policy: TrafficPolicy | None = None
    subsets: tuple[Subset, ...] = ()
    source: Typed[DestinationRule] | None = None  # the first DR (provenance metadata)

    def subset(self, name: str) -> Subset | None:
        """The subset called ``name``, if the DestinationRule defines it."""
        return next((s for s in self.subsets if s.name == name), None)


@dataclass(frozen=True)
class Scope:
    """The per-proxy view every builder reads."""

    proxy: Proxy
    mesh: MeshSnapshot
    services: tuple[Service, ...]  # visible and in Sidecar egress scope, sorted by hostname
    virtual_services: tuple[Typed[VirtualService], ...]  # visible VSs, creation order
    destination_rules: tuple[Typed[DestinationRule], ...]  # visible DRs, creation order
    sidecar: Typed[Sidecar] | None
    outbound_policy: str  # "ALLOW_ANY" | "REGISTRY_ONLY"
    egress: EgressHosts = ()
    known_hosts: frozenset[str] = frozenset()  # every registry hostname (visible or not)
    # Indexes and memo tables: translation must stay linear in the number of services.
    _by_host: dict[str, Service] = field(default_factory=dict, compare=False)
    _rules_by_host: dict[str, list[tuple[int, Typed[DestinationRule]]]] = field(default_factory=dict, compare=False)
    _wildcard_rules: list[tuple[int, str, Typed[DestinationRule]]] = field(default_factory=list, compare=False)
    _policies: dict[str, DestinationPolicy] = field(default_factory=dict, compare=False)

    @functools.cached_property
    def telemetry(self) -> ProxyTelemetry:
        """The Telemetry API's logs and traces for this proxy. Computed from the scope's own proxy: the
        control plane reuses one scope for every proxy of a sharing key (``dataclasses.replace`` with the
        other proxy), and Telemetry selectors are not part of that key."""
        return resolve_telemetry(self.proxy, self.mesh)

    def service(self, hostname: str) -> Service | None:
        """The visible service named ``hostname`` (exact), if any."""
        return self._by_host.get(hostname)

    def allows_host(self, hostname: str, namespace: str) -> bool:
        """Whether the proxy's Sidecar ``egress.hosts`` (if any) admit a host defined in ``namespace``."""
        return not self.egress or hosts_admit(self.egress, hostname, namespace)

    def endpoints_of(self, hostname: str, port: int) -> tuple[Endpoint, ...]:
        """Registry endpoints of one service port."""
        return self.mesh.registry.endpoints_of(hostname, port)

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
    egress = egress_hosts(sidecar, proxy.namespace) if sidecar is not None else ()
    visible = [s for s in mesh.registry.services if exported_to(s.export_to, s.namespace, proxy.namespace)]
    if egress:
        visible = [s for s in visible if hosts_admit(egress, s.hostname, s.namespace)]
    by_host: dict[str, Service] = {}
    for s in sorted(visible, key=lambda s: s.hostname):
        by_host.setdefault(s.hostname, s)  # one service per host name (first wins)
    vss = tuple(r for r in mesh.virtual_services if exported_to(r.spec.export_to, r.namespace, proxy.namespace))
    drs = tuple(r for r in mesh.destination_rules if _visible_rule(r, proxy))
    policy = mesh.mesh.outbound_traffic_policy
    if sidecar is not None and sidecar.spec.outbound_traffic_policy is not None:
        policy = sidecar.spec.outbound_traffic_policy.mode or policy
    rules_by_host: dict[str, list[tuple[int, Typed[DestinationRule]]]] = {}
    wildcard_rules: list[tuple[int, str, Typed[DestinationRule]]] = []
    for index, dr in enumerate(drs):
        host = fqdn(dr.spec.host, dr.namespace)
        if host.startswith("*"):
            wildcard_rules.append((index, host, dr))
        elif host:
            rules_by_host.setdefault(host, []).append((index, dr))
    return Scope(
        proxy,
        mesh,
        tuple(by_host.values()),
        vss,
        drs,
        sidecar,
        policy,
        egress,
        frozenset(s.hostname for s in mesh.registry.services),
        by_host,
        rules_by_host,
        wildcard_rules,
    )


def inbound_ports(scope: Scope) -> tuple[InboundPort, ...]:
    """The proxy's inbound ports, with a Sidecar ``ingress`` applied: an entry for a port the agent
    already serves redirects it to ``defaultEndpoint``; other entries add a listener on that port."""
    ports = {p.service_port: p for p in scope.proxy.inbound}
    if scope.sidecar is None:
        return tuple(ports.values())
    for ingress in scope.sidecar.spec.ingress:
        _, _, target = (ingress.default_endpoint or "").rpartition(":")
        if ingress.port is None or not ingress.port.number or not target.isdigit():
            continue  # unix:// endpoints and malformed entries: nothing this proxy can bind
        number = ingress.port.number
        current = ports.get(number)
        default_name, default_protocol = (current.name, current.protocol) if current else ("", "HTTP")
        ports[number] = InboundPort(
            service_port=number,
            name=ingress.port.name if ingress.port.name is not None else default_name,
            protocol=(ingress.port.protocol if ingress.port.protocol is not None else default_protocol).upper(),
            listen_port=current.listen_port if current else number,
            app_port=int(target),
        )
    return tuple(sorted(ports.values(), key=lambda p: p.service_port))


def ingress_tls(scope: Scope, service_port: int) -> ServerTLSSettings | None:
    """The ``tls`` of the Sidecar ingress entry that serves ``service_port`` (the one :func:`inbound_ports`
    applied: the last bindable entry for that number), ``None`` when there is none or it has no ``tls``."""
    if scope.sidecar is None:
        return None
    found: ServerTLSSettings | None = None
    for ingress in scope.sidecar.spec.ingress:
        _, _, target = (ingress.default_endpoint or "").rpartition(":")
        if ingress.port is not None and ingress.port.number == service_port and target.isdigit():
            found = ingress.tls
    return found


def _visible_rule(dr: Typed[DestinationRule], proxy: Proxy) -> bool:
    """Exported to the proxy's namespace, and (Istio) a workload selector applies in its own namespace only."""
    if not exported_to(dr.spec.export_to, dr.namespace, proxy.namespace):
        return False
    ws = dr.spec.workload_selector
    selector = ws.match_labels if ws is not None else None
    if workload_specific(DESTINATION_RULE, selector) and dr.namespace != proxy.namespace:
        return False
    return selects(DESTINATION_RULE, selector, proxy.labels)


def _sidecar_selector(sidecar: Typed[Sidecar]) -> dict[str, str] | None:
    ws = sidecar.spec.workload_selector
    return dict(ws.labels) if ws is not None else None


def select_sidecar(proxy: Proxy, mesh: MeshSnapshot) -> Typed[Sidecar] | None:
    """Istio's precedence: a workload-selecting Sidecar in the proxy's namespace, then the namespace's
    selector-less Sidecar, then the root namespace's selector-less Sidecar (the mesh default)."""
    own = [s for s in mesh.sidecars if s.namespace == proxy.namespace]
    for s in own:
        selector = _sidecar_selector(s)
        if workload_specific(SIDECAR, selector) and selects(SIDECAR, selector, proxy.labels):
            return s
    for s in own:
        if not workload_specific(SIDECAR, _sidecar_selector(s)):
            return s
    root = mesh.mesh.root_namespace
    return next((s for s in mesh.sidecars if s.namespace == root and s.spec.workload_selector is None), None)


def egress_hosts(sidecar: Typed[Sidecar], namespace: str) -> EgressHosts:
    """Every ``egress.hosts`` entry of a Sidecar as (namespace filter, host) for a proxy in ``namespace``.

    ``.`` is the proxy's namespace: for the root namespace's default Sidecar that is the namespace of the
    workload it is applied to, not the root namespace (Istio converts it per configuration namespace).
    """
    return tuple(h for egress in sidecar.spec.egress for h in listener_hosts(egress, namespace))


def listener_hosts(egress: IstioEgressListener, namespace: str) -> EgressHosts:
    """One egress listener's ``hosts`` as (namespace filter, host) pairs (malformed entries skipped)."""
    return tuple(namespaced_host(h, namespace) for h in egress.hosts if "/" in h and not h.endswith("/"))


def _merge_rules(
    hostname: str, candidates: list[tuple[int, Typed[DestinationRule]]], proxy: Proxy
) -> DestinationPolicy:
    if not candidates:
        return DestinationPolicy(hostname)
    # Istio looks in the proxy's namespace first, then the service's, then elsewhere.
    ordered = sorted(candidates, key=lambda c: (0 if c[1].namespace == proxy.namespace else 1, c[0]))
    chosen = [r for _, r in ordered]
    policy: TrafficPolicy | None = None
    subsets: dict[str, Subset] = {}
    for dr in chosen:
        if policy is None and dr.spec.traffic_policy not in (None, TrafficPolicy()):
            policy = dr.spec.traffic_policy
        for s in dr.spec.subsets:
            if s.name and s.name not in subsets:
                subsets[s.name] = s
    return DestinationPolicy(hostname, policy, tuple(subsets.values()), chosen[0])
