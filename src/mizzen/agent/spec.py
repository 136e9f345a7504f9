"""What to run, parsed from the command line, and everything derived from it once ports are chosen.

:class:`WorkloadSpec` is what the user asked for; :class:`Allocation` the ports the agent picked;
the functions below derive the Envoy :class:`~mizzen.node.Proxy`, the app's argv and
environment, and the WorkloadEntry the agent registers. All pure except :func:`allocate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from mizzen.agent.errors import PortSpecError
from mizzen.agent.ports import free_ports, port_is_free
from mizzen.agent.readiness import HEALTH_ANNOTATION, ProbePolicy
from mizzen.agent.scrape import PATH, PORT, SCRAPE, STATS_PATH, opted_out
from mizzen.node import InboundPort, Proxy, Upstream, locality_from_labels
from mizzen.registry.protocols import protocol_from_name

REGISTERED_BY = "mizzen.io/registered-by"
PORTS_ANNOTATION = "mizzen.io/container-ports"  # "9080=20001,...": app port number -> sidecar inbound port
# Istio's marker that an endpoint runs a sidecar accepting Istio mTLS (the injector puts it on pods);
# Istio derives the endpoint's tlsMode from it (model.GetTLSModeFromEndpointLabels).
TLS_MODE_LABEL = "security.istio.io/tlsMode"
NO_PROXY = "localhost,127.0.0.1"
# Neither the app nor Envoy gets the agent's settings: no credential, no MIZZEN_HOME (which holds the
# admin token), no control-plane address; the app gets only what the agent sets for it below.
_WITHHELD_PREFIX = "MIZZEN_"
_PROXY_VARIABLES = frozenset({"http_proxy", "https_proxy", "all_proxy", "no_proxy"})  # compared lower-cased


@dataclass(frozen=True)
class PortSpec:
    """A service port the workload serves: ``--port http=9080``."""

    name: str
    number: int


@dataclass(frozen=True)
class UpstreamSpec:
    """``--upstream reviews:9080=127.0.0.1:19080``; ``listen_port`` None = pick a free one."""

    host: str
    port: int
    bind: str = "127.0.0.1"
    listen_port: int | None = None


@dataclass(frozen=True)
class WorkloadSpec:
    """A workload (sidecar with an app) or a gateway (router, Envoy only), as requested."""

    name: str
    namespace: str = "default"
    proxy_type: Literal["sidecar", "router"] = "sidecar"
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str = "default"
    ports: tuple[PortSpec, ...] = ()
    ready_path: str | None = None
    address: str = "127.0.0.1"
    upstreams: tuple[UpstreamSpec, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ()
    concurrency: int = 1
    envoy_log_level: str = "warning"
    bootstrap_override: str = ""  # YAML merged over the generated bootstrap (Istio's custom bootstrap)
    locality: str = ""  # "region/zone/subzone" (--locality); "" = from the labels, as Istio reads them
    probe: ProbePolicy = field(default_factory=ProbePolicy)  # the readiness probe while running
    drain_s: float = 5.0  # Istio's terminationDrainDuration
    num_trusted_proxies: int | None = None  # a gateway's ProxyConfig gatewayTopology (--proxy-config)
    capture: bool = False  # `mizzen run --capture`: the app in its own netns, its TCP redirected to Envoy
    # The merged Prometheus endpoint's port (Istio's 15020): None = pick a free one, 0 = none.
    stats_port: int | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)  # the pod's: prometheus.io/* for the app

    @property
    def has_app(self) -> bool:
        """Whether an app process runs beside the sidecar (a gateway has none)."""
        return bool(self.command)

    @property
    def registers(self) -> bool:
        """A sidecar that serves ports, and a gateway (an endpoint of its Service, as Istio's gateway
        pod is): the endpoints worth registering."""
        return self.proxy_type == "router" or bool(self.ports)


@dataclass(frozen=True)
class Allocation:
    """Ports the agent chose. ``app``/``inbound`` are keyed by port name."""

    app: Mapping[str, int] = field(default_factory=dict)
    inbound: Mapping[str, int] = field(default_factory=dict)
    http_proxy: int | None = None
    upstreams: tuple[Upstream, ...] = ()
    capture: tuple[int, int] | None = None  # --capture: Envoy's (outbound, inbound) capture listener ports
    app_address: str = "127.0.0.1"  # where the sidecar reaches the app (--capture: the app's veth address)
    stats: int | None = None  # the merged Prometheus endpoint (None: --stats-port 0)


def parse_locality(value: str) -> str:
    """``region/zone/subzone`` (zone and subzone optional), as Istio writes a locality."""
    parts = value.split("/") if value else []
    if len(parts) > 3 or any(not p or p.strip() != p for p in parts):
        raise PortSpecError(f"locality must be REGION[/ZONE[/SUBZONE]] with no empty part, got {value!r}")
    return value


def parse_labels(value: str) -> dict[str, str]:
    """``app=reviews,version=v2`` -> dict."""
    out: dict[str, str] = {}
    for item in filter(None, (x.strip() for x in value.split(","))):
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise PortSpecError(f"label must be KEY=VALUE, got {item!r}")
        out[key.strip()] = val.strip()
    return out


def parse_env(values: Iterable[str]) -> dict[str, str]:
    """``K=V`` items -> dict."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise PortSpecError(f"--env must be KEY=VALUE, got {item!r}")
        out[key] = val
    return out


def parse_port(value: str) -> PortSpec:
    """``http=9080`` -> PortSpec (the name decides the protocol, as a Kubernetes port name does)."""
    name, sep, number = value.partition("=")
    if not sep or not name or not _is_port(number):
        raise PortSpecError(f"--port must be NAME=NUMBER (e.g. http=9080), got {value!r}")
    return PortSpec(name=name.strip(), number=int(number))


def parse_upstream(value: str) -> UpstreamSpec:
    """``host:port[=[bind:]listen_port]`` -> UpstreamSpec."""
    target, _, local = value.partition("=")
    host, sep, port = target.rpartition(":")
    if not sep or not host or not _is_port(port):
        raise PortSpecError(f"--upstream must be HOST:PORT[=[IP:]LOCAL_PORT], got {value!r}")
    if not local:
        return UpstreamSpec(host=host, port=int(port))
    bind, _, listen = local.rpartition(":")
    if not _is_port(listen):
        raise PortSpecError(f"--upstream local port must be a number, got {value!r}")
    return UpstreamSpec(host=host, port=int(port), bind=bind or "127.0.0.1", listen_port=int(listen))


def allocate(spec: WorkloadSpec) -> Allocation:
    """Pick free ports: per service port an app port and a sidecar inbound port, the outbound HTTP-proxy
    port (sidecars), and each upstream without an explicit local port (Envoy's admin is a UNIX socket).

    With ``--capture`` the app, alone in its namespace as in a pod, listens on the service ports themselves,
    and the HTTP-proxy port gives way to the two capture ports (no upstreams: refused earlier)."""
    if spec.stats_port and not port_is_free(spec.stats_port, spec.address or "127.0.0.1"):
        raise PortSpecError(f"--stats-port {spec.stats_port} is already in use; pick another, or 0 for none")
    if spec.capture:
        return _allocate_captured(spec)
    for u in spec.upstreams:
        if u.listen_port is not None and not port_is_free(u.listen_port, u.bind):
            raise PortSpecError(
                f"--upstream {u.host}:{u.port}: local port {u.bind}:{u.listen_port} is already "
                "in use; pick another or leave it out to get a free one"
            )
    sidecar = spec.proxy_type == "sidecar"
    names = [p.name for p in spec.ports]
    wanted_upstreams = [u for u in spec.upstreams if u.listen_port is None]
    count = (len(names) if spec.has_app else 0) + (len(names) + 1 if sidecar else 0) + _picks_stats(spec)
    picked = iter(free_ports(count + len(wanted_upstreams)))
    app = {n: next(picked) for n in names} if spec.has_app else {}
    inbound = {n: next(picked) for n in names} if sidecar else {}
    http_proxy = next(picked) if sidecar else None
    upstreams = tuple(
        Upstream(
            host=u.host,
            port=u.port,
            bind=u.bind,
            listen_port=u.listen_port if u.listen_port is not None else next(picked),
        )
        for u in spec.upstreams
    )
    stats = next(picked) if _picks_stats(spec) else spec.stats_port or None
    return Allocation(app=app, inbound=inbound, http_proxy=http_proxy, upstreams=upstreams, stats=stats)


def _allocate_captured(spec: WorkloadSpec) -> Allocation:
    if spec.upstreams:
        raise PortSpecError("--upstream does not go with --capture: a captured app dials mesh services directly")
    names = [p.name for p in spec.ports]
    picked = iter(free_ports(len(names) + 2 + _picks_stats(spec)))
    inbound = {n: next(picked) for n in names}
    capture = (next(picked), next(picked))
    app = {p.name: p.number for p in spec.ports} if spec.has_app else {}
    stats = next(picked) if _picks_stats(spec) else spec.stats_port or None
    return Allocation(app=app, inbound=inbound, capture=capture, stats=stats)


def _picks_stats(spec: WorkloadSpec) -> int:
    """1 when the merged Prometheus endpoint's port is to be picked (no --stats-port given), else 0."""
    return 1 if spec.stats_port is None else 0


def proxy_of(spec: WorkloadSpec, alloc: Allocation, access_log: str = "") -> Proxy:
    """The Proxy the control plane will see (it reads it back from the node metadata)."""
    inbound = tuple(
        InboundPort(
            service_port=p.number,
            name=p.name,
            protocol=_inbound_protocol(p.name),
            listen_port=alloc.inbound[p.name],
            app_port=alloc.app.get(p.name, p.number),
        )
        for p in spec.ports
        if p.name in alloc.inbound
    )
    return Proxy(
        id=f"{spec.name}.{spec.namespace}",
        type=spec.proxy_type,
        name=spec.name,
        namespace=spec.namespace,
        ip=spec.address,
        labels=dict(spec.labels),
        service_account=spec.service_account,
        http_proxy_port=alloc.http_proxy,
        inbound=inbound,
        upstreams=alloc.upstreams,
        bind_address=spec.address,
        access_log=access_log,
        locality=spec.locality or locality_from_labels(spec.labels),
        num_trusted_proxies=spec.num_trusted_proxies,
        stats_port=alloc.stats,
        **_capture_fields(alloc),
    )


def _capture_fields(alloc: Allocation) -> dict[str, Any]:
    """The Proxy fields a captured workload sets (INTERCEPTION_MODE REDIRECT, its capture ports, its app)."""
    if alloc.capture is None:
        return {}
    outbound, inbound = alloc.capture
    return {
        "interception": "REDIRECT",
        "capture_outbound_port": outbound,
        "capture_inbound_port": inbound,
        "app_address": alloc.app_address,
    }


def app_argv(spec: WorkloadSpec, alloc: Allocation) -> list[str]:
    """The app's argv with ``{port}`` (first service port) and ``{port_<name>}`` substituted."""
    subs = {f"{{port_{name}}}": str(port) for name, port in alloc.app.items()}
    if spec.ports and spec.ports[0].name in alloc.app:
        subs["{port}"] = str(alloc.app[spec.ports[0].name])
    out = []
    for arg in spec.command:
        for key, val in subs.items():
            arg = arg.replace(key, val)
        out.append(arg)
    return out


def app_env(spec: WorkloadSpec, alloc: Allocation, base: Mapping[str, str]) -> dict[str, str]:
    """The app's environment: ``base`` plus PORT, the sidecar as HTTP proxy, identity, and ``--env``."""
    env = withheld(base)
    if alloc.capture is not None:  # captured: the sidecar takes the app's TCP without its knowing
        env = {k: v for k, v in env.items() if k.lower() not in _PROXY_VARIABLES}
    if spec.ports and spec.ports[0].name in alloc.app:
        env["PORT"] = str(alloc.app[spec.ports[0].name])
    for name, port in alloc.app.items():
        env[f"MIZZEN_PORT_{_env_name(name)}"] = str(port)
    if alloc.http_proxy is not None:
        proxy = f"http://127.0.0.1:{alloc.http_proxy}"
        # HTTPS too: `https://` URLs become CONNECT tunnels the sidecar routes with Istio's TLS rules.
        env.update(HTTP_PROXY=proxy, http_proxy=proxy, HTTPS_PROXY=proxy, https_proxy=proxy)
        env.update(NO_PROXY=NO_PROXY, no_proxy=NO_PROXY)
    for up in alloc.upstreams:
        env[f"MIZZEN_UPSTREAM_{_env_name(up.host)}_{up.port}"] = f"{up.bind}:{up.listen_port}"
    env.update(
        MIZZEN_WORKLOAD=spec.name,
        MIZZEN_NAMESPACE=spec.namespace,
        MIZZEN_LABELS=",".join(f"{k}={v}" for k, v in sorted(spec.labels.items())),
    )
    env.update(spec.env)
    return env


def withheld(base: Mapping[str, str]) -> dict[str, str]:
    """``base`` without any ``MIZZEN_*`` variable (the environment for the app and for Envoy)."""
    return {k: v for k, v in base.items() if not k.startswith(_WITHHELD_PREFIX)}


def workload_entry(spec: WorkloadSpec, alloc: Allocation, *, healthy: bool = True) -> dict[str, Any]:
    """The WorkloadEntry the agent registers: other proxies reach this workload at its sidecar's
    inbound ports, so ``ports`` maps each service port name to the sidecar's listen port. The
    ``security.istio.io/tlsMode: istio`` label says a sidecar stands in front of it, as on Istio's pods.

    A gateway registers with no ``ports``: its endpoints are its Service's targetPorts, which its
    listeners bind, and no tlsMode label (Istio's gateway pods have none: peers do not originate
    mutual TLS to a gateway unless a DestinationRule says so)."""
    if spec.proxy_type == "router":
        gateway = {REGISTERED_BY: "gateway", **scrape_annotations(spec, alloc)}
        return {
            "apiVersion": "networking.istio.io/v1",
            "kind": "WorkloadEntry",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "annotations": gateway},
            "spec": {"address": spec.address, "labels": dict(spec.labels), "serviceAccount": spec.service_account},
        }
    annotations = {REGISTERED_BY: "agent", **scrape_annotations(spec, alloc)}
    # The app's port numbers (a pod's containerPorts) -> the sidecar's: a Service port without a name, or
    # whose name the workload does not use, reaches the sidecar through its targetPort number, as in Kubernetes.
    numbered = {p.number: alloc.inbound[p.name] for p in spec.ports if p.name in alloc.inbound}
    if numbered:
        annotations[PORTS_ANNOTATION] = ",".join(f"{n}={listen}" for n, listen in sorted(numbered.items()))
    if not healthy:
        annotations[HEALTH_ANNOTATION] = "false"
    if alloc.http_proxy is not None:
        annotations["mizzen.io/http-proxy"] = f"127.0.0.1:{alloc.http_proxy}"
    entry: dict[str, Any] = {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "annotations": annotations},
        "spec": {
            "address": spec.address,
            "ports": dict(alloc.inbound),
            "labels": {**spec.labels, TLS_MODE_LABEL: "istio"},
            "serviceAccount": spec.service_account,
        },
    }
    if spec.locality:
        entry["spec"]["locality"] = spec.locality
    return entry


def scrape_annotations(spec: WorkloadSpec, alloc: Allocation) -> dict[str, str]:
    """Where Prometheus scrapes this workload: its merged endpoint, written as Istio's injector rewrites a pod's
    ``prometheus.io/*`` annotations when metrics merging is on; none with ``--stats-port 0``, nor for a pod
    annotated ``prometheus.io/scrape: "false"`` (Istio leaves such a pod alone: Prometheus skips it)."""
    if not alloc.stats or opted_out(spec.annotations):
        return {}
    return {SCRAPE: "true", PORT: str(alloc.stats), PATH: STATS_PATH}


def _inbound_protocol(name: str) -> str:
    # Ports named like Istio's auto-detected ones are treated as HTTP: the inbound listener is
    # an HTTP connection manager, which is what `mizzen run` workloads overwhelmingly are.
    protocol = protocol_from_name(name)
    return "HTTP" if protocol == "UNSUPPORTED" else protocol


def _env_name(value: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in value).upper()


def _is_port(value: str) -> bool:
    return value.isdigit() and 0 < int(value) < 65536
