"""Sidecar LDS: the outbound HTTP-proxy listener, inbound listeners to the app, and explicit
upstream listeners for TCP/gRPC clients (there are no iptables: every listener binds a real port)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mizzen.config.models import Typed, VirtualService
from mizzen.config.semantics.hosts import resolve
from mizzen.config.semantics.visibility import hosts_admit
from mizzen.node import InboundPort, Upstream
from mizzen.translate import names, stats_logger
from mizzen.translate.capture import capture_listeners, captures
from mizzen.translate.common import JSONDict
from mizzen.translate.egress import connect_listeners, connect_log_filter
from mizzen.translate.endpoints import socket_address
from mizzen.translate.filters import hcm, http_filters, tcp_proxy
from mizzen.translate.outbound_ports import outbound_hcm, outbound_port_filter
from mizzen.translate.routes import RouteContext
from mizzen.translate.scope import Scope, inbound_ports, ingress_tls, listener_hosts
from mizzen.translate.security.inbound import INBOUND_HCM_CLIENT_CERT, inbound_filter_chains, inbound_listener_fields
from mizzen.translate.security.ingress_tls import after_termination, ingress_tls_chains, terminating_tls
from mizzen.translate.security.wiring import (
    http_security_filters,
    peer_authentication,
    tcp_security_filters,
    trust_domains,
)
from mizzen.translate.tcp import outbound_tcp_proxy, sni_filter_chains, tcp_destinations, tls_routes
from mizzen.translate.tunnels import passthrough_tunnel
from mizzen.translate.vhosts import (
    HTTP_PROTOCOLS,
    VirtualServiceIndex,
    is_http,
    mesh_virtual_services,
    select_virtual_service,
    upstream_route_config,
)

TLS_PROTOCOLS = frozenset({"TLS", "HTTPS"})


@dataclass(frozen=True)
class BuiltListener:
    """A listener and, for an HTTP one on its own RDS, that route configuration and its name."""

    name: str
    listener: JSONDict
    routes_name: str = ""
    routes: JSONDict | None = None


def sidecar_listeners(scope: Scope) -> tuple[dict[str, JSONDict], dict[str, JSONDict]]:
    """(listeners, extra route configs for upstream listeners) for a sidecar, both keyed by name."""
    listeners: dict[str, JSONDict] = {}
    routes: dict[str, JSONDict] = {}
    proxy = scope.proxy
    if proxy.http_proxy_port:
        listeners[names.listener("127.0.0.1", proxy.http_proxy_port)] = http_proxy_listener(
            scope, proxy.http_proxy_port
        )
    inbound = [inbound_listener(scope, port) for port in inbound_ports(scope)]
    if captures(proxy):  # transparent capture: virtualInbound serves these ports (:mod:`.capture`)
        captured, captured_routes = capture_listeners(scope, inbound)
        listeners.update(captured)
        routes.update(captured_routes)
    else:
        listeners.update((str(lis["name"]), lis) for lis in inbound)
    for upstream in proxy.upstreams:
        built = upstream_listener(scope, upstream)
        listeners[built.name] = built.listener
        if built.routes is not None:
            routes[built.routes_name] = built.routes
    for built in sidecar_egress_listeners(scope):
        listeners.setdefault(built.name, built.listener)
        if built.routes is not None:
            routes.setdefault(built.routes_name, built.routes)
    listeners.update(connect_listeners(scope, _lazy_candidates(scope)))
    return listeners, routes


def _lazy_candidates(scope: Scope) -> Callable[[str], list[Typed[VirtualService]]]:
    """The sidecar's VirtualService candidates per host, indexed on first use: a sidecar without TLS tunnel
    ports never reads the VirtualServices for its listeners (the control plane then reuses them across
    VirtualService changes, :mod:`mizzen.controlplane.local_outputs`)."""
    index: list[VirtualServiceIndex] = []

    def candidates(hostname: str) -> list[Typed[VirtualService]]:
        if not index:
            index.append(VirtualServiceIndex(mesh_virtual_services(scope)))
        return index[0].candidates(hostname)

    return candidates


def sidecar_egress_listeners(scope: Scope) -> list[BuiltListener]:
    """Istio's no-iptables mode: a Sidecar ``egress`` entry with a ``port`` and ``captureMode: NONE`` (or
    an explicit ``bind``) binds a real listener on ``bind`` (default 127.0.0.1) at that port. HTTP ports
    route by Host over RDS ``"<port>"`` for the entry's hosts; other ports proxy TCP to the entry's
    (first) service on that port.

    Entries without either stay scoping-only: workloads here share one network namespace, so binding
    the same port for every workload a namespace-wide Sidecar selects would collide (and be NACKed).
    """
    out: list[BuiltListener] = []
    sidecar = scope.sidecar
    if sidecar is None:
        return out
    for egress in sidecar.spec.egress:
        number = egress.port.number if egress.port is not None else 0
        if egress.port is None or not number or (egress.capture_mode != "NONE" and not egress.bind):
            continue
        hosts = listener_hosts(egress, scope.proxy.namespace)
        services = [
            s for s in scope.services if s.port(number) is not None and hosts_admit(hosts, s.hostname, s.namespace)
        ]
        bind = egress.bind or "127.0.0.1"
        name = names.listener(bind, number)
        stat = f"outbound_{bind}_{number}"
        protocol = (egress.port.protocol if egress.port.protocol is not None else "TCP").upper()
        http = protocol in HTTP_PROTOCOLS
        if not http and not services:
            continue
        filt, rc = outbound_port_filter(scope, number, stat, services, http=http, dynamic_forward=True)
        listener = _listener(name, bind, number, [{"filters": [filt]}], "OUTBOUND")
        out.append(BuiltListener(name, listener, str(number), rc) if http else BuiltListener(name, listener))
    return out


def _listener(name: str, address: str, port: int, chains: list[JSONDict], direction: str) -> JSONDict:
    return {
        "name": name,
        "address": socket_address(address, port),
        "filter_chains": chains,
        "traffic_direction": direction,
    }


def http_proxy_listener(scope: Scope, port: int) -> JSONDict:
    """``127.0.0.1:<http proxy port>`` -> HCM on RDS ``http_proxy`` (with the dynamic forward proxy
    filter, so ALLOW_ANY passthrough reaches hosts the mesh does not know). CONNECT tunnels into
    internal listeners are logged by those listeners, not here (:mod:`.egress`)."""
    name = names.listener("127.0.0.1", port)
    filt = hcm(
        scope.proxy,
        scope.mesh.mesh,
        f"outbound_{name}",
        direction="outbound",
        rds=names.RDS_HTTP_PROXY,
        filters=http_filters(True, connect_target=passthrough_tunnel(scope)),
        log_filter=connect_log_filter(),
        resolved=scope.telemetry,
    )
    return _listener(name, "127.0.0.1", port, [{"filters": [filt]}], "OUTBOUND")


def inbound_listener(scope: Scope, port: InboundPort) -> JSONDict:
    """``<proxy ip>:<listen port>`` -> the app via ``inbound|<service port>||``, with the filter chains
    the port's PeerAuthentication mode asks for (mTLS, plaintext or both) and the proxy's
    AuthorizationPolicy / RequestAuthentication filters on each. A Sidecar ingress ``tls`` on a port
    whose mode is ``DISABLE`` terminates TLS with the user's certificate instead (:mod:`.ingress_tls`)."""
    proxy = scope.proxy
    name = names.listener(proxy.ip, port.listen_port)
    mode = peer_authentication(scope).mode_for_port(port.service_port)
    # Istio: user TLS on a Sidecar ingress port applies only where mesh mTLS is off for that port.
    user_tls = terminating_tls(ingress_tls(scope, port.service_port)) if mode == "DISABLE" else None
    protocol = after_termination(port.protocol) if user_tls is not None else port.protocol.upper()
    # Istio's protocol.IsTCP: HTTPS arrives encrypted for the app, so the sidecar passes it through.
    tcp = protocol in ("TCP", "TLS", "HTTPS", "MONGO", "MYSQL", "REDIS")
    filters = _inbound_tcp_filters(scope, port) if tcp else _inbound_http_filters(scope, port)
    chain_name = f"{proxy.ip}_{port.service_port}"
    if user_tls is not None:
        chains = ingress_tls_chains(user_tls, filters, name=chain_name)
    else:
        chains = inbound_filter_chains(
            mode, "TCP" if tcp else "HTTP", filters, name=chain_name, trust_domains=trust_domains(scope.mesh)
        )
        if tcp:
            _connect_after_handshake(chains)
    listener = _listener(name, proxy.ip, port.listen_port, [], "INBOUND")
    listener.update(inbound_listener_fields(chains))
    return listener


def _connect_after_handshake(chains: list[JSONDict]) -> None:
    """On the mTLS chains, tcp_proxy connects the app once the client's handshake is done: its connected
    entry, which counts the connection opened, then knows the client's certificate (source_principal)."""
    for chain in chains:
        filters = chain.get("filters")
        if "transport_socket" not in chain or not isinstance(filters, list):
            continue
        # New dicts, not changes in place: the chains of a port share their filter objects.
        chain["filters"] = [_connecting_after_handshake(filt) for filt in filters]


def _connecting_after_handshake(filt: JSONDict) -> JSONDict:
    config = filt.get("typed_config")
    if filt.get("name") != names.TCP_PROXY or not isinstance(config, dict):
        return filt
    # No data buffered before the app is connected.
    after = {**config, "upstream_connect_mode": "ON_DOWNSTREAM_TLS_HANDSHAKE", "max_early_data_bytes": 0}
    return {**filt, "typed_config": after}


def _port_map(scope: Scope) -> dict[int, int]:
    # Policies name workload ports; this port's connections arrive on the listener's own port.
    return {p.service_port: p.listen_port for p in inbound_ports(scope)}


def _inbound_tcp_filters(scope: Scope, port: InboundPort) -> list[JSONDict]:
    """Network RBAC, then tcp_proxy to the app."""
    proxy = scope.proxy
    stat = f"inbound_{proxy.ip}_{port.service_port}"
    cluster = names.inbound_cluster(port.service_port)
    return [
        *tcp_security_filters(scope, _port_map(scope)),
        tcp_proxy(
            proxy,
            scope.mesh.mesh,
            stat,
            [(cluster, 100)],
            "inbound",
            service=_inbound_service(scope, port),
            resolved=scope.telemetry,
        ),
    ]


def _inbound_service(scope: Scope, port: InboundPort) -> stats_logger.ServiceTags | None:
    """The destination service the port's metrics name: the first service (registry order) selecting
    the workload with this port."""
    proxy = scope.proxy
    services = scope.mesh.registry.services_selecting(proxy.namespace, proxy.labels)
    return stats_logger.service_tags(
        (s.hostname, s.name, s.namespace) for s in services if s.port(port.service_port) is not None
    )


def _inbound_http_filters(scope: Scope, port: InboundPort) -> list[JSONDict]:
    """The inbound HTTP connection manager: one route to the app, the security filters before the router."""
    proxy = scope.proxy
    cluster = names.inbound_cluster(port.service_port)
    stat = f"inbound_{proxy.ip}_{port.service_port}"
    route = {
        "name": names.DEFAULT_ROUTE,
        "match": {"prefix": "/"},
        "route": {"cluster": cluster, "timeout": "0s"},
        "decorator": {"operation": f"{proxy.name}.{proxy.namespace}:{port.service_port}/*"},
    }
    rc: JSONDict = {
        "name": cluster,
        "validate_clusters": False,
        "virtual_hosts": [{"name": f"inbound|http|{port.service_port}", "domains": ["*"], "routes": [route]}],
    }
    chain = [*http_security_filters(scope, _port_map(scope)), *http_filters(False)]
    service = _inbound_service(scope, port)
    filt = hcm(
        proxy,
        scope.mesh.mesh,
        stat,
        direction="inbound",
        route_config=rc,
        filters=chain,
        service=service,
        resolved=scope.telemetry,
    )
    config = filt["typed_config"]
    if isinstance(config, dict):
        config.update(INBOUND_HCM_CLIENT_CERT)
    return [filt]


def upstream_listener(scope: Scope, upstream: Upstream) -> BuiltListener:
    """An explicit local port for one service port: HTTP/gRPC -> HCM on a route config for just that
    service; TLS -> SNI chains from ``tls`` rules; TCP -> tcp_proxy (``tcp`` rules, weights)."""
    proxy = scope.proxy
    host = resolve(upstream.host, proxy.namespace, scope.known_hosts)
    svc = scope.service(host)
    sp = svc.port(upstream.port) if svc is not None else None
    name = names.listener(upstream.bind, upstream.listen_port)
    stat = f"outbound_{upstream.bind}_{upstream.listen_port}"
    if svc is not None and sp is not None and is_http(sp):
        rds = names.upstream_route_config(svc.hostname, upstream.port)
        filt = outbound_hcm(scope, stat, rds, dynamic_forward=False)
        lis = _listener(name, upstream.bind, upstream.listen_port, [{"filters": [filt]}], "OUTBOUND")
        return BuiltListener(name, lis, rds, upstream_route_config(scope, svc, upstream.port))
    ctx = RouteContext(scope, upstream.port)
    vs = select_virtual_service(mesh_virtual_services(scope), host)
    default = outbound_tcp_proxy(ctx, stat, tcp_destinations(ctx, vs, host))
    lis = _listener(name, upstream.bind, upstream.listen_port, [{"filters": [default]}], "OUTBOUND")
    if sp is not None and sp.protocol.upper() in TLS_PROTOCOLS:
        chains = sni_filter_chains(tls_routes(ctx, vs), lambda dests: outbound_tcp_proxy(ctx, stat, dests))
        if chains:
            lis["filter_chains"] = chains
            lis["default_filter_chain"] = {"filters": [default]}
            lis["listener_filters"] = [{"name": names.TLS_INSPECTOR, "typed_config": {"@type": names.T_TLS_INSPECTOR}}]
    return BuiltListener(name, lis)
