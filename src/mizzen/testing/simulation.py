"""Traffic simulation: walk a request through a proxy's generated listeners and routes, the way
Envoy would, and say where it goes ("which cluster does this request reach").

Modelled on Istio's ``pilot/pkg/simulation``. It reads only :class:`ProxyResources`, so it checks
the translator's real output, not an idea of it::

    res = translate(proxy, mesh)
    r = simulate(res, listener_port=15080, host="reviews:9080", path="/reviews/0",
                 headers={"end-user": "jason"})
    assert r.cluster == "outbound|9080|v2|reviews.default.svc.cluster.local"

Request-time behaviour is modelled (listener and filter-chain choice, virtual-host domain matching
with Envoy's precedence, route matching on path/headers/query); what Envoy does after choosing a
route (retries, faults, timeouts) is reported as configured, not executed. Generation-time matches
(``sourceLabels``, ``match.port``) are already decided by the translator for the proxy it built.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from mizzen.config.loader import load_text
from mizzen.config.resource import Resource
from mizzen.registry import build_registry
from mizzen.translate.model import MeshConfig, MeshSnapshot, ProxyResources

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
FAULT = "envoy.filters.http.fault"
_REDIRECT_STATUS = {
    "MOVED_PERMANENTLY": 301,
    "FOUND": 302,
    "SEE_OTHER": 303,
    "TEMPORARY_REDIRECT": 307,
    "PERMANENT_REDIRECT": 308,
}


@dataclass(frozen=True)
class Result:
    """Where a simulated request went. ``error`` is set when Envoy would not route it at all:
    ``"no listener"``, ``"no filter chain"``, ``"no route config"``, ``"no route"`` (Envoy: 404 NR)."""

    listener: str = ""
    route_config: str = ""
    vhost: str = ""
    route_name: str = ""
    cluster: str = ""
    weighted_clusters: tuple[tuple[str, int], ...] = ()
    direct_response: tuple[int, str] | None = None  # (status, body)
    redirect: Mapping[str, Any] | None = None  # Envoy RedirectAction (+ "status")
    fault: Mapping[str, Any] | None = None  # the route's HTTPFault per-filter config
    timeout: str | None = None
    retry_policy: Mapping[str, Any] | None = None
    error: str = ""
    route: Mapping[str, Any] = field(default_factory=dict)  # the raw Envoy route chosen

    @property
    def clusters(self) -> tuple[str, ...]:
        """Every cluster the request may reach (one, or the weighted set)."""
        return (self.cluster,) if self.cluster else tuple(c for c, _ in self.weighted_clusters)

    @property
    def status(self) -> int | None:
        """The status Envoy itself answers with (404 no route, direct response, redirect), else ``None``."""
        if self.error == "no route":
            return 404
        if self.direct_response is not None:
            return self.direct_response[0]
        if self.redirect is not None:
            return int(self.redirect["status"])
        return None


def simulate(
    resources: ProxyResources,
    *,
    listener_port: int,
    host: str = "",
    path: str = "/",
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    scheme: str = "http",
    sni: str = "",
) -> Result:
    """Route one request arriving on ``listener_port`` with Host ``host`` through ``resources``."""
    listener = _find_listener(resources, listener_port)
    if listener is None:
        return Result(error="no listener")
    lname = str(listener.get("name", ""))
    chain = _filter_chain(listener, sni, tls=bool(sni) or scheme == "https")
    if chain is None:
        return Result(listener=lname, error="no filter chain")
    for filt in chain.get("filters", []):
        config = filt.get("typed_config", {})
        if filt.get("name") == TCP_PROXY:
            return Result(
                listener=lname,
                cluster=str(config.get("cluster", "")),
                weighted_clusters=_weighted(config.get("weighted_clusters")),
            )
        if filt.get("name") == HCM:
            rc = config.get("route_config")
            if "rds" in config:
                rc = resources.routes.get(config["rds"]["route_config_name"])
            if rc is None:
                return Result(listener=lname, error="no route config")
            request = _Request(host, path, method, dict(headers or {}), scheme)
            return _route(lname, rc, request)
    return Result(listener=lname, error="no filter chain")


@dataclass(frozen=True)
class _Request:
    host: str
    path: str
    method: str
    headers: dict[str, str]
    scheme: str

    def header(self, name: str) -> str | None:
        name = name.lower()
        pseudo = {
            ":authority": self.host,
            ":method": self.method,
            ":scheme": self.scheme,
            ":path": self.path,
            "host": self.host,
        }
        if name in pseudo:
            return pseudo[name]
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


def _find_listener(resources: ProxyResources, port: int) -> Mapping[str, Any] | None:
    for listener in resources.listeners.values():
        address: Any = listener.get("address", {})
        if address.get("socket_address", {}).get("port_value") == port:
            return listener
    return None


def _filter_chain(listener: Mapping[str, Any], sni: str, tls: bool) -> Mapping[str, Any] | None:
    """Envoy's filter-chain choice: server names first, then transport protocol, then no match."""
    best: tuple[int, Mapping[str, Any]] | None = None
    for chain in listener.get("filter_chains", []):
        match = chain.get("filter_chain_match", {})
        names = match.get("server_names")
        if names and not (sni and any(_domain_matches(n, sni) for n in names)):
            continue
        protocol = match.get("transport_protocol")
        if protocol and (protocol == "tls") != tls:
            continue
        rank = (2 if names else 0) + (1 if protocol else 0)
        if best is None or rank > best[0]:
            best = (rank, chain)
    return best[1] if best is not None else listener.get("default_filter_chain")


def _weighted(spec: Any) -> tuple[tuple[str, int], ...]:
    if not spec:
        return ()
    return tuple((str(c["name"]), int(c.get("weight", 0))) for c in spec.get("clusters", []))


def _route(lname: str, rc: Mapping[str, Any], req: _Request) -> Result:
    base: dict[str, Any] = {"listener": lname, "route_config": str(rc.get("name", ""))}
    host = req.host.lower()
    if rc.get("ignore_port_in_host_matching"):
        host = host.rsplit(":", 1)[0] if ":" in host and not host.endswith("]") else host
    vhost = select_vhost(rc.get("virtual_hosts", []), host)
    if vhost is None:
        return Result(**base, error="no route")
    base["vhost"] = str(vhost.get("name", ""))
    if vhost.get("require_tls") in ("ALL", "EXTERNAL_ONLY") and req.scheme == "http":
        return Result(**base, redirect={"https_redirect": True, "status": 301})
    for route in vhost.get("routes", []):
        if route_matches(route.get("match", {}), req):
            return _result(base, route)
    return Result(**base, error="no route")


def _result(base: dict[str, Any], route: Mapping[str, Any]) -> Result:
    fault = route.get("typed_per_filter_config", {}).get(FAULT)
    common: dict[str, Any] = {**base, "route_name": str(route.get("name", "")), "route": route, "fault": fault}
    if "direct_response" in route:
        dr = route["direct_response"]
        body = dr.get("body", {}).get("inline_string", "")
        return Result(**common, direct_response=(int(dr["status"]), str(body)))
    if "redirect" in route:
        redirect = dict(route["redirect"])
        redirect["status"] = _REDIRECT_STATUS[redirect.get("response_code", "MOVED_PERMANENTLY")]
        return Result(**common, redirect=redirect)
    action = route.get("route", {})
    return Result(
        **common,
        cluster=str(action.get("cluster", "")),
        weighted_clusters=_weighted(action.get("weighted_clusters")),
        timeout=action.get("timeout"),
        retry_policy=action.get("retry_policy"),
    )


def select_vhost(vhosts: Iterable[Mapping[str, Any]], host: str) -> Mapping[str, Any] | None:
    """Envoy's virtual-host choice: exact domain, then longest ``*suffix``, then longest ``prefix*``,
    then ``*``."""
    vhosts = list(vhosts)
    for vh in vhosts:
        if host in [d.lower() for d in vh.get("domains", [])]:
            return vh
    best: tuple[int, int, Mapping[str, Any]] | None = None
    for vh in vhosts:
        for d in (d.lower() for d in vh.get("domains", [])):
            rank = None
            if d != "*" and d.startswith("*") and host.endswith(d[1:]) and len(host) > len(d) - 1:
                rank = (2, len(d))
            elif d != "*" and d.endswith("*") and host.startswith(d[:-1]) and len(host) > len(d) - 1:
                rank = (1, len(d))
            elif d == "*":
                rank = (0, 0)
            if rank is not None and (best is None or rank > best[:2]):
                best = (*rank, vh)
    return best[2] if best is not None else None


def _domain_matches(pattern: str, host: str) -> bool:
    return pattern == host or (pattern.startswith("*") and host.endswith(pattern[1:]))


def route_matches(match: Mapping[str, Any], req: _Request) -> bool:
    """Envoy ``RouteMatch`` semantics for path, headers and query parameters."""
    path, _, query = req.path.partition("?")
    sensitive = match.get("case_sensitive", True)
    cmp_path = path if sensitive else path.lower()
    if "path" in match and cmp_path != (match["path"] if sensitive else match["path"].lower()):
        return False
    if "prefix" in match and not cmp_path.startswith(match["prefix"] if sensitive else match["prefix"].lower()):
        return False
    if "safe_regex" in match and re2.fullmatch(match["safe_regex"]["regex"], path) is None:
        return False
    if not all(_header_matches(h, req.header(h["name"])) for h in match.get("headers", [])):
        return False
    params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
    return all(_query_matches(q, params.get(q["name"])) for q in match.get("query_parameters", []))


def _string_matches(sm: Mapping[str, Any], value: str) -> bool:
    if "exact" in sm:
        return value == str(sm["exact"])
    if "prefix" in sm:
        return value.startswith(str(sm["prefix"]))
    if "safe_regex" in sm:
        return re2.fullmatch(sm["safe_regex"]["regex"], value) is not None
    return False


def _header_matches(h: Mapping[str, Any], value: str | None) -> bool:
    if value is None and h.get("treat_missing_header_as_empty"):
        value = ""
    if h.get("present_match"):
        result = value is not None
    else:
        result = value is not None and _string_matches(h.get("string_match", {}), value)
    return result != bool(h.get("invert_match"))


def _query_matches(q: Mapping[str, Any], value: str | None) -> bool:
    if q.get("present_match"):
        return value is not None
    return value is not None and _string_matches(q.get("string_match", {}), value)


def mesh_from_yaml(*texts: str, mesh: MeshConfig | None = None) -> MeshSnapshot:
    """A MeshSnapshot from Kubernetes/Istio YAML texts (Services, WorkloadEntries, VSs, DRs, ...),
    with resources in document order standing in for creation order. For tests and experiments."""
    resources: list[Resource] = []
    for i, text in enumerate(texts):
        result = load_text(text, file=f"<text {i}>")
        errors = result.report.errors
        if errors:
            raise ValueError("; ".join(str(v) for v in errors))
        resources.extend(result.resources)
    return mesh_from_resources(resources, mesh=mesh)


def mesh_from_resources(resources: Iterable[Resource], *, mesh: MeshConfig | None = None) -> MeshSnapshot:
    """A MeshSnapshot from resources (their order is the creation order)."""
    resources = list(resources)
    configs: dict[str, list[Resource]] = {}
    for r in resources:
        configs.setdefault(r.kind, []).append(r)
    return MeshSnapshot(
        configs={k: tuple(v) for k, v in configs.items()}, registry=build_registry(resources), mesh=mesh or MeshConfig()
    )
