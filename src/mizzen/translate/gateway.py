"""Router (ingress gateway) resources: listeners per Gateway server port, virtual hosts from server
hosts x bound VirtualService hosts (several VSs merged, catch-alls last), 404 when nothing attaches,
``httpsRedirect``, and HTTPS termination with ``credentialName`` secrets served over SDS."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.config.resource import Resource
from mizzen.translate import names
from mizzen.translate.clusters import ADS_SOURCE
from mizzen.translate.common import JSONDict, as_int, as_list, as_map, labels_match
from mizzen.translate.endpoints import socket_address
from mizzen.translate.filters import hcm, http_filters
from mizzen.translate.hosts import fqdn, host_matches, hosts_intersect
from mizzen.translate.match import is_catch_all
from mizzen.translate.routes import RouteContext, gateway_ref, http_routes
from mizzen.translate.scope import Scope
from mizzen.translate.tcp import outbound_tcp_proxy, sni_filter_chains, tcp_destinations, tls_routes
from mizzen.translate.vhosts import route_config

HTTP_SERVER_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC", "GRPC-WEB"})


@dataclass(frozen=True)
class Server:
    """One ``servers[]`` entry with the Gateway it belongs to."""

    gateway: Resource
    spec: Mapping[str, Any]

    @property
    def ref(self) -> str:
        return f"{self.gateway.namespace}/{self.gateway.name}"

    @property
    def port(self) -> int:
        return as_int(as_map(self.spec.get("port")).get("number"))

    @property
    def protocol(self) -> str:
        return str(as_map(self.spec.get("port")).get("protocol", "HTTP")).upper()

    @property
    def port_name(self) -> str:
        return str(as_map(self.spec.get("port")).get("name", ""))

    @property
    def tls(self) -> Mapping[str, Any]:
        return as_map(self.spec.get("tls"))

    @property
    def hosts(self) -> list[tuple[str, str]]:
        """(namespace filter, host) pairs: ``ns/host``, ``./host`` (gateway's namespace) or ``host``."""
        out = []
        for h in as_list(self.spec.get("hosts")):
            ns, _, host = str(h).rpartition("/")
            out.append((self.gateway.namespace if ns == "." else (ns or "*"), host.lower()))
        return out

    @property
    def terminates_tls(self) -> bool:
        return self.protocol == "HTTPS" and str(self.tls.get("mode", "SIMPLE")) in ("SIMPLE", "MUTUAL")


def selected_servers(scope: Scope) -> list[Server]:
    """Servers of every Gateway whose selector matches the proxy's labels (any namespace)."""
    out: list[Server] = []
    for gw in scope.mesh.of("Gateway"):
        if labels_match(as_map(gw.spec.get("selector")), scope.proxy.labels):
            out.extend(Server(gw, as_map(s)) for s in as_list(gw.spec.get("servers")))
    return [s for s in out if s.port > 0]


def gateway_resources(scope: Scope) -> tuple[dict[str, JSONDict], dict[str, JSONDict], dict[str, JSONDict]]:
    """(listeners, route configs, secrets) for a router proxy."""
    by_port: dict[int, list[Server]] = {}
    for server in selected_servers(scope):
        by_port.setdefault(listen_port(scope, server.port), []).append(server)
    listeners: dict[str, JSONDict] = {}
    routes: dict[str, JSONDict] = {}
    secrets: dict[str, JSONDict] = {}
    for port, servers in sorted(by_port.items()):
        chains: list[JSONDict] = []
        plain_http = [s for s in servers if s.protocol in HTTP_SERVER_PROTOCOLS]
        if plain_http:
            rc = _route_config(scope, names.gateway_http_rds(port), port, plain_http)
            routes[rc["name"]] = rc
            chains.append({"filters": [_hcm(scope, rc["name"], port)]})
        for server in (s for s in servers if s.terminates_tls):
            rds = names.gateway_https_rds(port, server.port_name, server.gateway.name, server.gateway.namespace)
            chain = _tls_chain(scope, server, rds, port, secrets)
            # Two servers claiming the same SNI names on one port: the first wins (Envoy rejects twins).
            # A server left out (no credential yet) gets no route config either: nothing would use it.
            if chain is not None and all(
                c.get("filter_chain_match") != chain.get("filter_chain_match") for c in chains
            ):
                chains.append(chain)
                routes[rds] = _route_config(scope, rds, port, [server])
        chains += _l4_chains(scope, port, [s for s in servers if s not in plain_http and not s.terminates_tls])
        if not chains:
            continue
        name = names.listener("0.0.0.0", port)
        bind = str(servers[0].spec.get("bind") or scope.proxy.bind_address)
        listener: JSONDict = {
            "name": name,
            "address": socket_address(bind, port),
            "filter_chains": chains,
            "traffic_direction": "OUTBOUND",
        }
        if any("filter_chain_match" in c for c in chains):
            listener["listener_filters"] = [
                {"name": names.TLS_INSPECTOR, "typed_config": {"@type": names.T_TLS_INSPECTOR}}
            ]
        listeners[name] = listener
    return listeners, routes, secrets


def listen_port(scope: Scope, port: int) -> int:
    """Istio's ``resolvePorts``: a server port that is a port of the gateway's own Service binds that
    port's targetPort (server 80 -> 8080); other numbers bind as written."""
    proxy = scope.proxy
    for svc in scope.mesh.registry.services:
        if (
            svc.namespace != proxy.namespace
            or not svc.selector
            or svc.source_kind != "Service"
            or ("experimental.istio.io/disable-gateway-port-translation", "true") in svc.labels
        ):
            continue
        if all(proxy.labels.get(k) == v for k, v in svc.selector):
            sp = svc.port(port)
            if sp is not None and sp.target_port:
                return sp.target_port
    return port


def _hcm(scope: Scope, rds: str, port: int) -> JSONDict:
    return hcm(
        scope.proxy,
        scope.mesh.mesh,
        f"outbound_0.0.0.0_{port}",
        rds=rds,
        filters=http_filters(False),
        direction="gateway",
    )


def bound_virtual_services(scope: Scope, refs: set[str]) -> list[Resource]:
    """VSs whose ``gateways`` name one of ``refs`` (``ns/name``), in creation order."""
    out = []
    for vs in scope.virtual_services:
        gws = {gateway_ref(str(g), vs.namespace) for g in as_list(vs.spec.get("gateways"))}
        if gws & refs and as_list(vs.spec.get("hosts")):
            out.append(vs)
    return out


def _vs_host(raw: str, vs: Resource) -> str:
    return fqdn(raw, vs.namespace) if raw != "*" else raw


def _route_config(scope: Scope, name: str, port: int, servers: list[Server]) -> JSONDict:
    """Vhosts for servers on one port: each VS host that intersects a server host (and whose namespace
    the server admits) becomes a vhost; VSs naming the same host are merged."""
    refs = {s.ref for s in servers}
    # match.port compares with the server's port as written (80), not the port bound after translation.
    ctx = RouteContext(scope, servers[0].port, frozenset(refs))
    drafts: dict[str, _VhostDraft] = {}
    for vs in bound_virtual_services(scope, refs):
        bound = {gateway_ref(str(g), vs.namespace) for g in as_list(vs.spec.get("gateways"))}
        routes = http_routes(ctx, vs)
        for raw in as_list(vs.spec.get("hosts")):
            vs_host = _vs_host(str(raw), vs)
            for server in (s for s in servers if s.ref in bound):
                host = _intersection(server, vs, vs_host)
                if host is not None:
                    drafts.setdefault(host, _VhostDraft()).add(vs, routes, bool(server.tls.get("httpsRedirect")))
    vhosts = [draft.build(host, port) for host, draft in sorted(drafts.items())]
    if not vhosts:
        vhosts = [{"name": names.gateway_blackhole_vhost(port), "domains": ["*"], "routes": []}]
    rc = route_config(name, vhosts)
    rc["ignore_port_in_host_matching"] = True
    return rc


def _intersection(server: Server, vs: Resource, vs_host: str) -> str | None:
    for ns, host in server.hosts:
        if ns not in ("*", vs.namespace):
            continue
        if hosts_intersect(host, vs_host):
            # The narrower of the two names the vhost (a VS "*" under server "*.example.com").
            return vs_host if host_matches(host, vs_host) else host
    return None


@dataclass
class _VhostDraft:
    """One gateway vhost being merged from several VirtualServices."""

    routes: list[JSONDict] = field(default_factory=list)
    sources: set[tuple[str, str, str]] = field(default_factory=set)
    https_redirect: bool = False

    def add(self, vs: Resource, routes: list[JSONDict], https_redirect: bool) -> None:
        if vs.key not in self.sources:  # a VS naming two hosts that map to this vhost counts once
            self.sources.add(vs.key)
            self.routes.extend(routes)
        self.https_redirect = self.https_redirect or https_redirect

    def build(self, host: str, port: int) -> JSONDict:
        # Merge order: creation order across VSs, catch-alls last; nothing after the first catch-all.
        ordered = sorted(self.routes, key=lambda r: is_catch_all(r["match"]))
        routes: list[JSONDict] = []
        for r in ordered:
            routes.append(r)
            if is_catch_all(r["match"]):
                break
        vhost: JSONDict = {"name": names.vhost(host, port), "domains": [host], "routes": routes}
        if self.https_redirect:
            vhost["require_tls"] = "ALL"
        return vhost


def _tls_chain(scope: Scope, server: Server, rds: str, port: int, secrets: dict[str, JSONDict]) -> JSONDict | None:
    credential = str(server.tls.get("credentialName") or "")
    common: JSONDict = {"alpn_protocols": ["h2", "http/1.1"]}
    if not credential and server.tls.get("serverCertificate") and server.tls.get("privateKey"):
        # Istio's older file-mounted certificates: paths on the gateway's host.
        common["tls_certificates"] = [
            {
                "certificate_chain": {"filename": str(server.tls["serverCertificate"])},
                "private_key": {"filename": str(server.tls["privateKey"])},
            }
        ]
    else:
        # Istio reads credentialName from the gateway workload's namespace (istio-system), wherever the
        # Gateway resource lives.
        secret = _secret(scope, scope.proxy.namespace, credential)
        if secret is None:
            return None  # Istio leaves the server out until its credential exists
        secrets[secret["name"]] = secret
        common["tls_certificate_sds_secret_configs"] = [{"name": secret["name"], "sds_config": ADS_SOURCE}]
    context: JSONDict = {"@type": names.T_DOWNSTREAM_TLS, "common_tls_context": common}
    if str(server.tls.get("mode")) == "MUTUAL" and credential:
        ca = _ca_secret(scope, scope.proxy.namespace, credential)
        if ca is not None:
            secrets[ca["name"]] = ca
            common["validation_context_sds_secret_config"] = {"name": ca["name"], "sds_config": ADS_SOURCE}
            context["require_client_certificate"] = True
    chain: JSONDict = {
        "filters": [_hcm(scope, rds, port)],
        "transport_socket": {"name": names.TLS_SOCKET, "typed_config": context},
    }
    # transport_protocol lets a plain-HTTP server share the port (tls_inspector tells them apart).
    chain["filter_chain_match"] = {"transport_protocol": "tls"}
    sni = sorted({h for _, h in server.hosts if h != "*"})
    if sni:
        chain["filter_chain_match"]["server_names"] = sni
    return chain


def _secret_resource(scope: Scope, namespace: str, name: str) -> Resource | None:
    return next((r for r in scope.mesh.of("Secret") if r.namespace == namespace and r.name == name), None)


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
            "certificate_chain": {"inline_bytes": str(data["tls.crt"])},
            "private_key": {"inline_bytes": str(data["tls.key"])},
        },
    }


def _secret_data(res: Resource) -> dict[str, str]:
    """``data`` (base64) merged with ``stringData`` (plain, encoded here), as Kubernetes does."""
    out = {str(k): str(v) for k, v in as_map(res.spec.get("data")).items()}
    for k, v in as_map(res.spec.get("stringData")).items():
        out[str(k)] = base64.b64encode(str(v).encode()).decode()
    return out


def _ca_secret(scope: Scope, namespace: str, credential: str) -> JSONDict | None:
    res = _secret_resource(scope, namespace, credential) or _secret_resource(scope, namespace, f"{credential}-cacert")
    ca = _secret_data(res).get("ca.crt") if res is not None else None
    if not ca:
        return None
    return {
        "name": names.secret_name(credential) + "-cacert",
        "validation_context": {"trusted_ca": {"inline_bytes": str(ca)}},
    }


def _l4_chains(scope: Scope, port: int, servers: list[Server]) -> list[JSONDict]:
    """TCP servers -> tcp_proxy from bound VS ``tcp`` rules; TLS PASSTHROUGH -> SNI chains."""
    chains: list[JSONDict] = []
    for server in servers:
        ctx = RouteContext(scope, server.port, frozenset({server.ref}))
        stat = f"outbound_0.0.0.0_{port}"

        def make(dests: list[tuple[str, int]], stat: str = stat, ctx: RouteContext = ctx) -> JSONDict:
            return outbound_tcp_proxy(ctx, stat, dests)

        for vs in bound_virtual_services(scope, {server.ref}):
            if server.protocol in ("TLS", "HTTPS"):  # PASSTHROUGH: route by SNI, no termination
                chains += sni_filter_chains(tls_routes(ctx, vs), make)
            elif as_list(vs.spec.get("tcp")):
                dests = tcp_destinations(ctx, vs, _vs_host(str(as_list(vs.spec["hosts"])[0]), vs))
                chains.append({"filters": [outbound_tcp_proxy(ctx, stat, dests)]})
                return chains
    return chains
