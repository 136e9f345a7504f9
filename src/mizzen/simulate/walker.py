"""Walk one request through a proxy's generated resources the way Envoy would, and say where it goes.

Modelled on Istio's ``pilot/pkg/simulation``. It reads only :class:`ProxyResources`, the translator's
real output, never the Istio YAML::

    res = translate(proxy, mesh)
    r = simulate(res, listener_port=15080, host="reviews:9080", path="/reviews/0",
                 headers={"end-user": "jason"})
    assert r.cluster == "outbound|9080|v2|reviews.default.svc.cluster.local"

Theory of operation: listener by port -> filter chain (SNI, transport protocol) -> the network filter:
``tcp_proxy`` ends the walk at its cluster(s); the HTTP connection manager takes its route config (inline
or RDS), picks a virtual host by the Host header, takes the first route whose match holds, and reports its
action: a cluster or weighted clusters (each looked up in CDS/EDS, so a cluster without endpoints means
Envoy's 503), a direct response, a redirect with its ``Location``, and the route's fault, timeout,
retries, rewrites, header changes and mirrors *as configured* (nothing is executed). Generation-time
matches (``sourceLabels``, ``match.port``, gateways) were already decided by the translator for the proxy
it built. Every decision is recorded in ``Result.steps``: the decision path ``mizzen test --explain``
prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from mizzen.simulate import envoy
from mizzen.simulate.envoy import Config
from mizzen.translate.model import ProxyResources

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
FAULT = "envoy.filters.http.fault"
BLACKHOLE = "BlackHoleCluster"
PASSTHROUGH = "PassthroughCluster"


@dataclass(frozen=True)
class Request:
    """What a client sends: the Host header (``authority``), path with query, method, headers; for TLS
    connections the SNI. Header names are matched case-insensitively."""

    authority: str = ""
    path: str = "/"
    method: str = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    scheme: str = "http"
    sni: str = ""
    tls: bool = False

    def header(self, name: str) -> str | None:
        """A request header by lower-case name, pseudo-headers (``:authority``, ``:path``...) included."""
        pseudo = {
            ":authority": self.authority,
            "host": self.authority,
            ":method": self.method,
            ":scheme": self.scheme,
            ":path": self.path,
        }
        if name in pseudo:
            return pseudo[name]
        return next((v for k, v in self.headers.items() if k.lower() == name), None)


@dataclass(frozen=True)
class Upstream:
    """One cluster a request may be sent to, as the proxy knows it."""

    cluster: str
    weight: int
    known: bool  # the cluster is in the proxy's CDS (Envoy answers 503 NC otherwise)
    healthy_endpoints: int  # -1: not an endpoint-list cluster (dynamic forward proxy, DNS)

    @property
    def unavailable(self) -> bool:
        """Envoy would answer 503 itself: no such cluster, or no healthy endpoint."""
        return not self.known or self.healthy_endpoints == 0


@dataclass(frozen=True)
class Result:
    """Where a simulated request went. ``error`` is set when Envoy would not route it at all:
    ``"no listener"``, ``"no filter chain"``, ``"no route config"``, ``"no route"`` (Envoy: 404 NR)."""

    listener: str = ""
    route_config: str = ""
    vhost: str = ""
    route_index: int = -1  # position of the chosen route in its virtual host
    route_name: str = ""
    cluster: str = ""
    weighted_clusters: tuple[tuple[str, int], ...] = ()
    upstreams: tuple[Upstream, ...] = ()
    direct_response: tuple[int, str] | None = None  # (status, body)
    redirect: Mapping[str, Any] | None = None  # Envoy RedirectAction (+ "status")
    location: str = ""  # the redirect's Location header
    fault: Mapping[str, Any] | None = None  # the route's HTTPFault per-filter config
    timeout: str | None = None
    retry_policy: Mapping[str, Any] | None = None
    error: str = ""
    tcp: bool = False  # routed by a tcp_proxy (no HTTP routing)
    route: Mapping[str, Any] = field(default_factory=dict)  # the raw Envoy route chosen
    vhost_config: Mapping[str, Any] = field(default_factory=dict)  # the raw virtual host chosen
    request: Request = field(default_factory=Request)
    steps: tuple[str, ...] = ()

    @property
    def clusters(self) -> tuple[str, ...]:
        """Every cluster the request may reach (one, or the weighted set)."""
        return (self.cluster,) if self.cluster else tuple(c for c, _ in self.weighted_clusters)

    @property
    def status(self) -> int | None:
        """The status Envoy itself answers with (404 no route, direct response, redirect), else ``None``."""
        if self.error == "no route" and not self.tcp:
            return 404
        if self.direct_response is not None:
            return self.direct_response[0]
        if self.redirect is not None:
            return int(self.redirect["status"])
        return None

    @property
    def config_source(self) -> str:
        """The Istio config that built the chosen route (its ``istio`` metadata), e.g.
        ``/apis/networking.istio.io/v1/namespaces/default/virtual-service/reviews``."""
        meta = self.route.get("metadata", {}).get("filter_metadata", {}).get("istio", {})
        return str(meta.get("config", ""))


class _Trace:
    def __init__(self) -> None:
        self.steps: list[str] = []

    def add(self, text: str) -> None:
        self.steps.append(text)


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
    request = Request(host, path, method, dict(headers or {}), scheme, sni, tls=bool(sni) or scheme == "https")
    return walk(resources, listener_port, request)


def walk(resources: ProxyResources, listener_port: int, request: Request) -> Result:
    """Route ``request`` arriving on the listener bound to ``listener_port``."""
    return Walker(resources).walk(listener_port, request)


class Walker:
    """Walks requests through one proxy's resources, with lookup indexes built once (listeners by port,
    virtual hosts by exact domain), so thousands of cases over a large mesh stay cheap."""

    def __init__(self, resources: ProxyResources) -> None:
        self.resources = resources
        self._listeners: dict[int, Config] = {}
        for listener in resources.listeners.values():
            address: Any = listener.get("address", {})
            port = address.get("socket_address", {}).get("port_value")
            if isinstance(port, int):
                self._listeners.setdefault(port, listener)
        self._exact: dict[int, dict[str, Config]] = {}

    def walk(self, listener_port: int, request: Request) -> Result:
        """Route ``request`` arriving on the listener bound to ``listener_port``."""
        return _walk(self, listener_port, request)

    def select_vhost(self, rc: Config, host: str) -> Config | None:
        """:func:`envoy.select_vhost` with the exact-domain step answered from an index."""
        index = self._exact.get(id(rc))
        if index is None:
            index = {}
            for vh in rc.get("virtual_hosts", []):
                for d in vh.get("domains", []):
                    index.setdefault(d.lower(), vh)
            self._exact[id(rc)] = index
        exact = index.get(host.lower())
        return exact if exact is not None else envoy.select_vhost(rc.get("virtual_hosts", []), host)


def _walk(walker: Walker, listener_port: int, request: Request) -> Result:
    resources = walker.resources
    trace = _Trace()
    base = Result(request=request)
    listener = walker._listeners.get(listener_port)
    if listener is None:
        trace.add(f"no listener on port {listener_port}")
        return replace(base, error="no listener", steps=tuple(trace.steps))
    lname = str(listener.get("name", ""))
    trace.add(f"listener {lname} (port {listener_port})")
    base = replace(base, listener=lname)
    chosen = envoy.select_filter_chain(listener, request.sni, request.tls)
    if chosen is None:
        trace.add(f"no filter chain takes the connection (sni={request.sni or '-'}, tls={request.tls})")
        return replace(base, error="no filter chain", steps=tuple(trace.steps))
    index, chain = chosen
    trace.add(_chain_text(index, chain))
    for filt in chain.get("filters", []):
        config = filt.get("typed_config", {})
        if filt.get("name") == TCP_PROXY:
            return _tcp(resources, base, config, trace)
        if filt.get("name") == HCM:
            rc = config.get("route_config")
            if "rds" in config:
                rc = resources.routes.get(config["rds"]["route_config_name"])
            if rc is None:
                trace.add("the route config is not in RDS")
                return replace(base, error="no route config", steps=tuple(trace.steps))
            return _http(walker, base, rc, request, trace)
    trace.add("the filter chain has no tcp_proxy or HTTP connection manager")
    return replace(base, error="no filter chain", steps=tuple(trace.steps))


def _chain_text(index: int, chain: Config) -> str:
    match = chain.get("filter_chain_match", {})
    which = "default filter chain" if index < 0 else f"filter chain #{index}"
    details = []
    if match.get("server_names"):
        details.append("server_names " + ",".join(match["server_names"]))
    if match.get("transport_protocol"):
        details.append(f"transport {match['transport_protocol']}")
    return which + (f" ({'; '.join(details)})" if details else "")


def find_listener(resources: ProxyResources, port: int) -> Config | None:
    """The listener bound to ``port`` (any address)."""
    for listener in resources.listeners.values():
        address: Any = listener.get("address", {})
        if address.get("socket_address", {}).get("port_value") == port:
            return listener
    return None


def _tcp(resources: ProxyResources, base: Result, config: Config, trace: _Trace) -> Result:
    cluster = str(config.get("cluster", ""))
    weighted = _weighted(config.get("weighted_clusters"))
    ups = _upstreams(resources, cluster, weighted)
    trace.add("tcp_proxy -> " + _targets(cluster, weighted))
    return replace(base, tcp=True, cluster=cluster, weighted_clusters=weighted, upstreams=ups, steps=tuple(trace.steps))


def _targets(cluster: str, weighted: tuple[tuple[str, int], ...]) -> str:
    if cluster:
        return f"cluster {cluster}"
    return "weighted clusters " + ", ".join(f"{c} ({w})" for c, w in weighted)


def _weighted(spec: Any) -> tuple[tuple[str, int], ...]:
    if not spec:
        return ()
    return tuple((str(c["name"]), int(c.get("weight", 0))) for c in spec.get("clusters", []))


def _http(walker: Walker, base: Result, rc: Config, req: Request, trace: _Trace) -> Result:
    resources = walker.resources
    base = replace(base, route_config=str(rc.get("name", "")))
    host = req.authority.lower()
    if rc.get("ignore_port_in_host_matching"):
        host = envoy.strip_port(host)
    trace.add(f"route config {base.route_config}: Host {host!r}")
    vhost = walker.select_vhost(rc, host)
    if vhost is None:
        trace.add("no virtual host matches the Host header -> 404 (NR)")
        return replace(base, error="no route", steps=tuple(trace.steps))
    base = replace(base, vhost=str(vhost.get("name", "")), vhost_config=vhost)
    trace.add(f"virtual host {base.vhost} (domains {', '.join(vhost.get('domains', []))})")
    if vhost.get("require_tls") in ("ALL", "EXTERNAL_ONLY") and req.scheme == "http":
        redirect = {"https_redirect": True, "status": 301}
        location = envoy.redirect_location(
            redirect, scheme="http", host=req.authority, path=req.path, matched_prefix=None
        )
        trace.add(f"the virtual host requires TLS -> 301 to {location}")
        return replace(base, redirect=redirect, location=location, steps=tuple(trace.steps))
    path = envoy.normalize_path(req.path)
    for i, route in enumerate(vhost.get("routes", [])):
        if envoy.route_matches(route.get("match", {}), path, req.header):
            trace.add(f"route #{i}{_name(route)} matches ({_match_text(route.get('match', {}))})")
            return _action(resources, replace(base, route_index=i), route, replace(req, path=path), trace)
    trace.add(f"none of the {len(vhost.get('routes', []))} routes of the virtual host matches -> 404 (NR)")
    return replace(base, error="no route", steps=tuple(trace.steps))


def _name(route: Config) -> str:
    return f" {route['name']!r}" if route.get("name") else ""


def _match_text(match: Config) -> str:
    parts = [f"{k} {match[k]!r}" for k in ("prefix", "path", "path_separated_prefix") if k in match]
    if "safe_regex" in match:
        parts.append(f"regex {match['safe_regex'].get('regex')!r}")
    parts += [f"header {h.get('name')}" for h in match.get("headers", [])]
    parts += [f"query {q.get('name')}" for q in match.get("query_parameters", [])]
    return ", ".join(parts) or "any request"


def _action(resources: ProxyResources, base: Result, route: Config, req: Request, trace: _Trace) -> Result:
    fault = route.get("typed_per_filter_config", {}).get(FAULT)
    common = replace(base, route_name=str(route.get("name", "")), route=route, fault=fault)
    if fault:
        trace.add("fault injection: " + fault_text(fault))
    if "direct_response" in route:
        dr = route["direct_response"]
        body = dr.get("body", {}).get("inline_string", "")
        trace.add(f"direct response {dr['status']}")
        return replace(common, direct_response=(int(dr["status"]), str(body)), steps=tuple(trace.steps))
    if "redirect" in route:
        redirect = dict(route["redirect"])
        redirect["status"] = envoy.REDIRECT_STATUS[redirect.get("response_code", "MOVED_PERMANENTLY")]
        prefix = envoy.matched_prefix(route.get("match", {}), req.path)
        location = envoy.redirect_location(
            redirect, scheme=req.scheme, host=req.authority, path=req.path, matched_prefix=prefix
        )
        trace.add(f"redirect {redirect['status']} to {location}")
        return replace(common, redirect=redirect, location=location, steps=tuple(trace.steps))
    action = route.get("route", {})
    cluster = str(action.get("cluster", ""))
    weighted = _weighted(action.get("weighted_clusters"))
    ups = _upstreams(resources, cluster, weighted)
    trace.add("route to " + _targets(cluster, weighted))
    for up in ups:
        if up.unavailable:
            why = "is not in the proxy's clusters" if not up.known else "has no healthy endpoint"
            trace.add(f"cluster {up.cluster} {why} -> 503")
    return replace(
        common,
        cluster=cluster,
        weighted_clusters=weighted,
        upstreams=ups,
        timeout=action.get("timeout"),
        retry_policy=action.get("retry_policy"),
        steps=tuple(trace.steps),
    )


def fault_text(fault: Config) -> str:
    """``delay 7s (100%)``, ``abort 500 (100%)``."""
    parts = []
    delay = fault.get("delay")
    if delay:
        parts.append(f"delay {delay.get('fixed_delay')} ({percent(delay.get('percentage')):g}%)")
    abort = fault.get("abort")
    if abort:
        code = abort.get("http_status", abort.get("grpc_status"))
        parts.append(f"abort {code} ({percent(abort.get('percentage')):g}%)")
    return ", ".join(parts) or "configured without delay or abort"


_DENOMINATORS = {"HUNDRED": 100, "TEN_THOUSAND": 10_000, "MILLION": 1_000_000}


def percent(fraction: Any) -> float:
    """An Envoy ``FractionalPercent`` as a percentage (absent: 0%, the proto default)."""
    if not fraction:
        return 0.0
    denominator = _DENOMINATORS.get(str(fraction.get("denominator", "HUNDRED")), 100)
    return float(fraction.get("numerator", 0)) * 100.0 / denominator


def _upstreams(resources: ProxyResources, cluster: str, weighted: tuple[tuple[str, int], ...]) -> tuple[Upstream, ...]:
    targets = ((cluster, 100),) if cluster else weighted
    return tuple(Upstream(c, w, c in resources.clusters, healthy_endpoints(resources, c)) for c, w in targets)


def healthy_endpoints(resources: ProxyResources, name: str) -> int:
    """Healthy endpoints of cluster ``name`` (EDS or inline load assignment); -1 when the cluster picks
    hosts itself (dynamic forward proxy, DNS, original destination)."""
    cluster: Config | None = resources.clusters.get(name)
    if cluster is None:
        return 0
    if name == BLACKHOLE:
        return 0
    if "cluster_type" in cluster or cluster.get("type") in ("ORIGINAL_DST", "STRICT_DNS", "LOGICAL_DNS"):
        return -1
    if cluster.get("type") == "EDS":
        assignment: Any = resources.endpoints.get(cluster.get("eds_cluster_config", {}).get("service_name") or name)
    else:
        assignment = cluster.get("load_assignment")
    if not assignment:
        return 0
    return sum(
        1
        for group in assignment.get("endpoints", [])
        for ep in group.get("lb_endpoints", [])
        if ep.get("health_status", "HEALTHY") in ("HEALTHY", "UNKNOWN")
    )
