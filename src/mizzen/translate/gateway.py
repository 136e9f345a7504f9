"""Router (ingress gateway) resources: listeners per Gateway server port, virtual hosts from server
hosts x bound VirtualService hosts (several VSs merged, catch-alls last), 404 when nothing attaches,
``httpsRedirect``, and HTTPS termination with ``credentialName`` secrets served over SDS."""

from __future__ import annotations

import base64
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen.config import internal
from mizzen.config.models import Gateway, Secret, Typed, VirtualService
from mizzen.config.models.gateway import Server as ServerSpec
from mizzen.config.models.gateway import ServerTLSSettings
from mizzen.config.semantics.hosts import fqdn, host_matches, hosts_intersect
from mizzen.config.semantics.ports import gateway_listen_port, selects_gateway
from mizzen.config.semantics.selectors import GATEWAY, SERVICE, selects
from mizzen.config.semantics.visibility import namespace_admits, namespaced_host
from mizzen.translate import names
from mizzen.translate.clusters import ADS_SOURCE
from mizzen.translate.common import JSONDict
from mizzen.translate.endpoints import socket_address
from mizzen.translate.filters import hcm, http_filters
from mizzen.translate.routes import EnvoyRoute, RouteContext, gateway_ref, http_routes
from mizzen.translate.scope import Scope
from mizzen.translate.security import names as sec_names
from mizzen.translate.security.inbound import sds_secret_config
from mizzen.translate.security.wiring import http_security_filters
from mizzen.translate.tcp import WeightedCluster, outbound_tcp_proxy, sni_filter_chains, tcp_destinations, tls_routes
from mizzen.translate.vhosts import route_config

HTTP_SERVER_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})
_NO_TLS = ServerTLSSettings()


@dataclass(frozen=True)
class Server:
    """One ``servers[]`` entry with the Gateway it belongs to."""

    gateway: Typed[Gateway]
    spec: ServerSpec

    @property
    def ref(self) -> str:
        """``namespace/name`` of the Gateway (how VirtualServices name it)."""
        return f"{self.gateway.namespace}/{self.gateway.name}"

    @property
    def port(self) -> int:
        """The server's port number (0 when it has none; such servers are dropped)."""
        return self.spec.port.number if self.spec.port is not None else 0

    @property
    def protocol(self) -> str:
        """The server's protocol, upper case, ``HTTP`` when unset."""
        return (self.spec.port.protocol if self.spec.port is not None else "").upper() or "HTTP"

    @property
    def port_name(self) -> str:
        """The server port's name (empty when unset)."""
        return (self.spec.port.name if self.spec.port is not None else None) or ""

    @property
    def tls(self) -> ServerTLSSettings:
        """The server's ``tls`` block (an empty one when unset)."""
        return self.spec.tls or _NO_TLS

    @property
    def hosts(self) -> list[tuple[str, str]]:
        """(namespace filter, host) pairs: ``ns/host``, ``./host`` (gateway's namespace) or ``host``."""
        return [namespaced_host(h, self.gateway.namespace) for h in self.spec.hosts]

    @property
    def terminates_tls(self) -> bool:
        """HTTPS with SIMPLE, MUTUAL or ISTIO_MUTUAL TLS: the gateway decrypts and routes HTTP."""
        return self.protocol == "HTTPS" and (self.tls.mode or "SIMPLE") in ("SIMPLE", "MUTUAL", "ISTIO_MUTUAL")


def selected_servers(scope: Scope) -> list[Server]:
    """Servers of every Gateway whose selector matches the proxy's labels (any namespace), or, for a
    Gateway converted from the Gateway API, whose Services the proxy is an instance of."""
    out = [Server(gw, s) for gw in scope.mesh.gateways if _serves(scope, gw) for s in gw.spec.servers]
    return [s for s in out if s.port > 0]


def _serves(scope: Scope, gw: Typed[Gateway]) -> bool:
    services = internal.gateway_services(gw.metadata.annotations)
    if services is None:
        return selects(GATEWAY, gw.spec.selector, scope.proxy.labels)
    return gw.namespace == scope.proxy.namespace and any(_instance_of(scope, h) for h in services)


def _instance_of(scope: Scope, hostname: str) -> bool:
    """Whether the proxy is an endpoint of the Service ``hostname`` (same namespace, selector matches)."""
    proxy = scope.proxy
    return any(
        svc.hostname == hostname
        and svc.namespace == proxy.namespace
        and selects(SERVICE, dict(svc.selector) if svc.selector is not None else None, proxy.labels)
        for svc in scope.mesh.registry.services
    )


def gateway_resources(scope: Scope) -> tuple[dict[str, JSONDict], dict[str, JSONDict], dict[str, JSONDict]]:
    """(listeners, route configs, secrets) for a router proxy."""
    by_port: dict[int, list[Server]] = {}
    for server in selected_servers(scope):
        by_port.setdefault(listen_port(scope, server.port), []).append(server)
    listeners: dict[str, JSONDict] = {}
    routes: dict[str, JSONDict] = {}
    secrets: dict[str, JSONDict] = {}
    for port, servers in sorted(by_port.items()):
        listener = _port_listener(scope, port, servers, routes, secrets)
        if listener is not None:
            listeners[names.listener("0.0.0.0", port)] = listener
    return listeners, routes, secrets


def _port_listener(
    scope: Scope, port: int, servers: list[Server], routes: dict[str, JSONDict], secrets: dict[str, JSONDict]
) -> JSONDict | None:
    """The listener of one bound port (its route configs and secrets added to the maps), if any chain."""
    chains: list[JSONDict] = []
    matches: list[JSONDict | None] = []
    plain_http = [s for s in servers if s.protocol in HTTP_SERVER_PROTOCOLS]
    if plain_http:
        rds = names.gateway_http_rds(port)
        routes[rds] = _route_config(scope, rds, port, plain_http)
        chains.append({"filters": [_hcm(scope, rds, port)]})
        matches.append(None)
    for server in (s for s in servers if s.terminates_tls):
        rds = names.gateway_https_rds(port, server.port_name, server.gateway.name, server.gateway.namespace)
        built = _tls_chain(scope, server, rds, port, secrets)
        # Two servers claiming the same SNI names on one port: the first wins (Envoy rejects twins).
        # A server left out (no credential yet) gets no route config either: nothing would use it.
        if built is not None and built[1] not in matches:
            chains.append(built[0])
            matches.append(built[1])
            routes[rds] = _route_config(scope, rds, port, [server])
    sni_chains, tcp_chain = _l4_chains(
        scope, port, [s for s in servers if s not in plain_http and not s.terminates_tls]
    )
    chains += sni_chains + ([tcp_chain] if tcp_chain is not None else [])
    if not chains:
        return None
    bind = servers[0].spec.bind or scope.proxy.bind_address
    listener: JSONDict = {
        "name": names.listener("0.0.0.0", port),
        "address": socket_address(bind, port),
        "filter_chains": chains,
        "traffic_direction": "OUTBOUND",
    }
    if sni_chains or any(m is not None for m in matches):
        listener["listener_filters"] = [{"name": names.TLS_INSPECTOR, "typed_config": {"@type": names.T_TLS_INSPECTOR}}]
    return listener


def listen_port(scope: Scope, port: int) -> int:
    """Istio's ``resolvePorts``: a server port that is a port of the gateway's own Service binds that
    port's targetPort (server 80 -> 8080); other numbers bind as written."""
    proxy = scope.proxy
    own = [
        svc
        for svc in scope.mesh.registry.services
        if svc.source_kind == "Service"
        and selects_gateway(
            svc.namespace,
            dict(svc.selector) if svc.selector is not None else None,
            dict(svc.labels),
            proxy.namespace,
            proxy.labels,
        )
    ]
    return gateway_listen_port(port, [(p.number, p.target_port) for svc in own for p in svc.ports])


def _hcm(scope: Scope, rds: str, port: int) -> JSONDict:
    return hcm(
        scope.proxy,
        scope.mesh.mesh,
        f"outbound_0.0.0.0_{port}",
        rds=rds,
        # The AuthorizationPolicies / RequestAuthentications selecting this gateway (selector or targetRefs).
        filters=[*http_security_filters(scope), *http_filters(False)],
        direction="gateway",
        resolved=scope.telemetry,
    )


def bound_virtual_services(scope: Scope, refs: Collection[str]) -> list[Typed[VirtualService]]:
    """VSs whose ``gateways`` name one of ``refs`` (``ns/name``), in creation order."""
    return [vs for vs in scope.virtual_services if vs.spec.hosts and _bound(vs) & set(refs)]


def _bound(vs: Typed[VirtualService]) -> set[str]:
    return {gateway_ref(g, vs.namespace) for g in vs.spec.gateways}


def _vs_host(raw: str, vs: Typed[VirtualService]) -> str:
    return fqdn(raw, vs.namespace) if raw != "*" else raw


def _route_config(scope: Scope, name: str, port: int, servers: list[Server]) -> JSONDict:
    """Vhosts for servers on one port: each VS host that intersects a server host (and whose namespace
    the server admits) becomes a vhost; VSs naming the same host are merged."""
    refs = {s.ref for s in servers}
    # match.port compares with the server's port as written (80), not the port bound after translation.
    ctx = RouteContext(scope, servers[0].port, frozenset(refs))
    drafts: dict[str, _VhostDraft] = {}
    for vs in bound_virtual_services(scope, refs):
        bound = _bound(vs)
        routes = http_routes(ctx, vs)
        for raw in vs.spec.hosts:
            vs_host = _vs_host(raw, vs)
            for server in (s for s in servers if s.ref in bound):
                host = _intersection(server, vs, vs_host)
                if host is not None:
                    drafts.setdefault(host, _VhostDraft()).add(vs, routes, bool(server.tls.https_redirect))
    vhosts = [draft.build(host, port) for host, draft in sorted(drafts.items())]
    if not vhosts:
        vhosts = [{"name": names.gateway_blackhole_vhost(port), "domains": ["*"], "routes": []}]
    rc = route_config(name, vhosts)
    rc["ignore_port_in_host_matching"] = True
    return rc


def _intersection(server: Server, vs: Typed[VirtualService], vs_host: str) -> str | None:
    for ns, host in server.hosts:
        if not namespace_admits(ns, vs.namespace):
            continue
        if hosts_intersect(host, vs_host):
            # The narrower of the two names the vhost (a VS "*" under server "*.example.com").
            return vs_host if host_matches(host, vs_host) else host
    return None


@dataclass
class _VhostDraft:
    """One gateway vhost being merged from several VirtualServices."""

    routes: list[EnvoyRoute] = field(default_factory=list)
    sources: set[tuple[str, str, str]] = field(default_factory=set)
    https_redirect: bool = False

    def add(self, vs: Typed[VirtualService], routes: list[EnvoyRoute], https_redirect: bool) -> None:
        if vs.key not in self.sources:  # a VS naming two hosts that map to this vhost counts once
            self.sources.add(vs.key)
            self.routes.extend(routes)
        self.https_redirect = self.https_redirect or https_redirect

    def build(self, host: str, port: int) -> JSONDict:
        # Merge order: creation order across VSs, catch-alls last; nothing after the first catch-all.
        ordered = sorted(self.routes, key=lambda r: r.catch_all)
        routes: list[JSONDict] = []
        for r in ordered:
            routes.append(r.json)
            if r.catch_all:
                break
        vhost: JSONDict = {"name": names.vhost(host, port), "domains": [host], "routes": routes}
        if self.https_redirect:
            vhost["require_tls"] = "ALL"
        return vhost


def _tls_chain(
    scope: Scope, server: Server, rds: str, port: int, secrets: dict[str, JSONDict]
) -> tuple[JSONDict, JSONDict] | None:
    """(filter chain, its match) of a TLS-terminating server, ``None`` while its credential is missing."""
    context = _downstream_tls(scope, server.tls, secrets)
    if context is None:
        return None
    # transport_protocol lets a plain-HTTP server share the port (tls_inspector tells them apart).
    match: JSONDict = {"transport_protocol": "tls"}
    sni = sorted({h for _, h in server.hosts if h != "*"})
    if sni:
        match["server_names"] = sni
    chain: JSONDict = {
        "filters": [_hcm(scope, rds, port)],
        "transport_socket": {"name": names.TLS_SOCKET, "typed_config": context},
        "filter_chain_match": match,
    }
    return chain, match


def _downstream_tls(scope: Scope, tls: ServerTLSSettings, secrets: dict[str, JSONDict]) -> JSONDict | None:
    """The DownstreamTlsContext of a server (its SDS secrets added to ``secrets``), ``None`` without them."""
    if tls.mode == "ISTIO_MUTUAL":
        return _istio_mutual_tls()
    credential = tls.credential_name or ""
    common: JSONDict = {"alpn_protocols": ["h2", "http/1.1"]}
    if not credential and tls.server_certificate and tls.private_key:
        # Istio's older file-mounted certificates: paths on the gateway's host.
        common["tls_certificates"] = [
            {
                "certificate_chain": {"filename": tls.server_certificate},
                "private_key": {"filename": tls.private_key},
            }
        ]
    else:
        # Istio reads credentialName from the gateway workload's namespace (istio-system), wherever the
        # Gateway resource lives.
        secret = _secret(scope, scope.proxy.namespace, credential)
        if secret is None:
            return None  # Istio leaves the server out until its credential exists
        secrets[names.secret_name(credential)] = secret
        common["tls_certificate_sds_secret_configs"] = [
            {"name": names.secret_name(credential), "sds_config": ADS_SOURCE}
        ]
    context: JSONDict = {"@type": names.T_DOWNSTREAM_TLS, "common_tls_context": common}
    if tls.mode == "MUTUAL" and credential:
        ca = _ca_secret(scope, scope.proxy.namespace, credential)
        if ca is not None:
            ca_name = names.secret_name(credential) + "-cacert"
            secrets[ca_name] = ca
            common["validation_context_sds_secret_config"] = {"name": ca_name, "sds_config": ADS_SOURCE}
            context["require_client_certificate"] = True
    return context


def _istio_mutual_tls() -> JSONDict:
    """ISTIO_MUTUAL at a gateway (Istio's egress-gateway tasks): the gateway's own workload certificate,
    a client certificate from the mesh root required, both from the agent's SDS (no secret to wait for)."""
    common: JSONDict = {
        "alpn_protocols": list(sec_names.ALPN_HTTP),
        "tls_certificate_sds_secret_configs": [sds_secret_config(sec_names.SDS_DEFAULT)],
        "combined_validation_context": {
            "default_validation_context": {},
            "validation_context_sds_secret_config": sds_secret_config(sec_names.SDS_ROOT),
        },
    }
    return {"@type": names.T_DOWNSTREAM_TLS, "common_tls_context": common, "require_client_certificate": True}


def _secret_resource(scope: Scope, namespace: str, name: str) -> Typed[Secret] | None:
    # A Gateway API credential names its namespace; a gateway only ever reads its own namespace's.
    ns, name = internal.split_credential(name, namespace)
    if ns != namespace:
        return None
    return next((r for r in scope.mesh.secrets if r.namespace == namespace and r.name == name), None)


def _secret(scope: Scope, namespace: str, credential: str) -> JSONDict | None:
    """A TLS certificate Secret from a ``kubernetes.io/tls`` Secret (``data`` is base64 already)."""
    res = _secret_resource(scope, namespace, credential) if credential else None
    if res is None:
        return None
    data = _secret_data(res)
    if not data.get("tls.crt") or not data.get("tls.key"):
        return None
    return {
        "name": names.secret_name(credential),
        "tls_certificate": {
            "certificate_chain": {"inline_bytes": data["tls.crt"]},
            "private_key": {"inline_bytes": data["tls.key"]},
        },
    }


def upstream_credential_secrets(scope: Scope, clusters: Mapping[str, Mapping[str, object]]) -> dict[str, JSONDict]:
    """The ``credentialName`` secrets the clusters' DestinationRule TLS asks for over ADS
    (``kubernetes://<name>`` and its ``-cacert``), from the Secrets of the proxy's namespace."""
    out: dict[str, JSONDict] = {}
    if not any(r.namespace == scope.proxy.namespace for r in scope.mesh.secrets):
        return out  # nothing to find: skip the walk over every cluster (once per push and sharing key)
    for name in sorted(_ads_secret_names(list(clusters.values()))):
        credential = name.removeprefix("kubernetes://")
        if credential.endswith("-cacert"):
            found = _ca_secret(scope, scope.proxy.namespace, credential.removesuffix("-cacert"))
        else:
            found = _secret(scope, scope.proxy.namespace, credential)
        if found is not None:
            out[name] = found
    return out


def _ads_secret_names(value: object) -> set[str]:
    """Names of SDS references served over ADS (``{"name": ..., "sds_config": {"ads": {}}}``) in ``value``."""
    if isinstance(value, Mapping):
        source = value.get("sds_config")
        name = value.get("name")
        if (
            isinstance(source, Mapping)
            and "ads" in source
            and isinstance(name, str)
            and name.startswith("kubernetes://")
        ):
            return {name}
        return {n for v in value.values() for n in _ads_secret_names(v)}
    if isinstance(value, list):
        return {n for v in value for n in _ads_secret_names(v)}
    return set()


def _secret_data(res: Typed[Secret]) -> dict[str, str]:
    """``data`` (base64) merged with ``stringData`` (plain, encoded here), as Kubernetes does."""
    out = dict(res.spec.data)
    for k, v in res.spec.string_data.items():
        out[k] = base64.b64encode(v.encode()).decode()
    return out


def _ca_secret(scope: Scope, namespace: str, credential: str) -> JSONDict | None:
    res = _secret_resource(scope, namespace, credential) or _secret_resource(scope, namespace, f"{credential}-cacert")
    ca = _secret_data(res).get("ca.crt") if res is not None else None
    if not ca:
        return None
    return {
        "name": names.secret_name(credential) + "-cacert",
        "validation_context": {"trusted_ca": {"inline_bytes": ca}},
    }


def _l4_chains(scope: Scope, port: int, servers: list[Server]) -> tuple[list[JSONDict], JSONDict | None]:
    """(SNI chains of TLS PASSTHROUGH servers, the tcp_proxy chain of the first TCP server with rules)."""
    chains: list[JSONDict] = []
    for server in servers:
        ctx = RouteContext(scope, server.port, frozenset({server.ref}))
        stat = f"outbound_0.0.0.0_{port}"

        def make(dests: Sequence[WeightedCluster], stat: str = stat, ctx: RouteContext = ctx) -> JSONDict:
            return outbound_tcp_proxy(ctx, stat, dests)

        for vs in bound_virtual_services(scope, {server.ref}):
            if server.protocol in ("TLS", "HTTPS"):  # PASSTHROUGH: route by SNI, no termination
                chains += sni_filter_chains(tls_routes(ctx, vs), make)
            elif vs.spec.tcp:
                dests = tcp_destinations(ctx, vs, _vs_host(vs.spec.hosts[0], vs))
                return chains, {"filters": [outbound_tcp_proxy(ctx, stat, dests)]}
    return chains, None
