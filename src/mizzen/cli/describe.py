"""``mizzen describe``: what reaches a workload or service, and what looks wrong, like ``istioctl x describe``.

Pure: it takes the Kubernetes-shaped JSON the API returns (Services, ServiceEntries, WorkloadEntries,
DestinationRules, VirtualServices, Gateways, PeerAuthentications) and renders text. Output follows
istioctl's sections and warning texts, e.g. ``WARNING: No destinations match pod subsets (checked 1
HTTP routes)`` / ``Route to non-matching subset v1 for (everything)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mizzen.cli import configdump as cd
from mizzen.cli import describe_security as sec
from mizzen.config.semantics.hosts import fqdn, kube_host
from mizzen.config.semantics.ports import gateway_listen_port, selects_gateway
from mizzen.config.semantics.selectors import GATEWAY, SERVICE, SUBSET, selects

Obj = Mapping[str, Any]
SEP = "--------------------"


@dataclass(frozen=True)
class GatewayProxy:
    """A running gateway (``mizzen gateway``): its namespace, the labels Gateway selectors match, its address."""

    namespace: str
    labels: Mapping[str, str]
    address: str = "127.0.0.1"


@dataclass
class World:
    """Every object describe may look at, grouped by kind, and the gateways that are running."""

    objects: Mapping[str, Sequence[Obj]] = field(default_factory=dict)
    gateway_url: str = ""  # a fixed ingress URL, used when ``gateways`` is empty (offline rendering)
    gateways: Sequence[GatewayProxy] = ()
    # Envoy /config_dump of each workload's own proxy ("name.namespace"): which DestinationRule and
    # VirtualServices it really uses, as istioctl reads them from the pod. Without a dump, describe
    # falls back to the stored objects.
    dumps: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def of(self, kind: str) -> Sequence[Obj]:
        """The objects of one kind, or none."""
        return self.objects.get(kind, ())


def _ns(o: Obj) -> str:
    return str(o.get("metadata", {}).get("namespace", "default"))


def _name(o: Obj) -> str:
    return str(o.get("metadata", {}).get("name", ""))


def _labels(o: Obj) -> Mapping[str, str]:
    return o.get("metadata", {}).get("labels") or {}


def services_for(world: World, labels: Mapping[str, str], namespace: str) -> list[Obj]:
    """Kubernetes Services (same namespace) whose selector matches the labels."""
    return [
        s
        for s in world.of("Service")
        if _ns(s) == namespace and selects(SERVICE, s.get("spec", {}).get("selector"), labels)
    ]


def _service_host(svc: Obj) -> str:
    return kube_host(_name(svc), _ns(svc))


def destination_rule_for(world: World, host: str) -> Obj | None:
    """The DestinationRule whose host (made an FQDN in its own namespace) is ``host``; the oldest if several."""
    matches = [d for d in world.of("DestinationRule") if fqdn(str(d["spec"].get("host", "")), _ns(d)) == host]
    matches.sort(key=lambda d: str(d.get("metadata", {}).get("creationTimestamp", "")))
    return matches[0] if matches else None


def virtual_services_for(world: World, host: str) -> list[Obj]:
    """Mesh-bound VirtualServices whose hosts include ``host``."""
    out = []
    for vs in world.of("VirtualService"):
        spec = vs.get("spec", {})
        gws = spec.get("gateways") or ["mesh"]
        if "mesh" in gws and any(fqdn(str(h), _ns(vs)) == host for h in spec.get("hosts", [])):
            out.append(vs)
    return out


def _match_facts(match: Obj) -> str:
    facts = []
    uri = match.get("uri") or {}
    for kind, fmt in (("exact", "{}"), ("prefix", "{}*"), ("regex", "{}")):
        if kind in uri:
            facts.append(fmt.format(uri[kind]))
    headers = match.get("headers") or {}
    if headers:
        hs = ", ".join(f"{k}={next(iter(v.values()), '') if v else ''}" for k, v in sorted(headers.items()))
        facts.append(f"when headers are {hs}")
    return " ".join(facts)


def _route_condition(rule: Obj) -> str:
    matches = rule.get("match") or []
    if not matches:
        return "(everything)"
    return "(" + " or ".join(_match_facts(m) for m in matches) + ")"


def _subset_labels(dr: Obj | None, subset: str) -> Mapping[str, str] | None:
    if dr is None:
        return None
    for s in dr.get("spec", {}).get("subsets", []) or []:
        if s.get("name") == subset:
            return dict(s.get("labels", {}) or {})
    return None


def describe_routes(vs: Obj, host: str, dr: Obj | None, labels: Mapping[str, str]) -> list[str]:
    """Lines for one VirtualService: what of it reaches a workload with ``labels``."""
    rules = vs.get("spec", {}).get("http", []) or []
    lines: list[str] = []
    reaching: list[str] = []
    missing: list[str] = []
    for rule in rules:
        dests = [
            d
            for d in rule.get("route", []) or []
            if fqdn(str(d.get("destination", {}).get("host", "")), _ns(vs)) == host
        ]
        for d in dests:
            subset = str(d.get("destination", {}).get("subset", ""))
            cond = _route_condition(rule)
            weight = f" with weight {d['weight']}%" if "weight" in d and len(dests) > 1 else ""
            if not subset:
                reaching.append(f'Route to host "{host}"{weight} {cond}'.rstrip())
                continue
            sl = _subset_labels(dr, subset)
            if sl is None:
                missing.append(
                    f"Route to UNKNOWN subset {subset}; check DestinationRule {_name(dr) if dr else '(none)'}"
                    if dr
                    else f"Warning: Route to subset {subset} but NO DESTINATION RULE defining subsets!"
                )
            elif selects(SUBSET, sl, labels):
                reaching.append(f"Route to subset {subset}{weight} {cond}".rstrip())
            else:
                missing.append(f"Route to non-matching subset {subset} for {cond}")
        lines.extend(_rule_extras(rule) if dests else [])
    if reaching:
        lines = [f"   {len(rules)} HTTP route(s)", *[f"   {r}" for r in reaching], *lines]
        if missing:
            lines.append(f"   {len(missing)} additional destination(s) that will not reach this pod")
            lines.extend(f"      {m}" for m in missing)
    else:
        lines = [
            f"   WARNING: No destinations match pod subsets (checked {len(rules)} HTTP routes)",
            *[f"      {m}" for m in missing],
        ]
    return lines


def _rule_extras(rule: Obj) -> list[str]:
    out = []
    fault = rule.get("fault") or {}
    if "delay" in fault:
        d = fault["delay"]
        pct = (d.get("percentage") or {}).get("value", d.get("percent", 100))
        out.append(f"   Fault injection: delay {d.get('fixedDelay', '')} for {pct}% of requests")
    if "abort" in fault:
        a = fault["abort"]
        pct = (a.get("percentage") or {}).get("value", 100)
        code = a.get("httpStatus", a.get("grpcStatus", ""))
        out.append(f"   Fault injection: abort {code} for {pct}% of requests")
    if rule.get("timeout"):
        out.append(f"   Timeout: {rule['timeout']}")
    if rule.get("retries"):
        r = rule["retries"]
        out.append(
            f"   Retries: {r.get('attempts', 0)} attempts"
            + (f", per try timeout {r['perTryTimeout']}" if r.get("perTryTimeout") else "")
            + (f", on {r['retryOn']}" if r.get("retryOn") else "")
        )
    return out


def describe_destination_rule(dr: Obj, labels: Mapping[str, str]) -> list[str]:
    """istioctl's DestinationRule section for a pod with ``labels``: the subsets it matches, TLS mode, policies."""
    spec = dr.get("spec", {})
    lines = [f'DestinationRule: {_name(dr)} for "{spec.get("host", "")}"']
    subsets = spec.get("subsets", []) or []
    match = [s["name"] for s in subsets if selects(SUBSET, s.get("labels") or {}, labels)]
    other = [s["name"] for s in subsets if s["name"] not in match]
    if subsets and match:
        lines.append(f"   Matching subsets: {','.join(match)}")
        if other:
            lines.append(f"      (Non-matching subsets {','.join(other)})")
    elif subsets:
        lines.append(f"   WARNING POD DOES NOT MATCH ANY SUBSETS.  (Non matching subsets {','.join(other)})")
    tp = spec.get("trafficPolicy")
    if not tp:
        lines.append("   No Traffic Policy")
    else:
        if (tp.get("tls") or {}).get("mode"):
            lines.append(f"   Traffic Policy TLS Mode: {tp['tls']['mode']}")
        policies = [k for k in ("loadBalancer", "connectionPool", "outlierDetection") if k in tp]
        if policies:
            lines.append("   Policies: " + " ".join(policies))
    return lines


def describe_gateways(world: World, host: str) -> list[str]:
    """istioctl's ingress section: each gateway-bound VirtualService routing to ``host``, with the URL of
    the running gateway that serves it."""
    lines: list[str] = []
    for vs in world.of("VirtualService"):
        gws = [g for g in vs.get("spec", {}).get("gateways", []) or [] if g != "mesh"]
        rules = [
            r
            for r in vs.get("spec", {}).get("http", []) or []
            if any(
                fqdn(str(d.get("destination", {}).get("host", "")), _ns(vs)) == host for d in r.get("route", []) or []
            )
        ]
        if not gws or not rules:
            continue
        urls = [u for u in (_gateway_url(world, _gateway_object(world, str(g), _ns(vs))) for g in gws) if u]
        if not urls:
            lines += [SEP, "Skipping Gateway information (no ingress gateway pods)"]
            continue
        matches = ", ".join(f for r in rules for f in (_match_facts(m) for m in r.get("match", []) or []) if f)
        for url in dict.fromkeys(urls):
            lines += [
                SEP,
                f"Exposed on Ingress Gateway {url}",
                f"VirtualService: {_name(vs)}",
                "   " + (matches or "(everything)"),
            ]
    return lines


def _gateway_object(world: World, ref: str, vs_namespace: str) -> Obj | None:
    """Resolve a VirtualService's ``gateways`` entry (``name`` or ``ns/name``) to the Gateway object."""
    ns, _, name = ref.rpartition("/")
    ns = ns or vs_namespace
    return next((g for g in world.of("Gateway") if _name(g) == name and _ns(g) == ns), None)


def _gateway_url(world: World, gateway: Obj | None) -> str:
    """Where the running gateway selected by ``gateway`` serves its first HTTP(S) server."""
    if gateway is None:
        return ""
    servers = gateway.get("spec", {}).get("servers", []) or []
    server = next(
        (s for s in servers if str(s.get("port", {}).get("protocol", "")).upper() in ("HTTP", "HTTPS", "HTTP2")),
        servers[0] if servers else {},
    )
    number = int(server.get("port", {}).get("number", 80))
    scheme = "https" if str(server.get("port", {}).get("protocol", "")).upper() == "HTTPS" else "http"
    selector = gateway.get("spec", {}).get("selector") or {}
    for proxy in world.gateways:
        if selects(GATEWAY, selector, proxy.labels):
            port = _listen_port(world, proxy, number)
            default = 443 if scheme == "https" else 80
            return f"{scheme}://{proxy.address}" + ("" if port == default else f":{port}")
    return world.gateway_url


def _listen_port(world: World, proxy: GatewayProxy, number: int) -> int:
    """Istio's gateway port translation: a server port that is a port of the gateway's own Service binds
    that port's targetPort."""
    ports = [
        (p.get("port"), p["targetPort"] if isinstance(p.get("targetPort"), int) else None)
        for svc in world.of("Service")
        if selects_gateway(_ns(svc), svc.get("spec", {}).get("selector"), _labels(svc), proxy.namespace, proxy.labels)
        for p in svc.get("spec", {}).get("ports", []) or []
    ]
    return gateway_listen_port(number, ports)


def describe_workload(world: World, name: str, namespace: str) -> str:
    """The full ``describe workload`` text; raises LookupError when the workload is unknown."""
    we = next((w for w in world.of("WorkloadEntry") if _name(w) == name and _ns(w) == namespace), None)
    if we is None:
        raise LookupError(f'workload "{name}" not found in namespace "{namespace}"')
    spec = we.get("spec", {})
    labels = dict(spec.get("labels", {}) or {})
    ports = spec.get("ports", {}) or {}
    out = [
        f"Workload: {name}" + (f".{namespace}" if namespace != "default" else ""),
        f"   Address: {spec.get('address', '')}",
        "   Ports: " + (", ".join(f"{p} ({n})" for n, p in sorted(ports.items())) or "none"),
        "   Labels: " + ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
    ]
    services = services_for(world, labels, namespace)
    if not services:
        out.append(f"Warning: No Services select workload {name}")
    dump = world.dumps.get(f"{name}.{namespace}")
    for svc in services:
        out += describe_service_for_labels(world, svc, labels, dump, ports)
    out += _mtls_lines(world, labels, namespace, dump, _port_pairs(services, ports))
    return "\n".join(out) + "\n"


def _port_pairs(services: Sequence[Obj], listen_ports: Mapping[str, int]) -> list[tuple[int, int]]:
    """(workload port, the sidecar's listen port) for each Service port the workload serves (by name)."""
    pairs: dict[int, int] = {}
    for svc in services:
        for p in svc.get("spec", {}).get("ports", []) or []:
            listen = listen_ports.get(str(p.get("name", "")))
            if listen is not None:
                pairs.setdefault(int(p.get("port", 0)), int(listen))
    return sorted(pairs.items())


def describe_service_for_labels(
    world: World,
    svc: Obj,
    labels: Mapping[str, str],
    dump: Mapping[str, Any] | None = None,
    listen_ports: Mapping[str, int] | None = None,
) -> list[str]:
    """The per-Service section; with the workload's ``dump``, the DR and VSs its proxy actually uses and
    the RBAC policies its inbound listeners enforce (``listen_ports``: the workload's port name ->
    sidecar listen port, from its WorkloadEntry)."""
    host = _service_host(svc)
    out = [SEP, f"Service: {_name(svc)}"]
    ports = svc.get("spec", {}).get("ports", []) or []
    for p in ports:
        proto = str(p.get("name", "")).split("-")[0].upper() or "TCP"
        target = p.get("targetPort", p.get("port"))
        out.append(f"   Port: {p.get('name', '')} {p.get('port')}/{proto} targets pod port {target}")
    if dump is None:
        dr = destination_rule_for(world, host)
        vss = virtual_services_for(world, host)
    else:
        dr_refs, vs_refs = configs_in_use(dump, host, [int(p.get("port", 0)) for p in ports])
        dr, stale = _resolve(world, "DestinationRule", dr_refs[:1])
        vss, stale_vs = _resolve_all(world, "VirtualService", vs_refs)
        out += [f"WARNING: Proxy is stale; it references to non-existent destination rule {r}" for r in stale]
        out += [f"WARNING: Proxy is stale; it references to non-existent virtual service {r}" for r in stale_vs]
    if dr is not None:
        out += describe_destination_rule(dr, labels)
    for vs in vss:
        out += [f"VirtualService: {_name(vs)}", *describe_routes(vs, host, dr, labels)]
    if dump is not None and listen_ports:
        out += sec.rbac_lines(dump, _port_pairs([svc], listen_ports))
    out += describe_gateways(world, host)
    return out


def configs_in_use(dump: Mapping[str, Any], host: str, ports: Sequence[int]) -> tuple[list[str], list[str]]:
    """``name.ns`` of the DestinationRules (from ``outbound|port|*|host`` clusters) and VirtualServices
    (from routes of the ``host:port`` virtual hosts) that produced a proxy's config for ``host``."""
    drs: dict[str, None] = {}
    for c in cd.clusters(dump):
        parts = str(c.get("name", "")).split("|")
        wanted = len(parts) == 4 and parts[0] == "outbound" and parts[3] == host and int(parts[1] or 0) in ports
        if wanted and (ref := cd.config_ref(c.get("metadata"))):
            drs[ref] = None
    vss: dict[str, None] = {}
    vhosts = {f"{host}:{p}" for p in ports}
    for rc in cd.route_configs(dump):
        for vh in rc.get("virtual_hosts", []):
            if vh.get("name") in vhosts:
                vss.update((ref, None) for r in vh.get("routes", []) if (ref := cd.config_ref(r.get("metadata"))))
    return list(drs), list(vss)


def _resolve(world: World, kind: str, refs: Sequence[str]) -> tuple[Obj | None, list[str]]:
    found, stale = _resolve_all(world, kind, refs)
    return (found[0] if found else None), stale


def _resolve_all(world: World, kind: str, refs: Sequence[str]) -> tuple[list[Obj], list[str]]:
    found, stale = [], []
    for ref in refs:
        name, _, ns = ref.rpartition(".")  # names may hold dots (generated ones do); namespaces never
        obj = next((o for o in world.of(kind) if _name(o) == name and _ns(o) == ns), None)
        if obj is None:
            stale.append(ref)
        else:
            found.append(obj)
    return found, stale


def _mtls_lines(
    world: World,
    labels: Mapping[str, str],
    namespace: str,
    dump: Mapping[str, Any] | None = None,
    ports: Sequence[tuple[int, int]] = (),
) -> list[str]:
    """The PeerAuthentication block: with a dump, the modes the inbound listeners really enforce."""
    pas = world.of("PeerAuthentication")
    modes = sec.port_modes(dump, ports) if dump is not None else {}
    if not pas and not modes:
        return []
    mode, applied = sec.composed_peer_authentication(pas, labels, namespace)
    return [SEP, *sec.peer_authentication_lines(modes, mode, applied)]


def service_workloads(world: World, name: str, namespace: str) -> list[str]:
    """Names of the WorkloadEntries the Service selects; raises LookupError for an unknown Service."""
    svc = next((s for s in world.of("Service") if _name(s) == name and _ns(s) == namespace), None)
    if svc is None:
        raise LookupError(f'service "{name}" not found in namespace "{namespace}"')
    selector = svc.get("spec", {}).get("selector")
    return [
        _name(w)
        for w in world.of("WorkloadEntry")
        if _ns(w) == namespace and selects(SERVICE, selector, w.get("spec", {}).get("labels") or {})
    ]


def describe_service(world: World, name: str, namespace: str) -> str:
    """``describe service``: the analysis for each workload the service selects."""
    workloads = service_workloads(world, name, namespace)
    if not workloads:
        return f'Service "{name}" has no workloads.\n'
    return "".join(describe_workload(world, w, namespace) for w in workloads)
