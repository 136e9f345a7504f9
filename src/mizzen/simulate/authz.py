"""The ``allowed: true|false`` expectation: would the destination's sidecar admit the request?

Theory of operation
-------------------
The walker says which clusters the sender's Envoy sends the request to; the sender's EDS says which
endpoints those are. For each endpoint that is a workload of the tested mesh (:func:`arrivals`):

1. the destination's sidecar is translated as the control plane translates it, with an inbound listener
   on every port the workload serves (the endpoint ports), so the policies are the *generated* filters;
2. the source is who that listener sees: when the sender's cluster originates Istio mTLS to the endpoint
   (its ``transport_socket_matches`` against the endpoint's metadata, or its ``transport_socket``), a
   peer with the sender's SPIFFE ID, else a plaintext peer; its address is the sender's endpoint address;
3. the request as the destination receives it (the route's path and authority rewrites applied, the
   case's JWT, the connection's SNI) runs through :func:`mizzen.simulate.rbac.evaluate_listener`: the
   filter chain the TLS inspector would pick, then jwt_authn and the RBAC filters in order.

Nothing is assumed about policies here: a destination whose translation has no RBAC filter admits the
request exactly as its Envoy would.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mizzen.config.resource import Resource
from mizzen.node import InboundPort, Proxy
from mizzen.simulate import envoy, rbac
from mizzen.simulate import mesh as meshes
from mizzen.simulate.mesh import Workload
from mizzen.simulate.spec import JwtSpec
from mizzen.simulate.walker import Request, Result, find_listener
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot, ProxyResources

SOCKET_MATCH = "envoy.transport_socket_match"
SDS_DEFAULT = "default"  # the workload certificate's SDS name: a cluster presenting it speaks Istio mTLS


@dataclass(frozen=True)
class Arrival:
    """One endpoint the request reaches: a workload's sidecar inbound port."""

    workload: Workload
    cluster: str  # the sender's cluster that sends there
    address: str
    port: int  # the endpoint port: the sidecar's inbound listener
    service_port: int


@dataclass(frozen=True)
class Verdict:
    """The destination's decision, with who it saw and where."""

    arrival: Arrival
    peer: rbac.Peer
    decision: rbac.Decision

    def text(self) -> str:
        """``default/reviews-v1 allowed it (...)`` in a sentence, for failures and ``--explain``."""
        w, d = self.arrival.workload, self.decision
        verdict = "allowed" if d.allowed else "denied"
        who = f"mTLS as {self.peer.principal}" if self.peer.principal else "plaintext"
        return f"{w.namespace}/{w.name} {verdict} it ({why(d)}; {who} from {self.peer.ip})"


def why(d: rbac.Decision) -> str:
    """The deciding filter and policy in words."""
    shadow = "".join(
        f"; dry-run {s.action} policy {s.policy or '(none matched)'} would {'allow' if s.allowed else 'deny'}"
        for s in d.shadow
    )
    if d.allowed:
        base = f"allowed by {d.policy}" if d.policy else "no policy denies it"
    elif d.status == 401:
        base = f"{d.reason}, 401 from {d.filter}"
    elif d.policy:
        base = f"denied by {d.policy} in {d.filter}"
    elif d.filter:
        base = f"no ALLOW policy matches in {d.filter}"
    else:
        base = d.reason
    return base + shadow


def arrivals(
    res: ProxyResources, result: Result, mesh: MeshSnapshot, workloads: Mapping[tuple[str, str], Workload]
) -> list[Arrival]:
    """The workload endpoints of every cluster the request may reach, in cluster order."""
    out: dict[tuple[str, str, int], Arrival] = {}
    by_address = {
        (ep.address, ep.port): ep for _, endpoints in mesh.registry.endpoints for ep in endpoints if ep.workload
    }
    for cluster in result.clusters:
        for address, port in _endpoint_addresses(res, cluster):
            ep = by_address.get((address, port))
            w = workloads.get((ep.namespace, ep.workload)) if ep is not None else None
            if ep is not None and w is not None:
                out.setdefault((cluster, address, port), Arrival(w, cluster, address, port, ep.service_port))
    return list(out.values())


def _endpoint_addresses(res: ProxyResources, cluster: str) -> list[tuple[str, int]]:
    return [(str(sock.get("address")), int(sock.get("port_value", 0))) for _, sock in _lb_endpoints(res, cluster)]


def _lb_endpoints(res: ProxyResources, cluster: str) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    config: Mapping[str, Any] = res.clusters.get(cluster) or {}
    name = config.get("eds_cluster_config", {}).get("service_name") or cluster
    assignment: Mapping[str, Any] = res.endpoints.get(name) or config.get("load_assignment") or {}
    return [
        (ep, ep.get("endpoint", {}).get("address", {}).get("socket_address", {}))
        for group in assignment.get("endpoints", [])
        for ep in group.get("lb_endpoints", [])
    ]


def _socket_for(res: ProxyResources, arrival: Arrival) -> Mapping[str, Any] | None:
    """The transport socket the sender's cluster uses for this endpoint (Envoy's transport_socket_matches:
    the first whose ``match`` is contained in the endpoint's metadata, else the cluster's own)."""
    cluster: Mapping[str, Any] = res.clusters.get(arrival.cluster) or {}
    meta: Mapping[str, Any] = {}
    for ep, sock in _lb_endpoints(res, arrival.cluster):
        if (sock.get("address"), sock.get("port_value")) == (arrival.address, arrival.port):
            meta = ep.get("metadata", {}).get("filter_metadata", {}).get(SOCKET_MATCH, {})
    for m in cluster.get("transport_socket_matches", []):
        if all(meta.get(k) == v for k, v in (m.get("match") or {}).items()):
            return dict(m.get("transport_socket") or {})
    return cluster.get("transport_socket")


def originates_mtls(res: ProxyResources, arrival: Arrival) -> tuple[bool, str]:
    """(whether the sender presents its workload certificate to this endpoint, the SNI it sends)."""
    socket = _socket_for(res, arrival) or {}
    context = socket.get("typed_config", {})
    certs = context.get("common_tls_context", {}).get("tls_certificate_sds_secret_configs", [])
    mtls = any(c.get("name") == SDS_DEFAULT for c in certs)
    return mtls, str(context.get("sni", "")) if mtls else ""


def destination_proxy(w: Workload, mesh: MeshSnapshot, address: str) -> Proxy:
    """The sidecar of ``w`` as its agent registers it: an inbound port for each of its endpoints."""
    ports: dict[int, InboundPort] = {}
    services = {s.hostname: s for s in mesh.registry.services}
    for (hostname, _), endpoints in mesh.registry.endpoints:
        for ep in endpoints:
            if (ep.namespace, ep.workload) != w.key or ep.port in ports:
                continue
            sp = services[hostname].port(ep.service_port) if hostname in services else None
            name, protocol = (sp.name, sp.protocol) if sp is not None else ("", "TCP")
            ports[ep.port] = InboundPort(ep.service_port, name, protocol, ep.port, ep.port)
    base = meshes.sidecar_proxy(w)
    return Proxy(
        id=base.id,
        type="sidecar",
        name=w.name,
        namespace=w.namespace,
        ip=address,
        labels=dict(w.labels),
        service_account=w.service_account,
        inbound=tuple(sorted(ports.values(), key=lambda p: p.listen_port)),
    )


def token(jwt: JwtSpec | None) -> rbac.Token | None:
    """The case's JWT as the evaluator describes it."""
    if jwt is None:
        return None
    return rbac.Token(claims=dict(jwt.claims), valid=jwt.valid, header=jwt.header, prefix=jwt.prefix, param=jwt.param)


def received(request: Request, result: Result, arrival: Arrival, sni: str, jwt: JwtSpec | None) -> rbac.Request:
    """The request as the destination's sidecar receives it: the route's rewrites applied."""
    action = result.route.get("route", {})
    prefix = envoy.matched_prefix(result.route.get("match", {}), request.path)
    path = (envoy.rewritten_path(action, request.path, prefix) if action else None) or request.path
    host = str(action.get("host_rewrite_literal") or request.authority)
    return rbac.Request(
        method=request.method,
        path=path,
        host=host,
        headers=dict(request.headers),
        port=arrival.port,
        destination_ip=arrival.address,
        sni=sni or request.sni,
        token=token(jwt),
    )


class Authorizer:
    """Decides cases for one tested mesh, translating each destination sidecar once."""

    def __init__(
        self, mesh: MeshSnapshot, workloads: Mapping[tuple[str, str], Workload], resources: Sequence[Resource]
    ) -> None:
        self.mesh = mesh
        self.workloads = workloads
        self._destinations: dict[tuple[str, str], tuple[Proxy, ProxyResources]] = {}
        # A sender is a WorkloadEntry even when no Service selects it (then it is no endpoint).
        self._addresses = {r.key[1:]: str(r.spec.get("address") or "") for r in resources if r.kind == "WorkloadEntry"}

    def _destination(self, arrival: Arrival) -> tuple[Proxy, ProxyResources]:
        key = arrival.workload.key
        if key not in self._destinations:
            proxy = destination_proxy(arrival.workload, self.mesh, arrival.address)
            self._destinations[key] = (proxy, translate(proxy, self.mesh))
        return self._destinations[key]

    def peer(self, sender: Workload, mtls: bool) -> rbac.Peer:
        """Who the destination sees: the sender's SPIFFE ID over mTLS (none in plaintext), its address."""
        ip = sender.address or self._addresses.get(sender.key) or "127.0.0.1"
        if not mtls:
            return rbac.Peer(ip=ip)
        sa = sender.service_account
        return rbac.Peer.spiffe(sender.namespace, sa, self.mesh.mesh.trust_domain, ip=ip)

    def decide(
        self, sender: Workload, res: ProxyResources, request: Request, result: Result, jwt: JwtSpec | None
    ) -> list[Verdict]:
        """The verdict of every destination workload the walked request reaches."""
        out = []
        for arrival in arrivals(res, result, self.mesh, self.workloads):
            mtls, sni = originates_mtls(res, arrival)
            peer = self.peer(sender, mtls)
            _, dest = self._destination(arrival)
            listener = find_listener(dest, arrival.port)
            if listener is None:
                decision = rbac.Decision(False, 0, reason=f"no inbound listener on port {arrival.port}")
            else:
                decision = rbac.evaluate_listener(listener, received(request, result, arrival, sni, jwt), peer)
            out.append(Verdict(arrival, peer, decision))
        return out


def check(verdicts: Sequence[Verdict], want: bool) -> list[str]:
    """One failure per destination whose decision is not ``want``."""
    if not verdicts:
        return ["allowed: the request reaches no workload whose policy could decide"]
    return [f"allowed: expected {want}, {v.text()}" for v in verdicts if v.decision.allowed != want]
