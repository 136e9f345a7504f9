"""Sidecar route configurations: one virtual host per (service, port) with Istio's domain variants
(``host:port`` forms, since HTTP-proxy clients send them), routes from the first VirtualService for
the host (sidecars do not merge VirtualServices), Istio's default route otherwise, and the catch-all
``allow_any`` / ``block_all`` virtual host."""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.config import internal
from mizzen.config.models import Typed, VirtualService
from mizzen.config.semantics.hosts import fqdn, host_matches, match_specificity
from mizzen.registry.model import Service, ServicePort
from mizzen.translate import egress, names
from mizzen.translate.common import JSONDict
from mizzen.translate.hosts import domain_variants, with_port
from mizzen.translate.routes import RouteContext, default_route, http_routes
from mizzen.translate.scope import Scope

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB", "UNSUPPORTED", ""})
MAX_DIRECT_BODY = 1048576


def is_http(port: ServicePort) -> bool:
    """True for ports whose protocol the HTTP proxy routes (HTTP family and undeclared)."""
    return port.protocol.upper() in HTTP_PROTOCOLS


def mesh_virtual_services(scope: Scope) -> list[Typed[VirtualService]]:
    """VirtualServices that apply to sidecars: bound to ``mesh`` (or unbound), not delegates. Routes
    converted from the Gateway API in the proxy's own namespace come first (the consumer's override)."""
    out = [
        vs for vs in scope.virtual_services if vs.spec.hosts and (not vs.spec.gateways or "mesh" in vs.spec.gateways)
    ]
    ns = scope.proxy.namespace
    return sorted(out, key=lambda vs: not (internal.gateway_semantics(vs.metadata.annotations) and vs.namespace == ns))


def vs_hosts(vs: Typed[VirtualService]) -> list[str]:
    """The VS's hosts resolved relative to its namespace."""
    return [fqdn(h, vs.namespace) for h in vs.spec.hosts]


class VirtualServiceIndex:
    """Sidecars take one VS per host: an exact host match (oldest first), else the most specific
    wildcard. Indexed once so choosing is O(1) per service for exact hosts."""

    def __init__(self, vss: list[Typed[VirtualService]]) -> None:
        """Index ``vss`` (in their config order, which breaks ties between equal hosts)."""
        self.vss = vss
        self.exact: dict[str, list[Typed[VirtualService]]] = {}
        self.wildcards: list[tuple[int, int, str, Typed[VirtualService]]] = []
        for index, vs in enumerate(vss):
            for h in vs_hosts(vs):
                if h.startswith("*"):
                    self.wildcards.append((-match_specificity(h), index, h, vs))
                else:
                    self.exact.setdefault(h, []).append(vs)
        self.wildcards.sort(key=lambda w: (w[0], w[1]))

    def select(self, hostname: str) -> Typed[VirtualService] | None:
        """The VS whose routes apply to ``hostname`` for sidecars, if any."""
        return next(iter(self.candidates(hostname)), None)

    def candidates(self, hostname: str) -> list[Typed[VirtualService]]:
        """VSs for ``hostname`` in the order sidecars try them (the first with routes for a port wins)."""
        exact = self.exact.get(hostname, [])
        return exact + [vs for _, _, h, vs in self.wildcards if host_matches(h, hostname) and vs not in exact]


def select_virtual_service(vss: list[Typed[VirtualService]], hostname: str) -> Typed[VirtualService] | None:
    """The VS sidecars use for ``hostname`` (see :class:`VirtualServiceIndex`)."""
    return VirtualServiceIndex(vss).select(hostname)


def service_routes(scope: Scope, index: VirtualServiceIndex, svc: Service, port: int) -> list[JSONDict]:
    """Routes for one service port: those of the first VS with routes for the port, else the default
    route (Istio: a VS with no route for this port does not claim the service on it)."""
    for vs in index.candidates(svc.hostname):
        # A route converted from the Gateway API applies to the Service's namespace and its own.
        gateway_api = internal.gateway_semantics(vs.metadata.annotations)
        if gateway_api and scope.proxy.namespace != vs.namespace != svc.namespace:
            continue
        routes = http_routes(RouteContext(scope, port), vs)
        if routes:
            return [r.json for r in routes]
    return [default_route(scope, svc.hostname, port)]


def http_proxy_route_config(scope: Scope) -> JSONDict:
    """The ``http_proxy`` route configuration behind the sidecar's outbound HTTP-proxy listener."""
    return sidecar_route_config(scope, names.RDS_HTTP_PROXY, scope.services, connect=True)


def sidecar_route_config(
    scope: Scope, name: str, services: Sequence[Service], only_port: int = 0, *, connect: bool = False
) -> JSONDict:
    """Vhosts for the HTTP ports of ``services`` (all ports, or ``only_port``), VS-only hosts, and the
    catch-all: the ``http_proxy`` config, or Istio's per-port config ``"<port>"`` of a Sidecar egress.
    With ``connect`` (the HTTP-proxy listener), CONNECT tunnels are routed too (:mod:`.egress`)."""
    index = VirtualServiceIndex(mesh_virtual_services(scope))
    seen: set[str] = set()
    vhosts: list[tuple[str, JSONDict]] = []
    for svc in services:
        for port in svc.ports:
            if only_port and port.number != only_port:
                continue
            # CONNECT tunnels (HTTPS_PROXY) reach the HTTP-proxy listener only.
            ctx = RouteContext(scope, port.number)
            tunnel = egress.connect_routes(ctx, index.select(svc.hostname), svc, port) if connect else []
            if not is_http(port) and not tunnel:
                continue
            domains = _unique(with_port(domain_variants(svc, scope.proxy.namespace), port.number), seen)
            if domains:
                vhost_name = names.vhost(svc.hostname, port.number)
                others = service_routes(scope, index, svc, port.number) if is_http(port) else catch_all_routes(scope)
                vhosts.append((vhost_name, {"name": vhost_name, "domains": domains, "routes": tunnel + others}))
    if not only_port or only_port == 80:
        vhosts += _non_registry_vhosts(scope, index, seen)
    if connect:
        vhosts += _sni_only_vhosts(scope, index, seen)
    vhosts.sort(key=lambda v: v[0])
    catch_all = catch_all_vhost(scope.outbound_policy)
    if connect:
        catch_all["routes"] = egress.catch_all_connect_route(scope) + catch_all_routes(scope)
    return route_config(name, [v for _, v in vhosts] + [catch_all])


def _non_registry_vhosts(scope: Scope, index: VirtualServiceIndex, seen: set[str]) -> list[tuple[str, JSONDict]]:
    """VS hosts naming no service (``bookinfo.com``) get their own vhost on port 80, and so do hosts of a
    service without port 80 when the VS has routes for port 80 (Istio's route config for a port counts
    only the services with that port; the egress-gateway tasks send ``http://my-nginx...`` on 80 to a
    service that has only 443)."""
    out: list[tuple[str, JSONDict]] = []
    known = [s.hostname for s in scope.services]
    for vs in index.vss:
        for host in vs_hosts(vs):
            svc = scope.service(host)
            if host == "*" or (svc is not None and svc.port(80) is not None):
                continue
            if not scope.allows_host(host, vs.namespace) or index.select(host) is not vs:
                continue
            if host.startswith("*") and any(host_matches(host, k) for k in known):
                continue
            routes = [r.json for r in http_routes(RouteContext(scope, 80), vs)]
            if svc is not None and not routes:
                continue  # the VS does not claim the service on a port it lacks
            domains = _unique(with_port([host], 80), seen)
            if domains:
                out.append(
                    (names.vhost(host, 80), {"name": names.vhost(host, 80), "domains": domains, "routes": routes})
                )
    return out


def _sni_only_vhosts(scope: Scope, index: VirtualServiceIndex, seen: set[str]) -> list[tuple[str, JSONDict]]:
    """CONNECT to a name only a ``tls`` rule's ``sniHosts`` holds (no service vhost has ``name:port``):
    into the port's tunnel listener, which routes it by SNI; other requests get the catch-all's routes."""
    out: list[tuple[str, JSONDict]] = []
    for port, name in egress.tunnel_server_names(scope, index.candidates):
        domains = _unique([f"{name}:{port}"], seen)
        if domains:
            routes = [egress.connect_route({"cluster": names.connect_tunnel(port)}), *catch_all_routes(scope)]
            out.append(
                (names.vhost(name, port), {"name": names.vhost(name, port), "domains": domains, "routes": routes})
            )
    return out


def _unique(domains: list[str], seen: set[str]) -> list[str]:
    """Drop domains another vhost already has (Envoy rejects duplicates; first wins, as in Istio)."""
    out = [d for d in dict.fromkeys(domains) if d not in seen]
    seen.update(out)
    return out


def catch_all_vhost(policy: str) -> JSONDict:
    """``allow_any`` (to PassthroughCluster) or ``block_all`` (502) for unknown hosts."""
    name = names.BLOCK_ALL if policy == "REGISTRY_ONLY" else names.ALLOW_ANY
    return {"name": name, "domains": ["*"], "routes": _catch_all_routes(policy)}


def catch_all_routes(scope: Scope) -> list[JSONDict]:
    """The routes of the catch-all vhost for the proxy's outbound traffic policy."""
    return _catch_all_routes(scope.outbound_policy)


def _catch_all_routes(policy: str) -> list[JSONDict]:
    if policy == "REGISTRY_ONLY":
        return [{"name": names.BLOCK_ALL, "match": {"prefix": "/"}, "direct_response": {"status": 502}}]
    return [
        {
            "name": names.ALLOW_ANY,
            "match": {"prefix": "/"},
            "route": {"cluster": names.PASSTHROUGH_CLUSTER, "timeout": "0s"},
        }
    ]


def upstream_route_config(scope: Scope, svc: Service, port: int) -> JSONDict:
    """Route config for an explicit upstream port bound to one service (any authority)."""
    index = VirtualServiceIndex(mesh_virtual_services(scope))
    vhost: JSONDict = {
        "name": names.vhost(svc.hostname, port),
        "domains": ["*"],
        "routes": service_routes(scope, index, svc, port),
    }
    return route_config(names.upstream_route_config(svc.hostname, port), [vhost])


def route_config(name: str, vhosts: list[JSONDict], headers: list[JSONDict] | None = None) -> JSONDict:
    """A RouteConfiguration with Istio's settings (clusters not validated: unknown -> 503), adding
    ``headers`` to every request it routes."""
    rc: JSONDict = {
        "name": name,
        "virtual_hosts": vhosts,
        "validate_clusters": False,
        "max_direct_response_body_size_bytes": MAX_DIRECT_BODY,
    }
    if headers:
        rc["request_headers_to_add"] = headers
    return rc
