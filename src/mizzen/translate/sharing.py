"""Split a sidecar's output into what it shares with similar proxies and what is its own.

Most of a sidecar's config (outbound clusters, their endpoints, the ``http_proxy`` route
configuration) depends only on its namespace and on which label selectors in the config select it.
Every proxy with the same :func:`sharing_key` gets exactly the same such resources, so the control
plane builds them once per key and per push (Istio's "scope" caching), and builds only listeners,
inbound clusters and upstream routes per proxy. Invariant (tested): for every sidecar,
``merge(shared_resources(p, m), local_resources(p, m)) == translate(p, m)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

from mizzen.translate import names
from mizzen.translate.clusters import build_clusters, inbound_cluster, inbound_pool
from mizzen.translate.common import as_list, as_map, labels_match
from mizzen.translate.endpoints import build_endpoints_for_scope
from mizzen.translate.listeners import sidecar_listeners
from mizzen.translate.model import MeshSnapshot, Proxy, ProxyResources
from mizzen.translate.scope import Scope, build_scope, inbound_ports
from mizzen.translate.vhosts import http_proxy_route_config

INBOUND_PREFIX = "inbound|"
Selectors = tuple[tuple[tuple[str, str], ...], ...]


def label_selectors(mesh: MeshSnapshot) -> Selectors:
    """Every label selector in the config that can make two sidecars' outbound config differ."""
    found: set[tuple[tuple[str, str], ...]] = set()

    def add(selector: Any) -> None:
        sel = as_map(selector)
        if sel:
            found.add(tuple(sorted((str(k), str(v)) for k, v in sel.items())))

    for sc in mesh.of("Sidecar"):
        add(as_map(sc.spec.get("workloadSelector")).get("labels"))
    for dr in mesh.of("DestinationRule"):
        add(as_map(dr.spec.get("workloadSelector")).get("matchLabels"))
    for vs in mesh.of("VirtualService"):
        for section in ("http", "tcp", "tls"):
            for rule in as_list(vs.spec.get(section)):
                for match in as_list(as_map(rule).get("match")):
                    add(as_map(match).get("sourceLabels"))
    return tuple(sorted(found))


def sharing_key(proxy: Proxy, mesh: MeshSnapshot, selectors: Selectors | None = None) -> Hashable | None:
    """Proxies with equal keys get identical shared resources; ``None`` when a proxy shares nothing.

    ``selectors`` is :func:`label_selectors` of ``mesh``, passed in when computing many keys at once.
    """
    if proxy.type != "sidecar":
        return None
    sels = label_selectors(mesh) if selectors is None else selectors
    selected = tuple(labels_match(dict(sel), proxy.labels) for sel in sels)
    return ("sidecar", proxy.namespace, selected, bool(proxy.http_proxy_port))


def shared_resources(proxy: Proxy, mesh: MeshSnapshot, scope: Scope | None = None) -> ProxyResources:
    """Outbound and special clusters, EDS and the ``http_proxy`` routes of a sidecar."""
    scope = scope or build_scope(proxy, mesh)
    clusters = {n: c for n, c in build_clusters(scope).items() if not n.startswith(INBOUND_PREFIX)}
    routes = {names.RDS_HTTP_PROXY: http_proxy_route_config(scope)} if proxy.http_proxy_port else {}
    return ProxyResources(clusters=clusters, endpoints=build_endpoints_for_scope(scope), routes=routes)


def local_resources(proxy: Proxy, mesh: MeshSnapshot, scope: Scope | None = None) -> ProxyResources:
    """A sidecar's own listeners, inbound clusters and upstream route configurations."""
    scope = scope or build_scope(proxy, mesh)
    listeners, routes = sidecar_listeners(scope)
    clusters = {}
    for port in inbound_ports(scope):
        c = inbound_cluster(port, mesh.mesh.connect_timeout, inbound_pool(scope, port))
        clusters[str(c["name"])] = c
    return ProxyResources(clusters=clusters, listeners=listeners, routes=routes)


def merge(shared: ProxyResources, local: ProxyResources) -> ProxyResources:
    """The full output, sorted by name as :func:`~mizzen.translate.translate` returns it."""

    def both(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
        return dict(sorted({**a, **b}.items()))

    return ProxyResources(
        clusters=both(shared.clusters, local.clusters),
        endpoints=both(shared.endpoints, local.endpoints),
        listeners=both(shared.listeners, local.listeners),
        routes=both(shared.routes, local.routes),
        secrets=both(shared.secrets, local.secrets),
    )
