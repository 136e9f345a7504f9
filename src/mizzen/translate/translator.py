"""The translator's entry points: ``translate(proxy, mesh)`` and ``build_endpoints(proxy, mesh)``.

Pure and deterministic: no I/O, no clock, no globals; every mapping comes out sorted by name, so the
same inputs give byte-identical JSON (the xds layer serializes once and shares by content). Bad config
raises nothing: like Istio, the translator leaves out what it cannot build.
"""

from __future__ import annotations

from mizzen.node import Proxy
from mizzen.translate import names
from mizzen.translate.clusters import build_clusters
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import build_endpoints_for_scope
from mizzen.translate.gateway import gateway_resources, upstream_credential_secrets
from mizzen.translate.listeners import sidecar_listeners
from mizzen.translate.model import MeshSnapshot, ProxyResources
from mizzen.translate.scope import build_scope
from mizzen.translate.vhosts import http_proxy_route_config


def translate(proxy: Proxy, mesh: MeshSnapshot) -> ProxyResources:
    """Envoy resources (CDS, EDS, LDS, RDS, SDS) for one proxy from the mesh snapshot."""
    scope = build_scope(proxy, mesh)
    clusters = build_clusters(scope)
    endpoints = build_endpoints_for_scope(scope)
    listeners: dict[str, JSONDict]
    routes: dict[str, JSONDict]
    secrets: dict[str, JSONDict] = {}
    if proxy.type == "router":
        listeners, routes, secrets = gateway_resources(scope)
    else:
        listeners, routes = sidecar_listeners(scope)
        if proxy.http_proxy_port:
            routes[names.RDS_HTTP_PROXY] = http_proxy_route_config(scope)
    # DestinationRule credentialName: the client certificate / CA the clusters reference over ADS.
    secrets.update(upstream_credential_secrets(scope, clusters))
    return ProxyResources(
        clusters=clusters,
        endpoints=endpoints,
        listeners=dict(sorted(listeners.items())),
        routes=dict(sorted(routes.items())),
        secrets=dict(sorted(secrets.items())),
    )


def build_endpoints(proxy: Proxy, mesh: MeshSnapshot) -> dict[str, dict[str, object]]:
    """Only the EDS resources for ``proxy`` (the control plane's endpoint fast path)."""
    return build_endpoints_for_scope(build_scope(proxy, mesh))
