"""Split a sidecar's output into what it shares with similar proxies and what is its own.

Most of a sidecar's config (outbound clusters, their endpoints, the ``http_proxy`` route
configuration) depends only on its namespace and on which label selectors in the config select it.
Every proxy with the same :func:`sharing_key` gets exactly the same such resources, so the control
plane builds them once per key and per push (Istio's "scope" caching), and builds only listeners,
inbound clusters and upstream routes per proxy. Invariant (tested): for every sidecar,
``merge(shared_resources(p, m), local_resources(p, m)) == translate(p, m)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping

from mizzen.config.models import VirtualService
from mizzen.config.semantics.selectors import subset_of
from mizzen.node import Proxy
from mizzen.translate import names
from mizzen.translate.clusters import build_clusters, inbound_cluster, inbound_pool
from mizzen.translate.endpoints import build_endpoints_for_scope
from mizzen.translate.gateway import upstream_credential_secrets
from mizzen.translate.listeners import sidecar_listeners
from mizzen.translate.model import MeshSnapshot, ProxyResources
from mizzen.translate.scope import Scope, build_scope, inbound_ports
from mizzen.translate.vhosts import http_proxy_route_config

INBOUND_PREFIX = "inbound|"
Selectors = tuple[tuple[tuple[str, str], ...], ...]


def label_selectors(mesh: MeshSnapshot) -> Selectors:
    """Every label selector in the config that can make two sidecars' outbound config differ.

    Empty selectors are left out: they select every workload of a namespace, and the namespace is
    already part of the key.
    """
    selectors: list[Mapping[str, str]] = []
    for sc in mesh.sidecars:
        selectors += [sc.spec.workload_selector.labels] if sc.spec.workload_selector is not None else []
    for dr in mesh.destination_rules:
        selectors += [dr.spec.workload_selector.match_labels] if dr.spec.workload_selector is not None else []
    for vs in mesh.virtual_services:
        selectors += _source_labels(vs.spec)
    return tuple(sorted({tuple(sorted(sel.items())) for sel in selectors if sel}))


def _source_labels(vs: VirtualService) -> Iterable[Mapping[str, str]]:
    for http in vs.http:
        yield from (m.source_labels for m in http.match)
    for tcp in vs.tcp:
        yield from (m.source_labels for m in tcp.match)
    for tls in vs.tls:
        yield from (m.source_labels for m in tls.match)


def sharing_key(
    proxy: Proxy,
    mesh: MeshSnapshot,
    selectors: Selectors | None = None,
    failover_labels: tuple[str, ...] | None = None,
) -> Hashable | None:
    """Proxies with equal keys get identical shared resources; ``None`` when a proxy shares nothing.

    ``selectors`` is :func:`label_selectors` of ``mesh`` and ``failover_labels`` its
    :func:`failover_priority_labels`, passed in when computing many keys at once (each walks every
    DestinationRule).
    """
    if proxy.type != "sidecar":
        return None
    sels = label_selectors(mesh) if selectors is None else selectors
    selected = tuple(subset_of(dict(sel), proxy.labels) for sel in sels)
    # Locality load balancing orders endpoints by the proxy's locality and failoverPriority labels.
    labels = failover_priority_labels(mesh) if failover_labels is None else failover_labels
    compared = tuple((name, proxy.labels.get(name, "")) for name in labels)
    # A capture sidecar's special clusters differ (translate/capture.py): it shares only with its kind.
    mode = (bool(proxy.http_proxy_port), proxy.interception)
    return ("sidecar", proxy.namespace, selected, mode, proxy.locality, compared)


def failover_priority_labels(mesh: MeshSnapshot) -> tuple[str, ...]:
    """Every label a DestinationRule's ``failoverPriority`` compares with the proxy's (sorted)."""
    found: set[str] = set()
    for dr in mesh.destination_rules:
        policies = [dr.spec.traffic_policy, *(s.traffic_policy for s in dr.spec.subsets)]
        for policy in filter(None, policies):
            for lb in [policy.load_balancer, *(p.load_balancer for p in policy.port_level_settings)]:
                setting = lb.locality_lb_setting if lb is not None else None
                found.update(x.partition("=")[0] for x in (setting.failover_priority if setting else ()))
    return tuple(sorted(found))


def shared_resources(proxy: Proxy, mesh: MeshSnapshot, scope: Scope | None = None) -> ProxyResources:
    """Outbound and special clusters, EDS and the ``http_proxy`` routes of a sidecar."""
    scope = scope or build_scope(proxy, mesh)
    clusters = {n: c for n, c in build_clusters(scope).items() if not n.startswith(INBOUND_PREFIX)}
    routes = {names.RDS_HTTP_PROXY: http_proxy_route_config(scope)} if proxy.http_proxy_port else {}
    secrets = upstream_credential_secrets(scope, clusters)
    return ProxyResources(clusters=clusters, endpoints=build_endpoints_for_scope(scope), routes=routes, secrets=secrets)


def local_resources(proxy: Proxy, mesh: MeshSnapshot, scope: Scope | None = None) -> ProxyResources:
    """A sidecar's own listeners, inbound clusters and upstream route configurations."""
    scope = scope or build_scope(proxy, mesh)
    listeners, routes = sidecar_listeners(scope)
    clusters = {
        names.inbound_cluster(port.service_port): inbound_cluster(
            port, mesh.mesh.connect_timeout, inbound_pool(scope, port), proxy.app_address
        )
        for port in inbound_ports(scope)
    }
    return ProxyResources(clusters=clusters, listeners=listeners, routes=routes)


def merge(shared: ProxyResources, local: ProxyResources) -> ProxyResources:
    """The full output, sorted by name as :func:`~mizzen.translate.translate` returns it."""

    def both(
        a: Mapping[str, Mapping[str, object]], b: Mapping[str, Mapping[str, object]]
    ) -> dict[str, Mapping[str, object]]:
        return dict(sorted({**a, **b}.items()))

    return ProxyResources(
        clusters=both(shared.clusters, local.clusters),
        endpoints=both(shared.endpoints, local.endpoints),
        listeners=both(shared.listeners, local.listeners),
        routes=both(shared.routes, local.routes),
        secrets=both(shared.secrets, local.secrets),
    )
