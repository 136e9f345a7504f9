"""The tested mesh: config resources plus the workloads the tests describe, as the control plane sees it.

Described workloads become WorkloadEntries (so they are endpoints of the Services selecting them, as a
running ``mizzen run`` workload would be), and a ``from`` becomes the :class:`Proxy` its Envoy would
present. The MeshSnapshot is built the way the control plane builds it (configs ordered by creation
time, then namespace and name; one registry over Services, ServiceEntries and WorkloadEntries), and
an ingress gateway gets Istio's default gateway Service unless one selects it, as ``mizzen gateway``
does, so Gateway servers on 80/443 bind 8080/8443.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mizzen import gatewayapi
from mizzen.agent.gateway_service import gateway_service as agent_gateway_service
from mizzen.config.models import parse
from mizzen.config.resource import Metadata, Origin, Resource
from mizzen.config.semantics import ports as ports_rule
from mizzen.config.semantics import selectors as rules
from mizzen.node import Proxy, Upstream
from mizzen.registry import Registry
from mizzen.translate.model import MeshConfig, MeshSnapshot

SIDECAR_HTTP_PROXY_PORT = 15001  # the outbound HTTP-proxy listener of every simulated sidecar
UPSTREAM_BASE_PORT = 16000  # explicit upstream listeners for TCP/TLS/gRPC cases: 16000, 16001, ...
DEFAULT_GATEWAY = "istio-ingressgateway"
GATEWAY_NAMESPACE = "istio-system"
GATEWAY_LABELS = {"istio": "ingressgateway"}
GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"
TEST_ANNOTATION = "mizzen.io/described-by"
TLS_MODE_LABEL = "security.istio.io/tlsMode"  # Istio's label: "istio" when a sidecar fronts the workload


@dataclass(frozen=True)
class Workload:
    """A workload of the tested mesh (described in a RouteTest, a WorkloadEntry, or a live proxy)."""

    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    service_account: str = "default"
    address: str = ""
    ports: Mapping[str, int] = field(default_factory=dict)
    gateway: bool = False
    origin: Origin = field(default_factory=Origin)
    registered: bool = False  # already a WorkloadEntry in the config (no endpoint to add)

    @property
    def key(self) -> tuple[str, str]:
        """``(namespace, name)``."""
        return (self.namespace, self.name)


def default_gateway(namespace: str = GATEWAY_NAMESPACE, name: str = DEFAULT_GATEWAY) -> Workload:
    """The ingress gateway ``mizzen gateway`` runs by default (labels ``istio=ingressgateway``)."""
    return Workload(name, namespace, dict(GATEWAY_LABELS), GATEWAY_SERVICE_ACCOUNT, gateway=True)


def workload_entry(w: Workload, index: int) -> Resource:
    """The WorkloadEntry a running workload would register (address made up unless described), labelled
    ``security.istio.io/tlsMode: istio`` as the agent labels it (a sidecar runs in front of it) unless
    the test gives that label itself (e.g. ``disabled`` for a workload without a sidecar)."""
    address = w.address or f"10.88.{index // 250}.{index % 250 + 1}"
    labels = {TLS_MODE_LABEL: "istio", **w.labels}
    spec: dict[str, object] = {"address": address, "labels": labels, "serviceAccount": w.service_account}
    if w.ports:
        spec["ports"] = dict(w.ports)
    meta = Metadata(name=w.name, namespace=w.namespace, labels=dict(w.labels), annotations={TEST_ANNOTATION: "test"})
    return Resource("networking.istio.io/v1", "WorkloadEntry", meta, spec, w.origin)


def gateway_service(gw: Workload) -> Resource:
    """Istio's default ingress gateway Service for ``gw`` (Service 80 -> 8080, 443 -> 8443), the very
    document ``mizzen gateway`` creates."""
    doc = agent_gateway_service(gw.name, gw.namespace, gw.labels)
    meta = Metadata(name=gw.name, namespace=gw.namespace, labels=doc["metadata"]["labels"])
    return Resource(doc["apiVersion"], "Service", meta, doc["spec"], Origin())


def selects(service: Resource, w: Workload) -> bool:
    """A Kubernetes Service in the workload's namespace whose (non-empty) selector matches its labels."""
    selector = service.spec.get("selector")
    return (
        service.kind == "Service"
        and service.namespace == w.namespace
        and isinstance(selector, Mapping)
        and rules.selects(rules.SERVICE, {str(k): str(v) for k, v in selector.items()}, w.labels)
    )


def build_mesh(config: Sequence[Resource], workloads: Iterable[Workload], mesh: MeshConfig) -> MeshSnapshot:
    """The MeshSnapshot the control plane would hold after ``config`` is applied and the workloads run."""
    resources = list(config)
    index = 0
    for w in workloads:
        if w.gateway:
            if not any(selects(s, w) for s in resources):
                resources.append(gateway_service(w))
        elif not w.registered:
            resources.append(workload_entry(w, index))
            index += 1
    return snapshot(resources, mesh)


def _order(r: Resource) -> tuple[str, str, str]:
    # The control plane's order (controlplane.mesh): creation time, then namespace and name.
    return (r.metadata.creation_timestamp, r.metadata.namespace, r.metadata.name)


def snapshot(resources: Sequence[Resource], mesh: MeshConfig, *, keep_order: bool = False) -> MeshSnapshot:
    """A MeshSnapshot of ``resources``: in the control plane's order, or as given with ``keep_order``;
    each resource parsed once into its typed model, and Gateway API objects adding the Istio config
    they convert to, as the control plane does."""
    resources = [*resources, *gatewayapi.convert(resources).resources]
    configs = [parse(r) for r in (resources if keep_order else sorted(resources, key=_order))]
    # The control plane's incremental registry (indexed by labels; tested equal to build_registry).
    registry = Registry()
    for c in configs:
        registry.apply("ADDED", c)
    return MeshSnapshot.of_configs(configs, registry.snapshot(), mesh)


def gateway_listen_port(config: Iterable[Resource], gw: Workload, port: int) -> int:
    """The port a gateway pod listens on for Service port ``port`` (Istio's gateway port translation)."""
    services = [s for s in config if selects(s, gw)] or [gateway_service(gw)]
    ports = [
        (int(p["port"]), int(p["targetPort"]) if isinstance(p.get("targetPort"), int) else None)
        for svc in services
        for p in svc.spec.get("ports") or ()
        if isinstance(p, Mapping) and isinstance(p.get("port"), int)
    ]
    return ports_rule.gateway_listen_port(port, ports)


def sidecar_proxy(w: Workload, upstreams: Sequence[tuple[str, int]] = ()) -> Proxy:
    """The sidecar Proxy of ``w``: an outbound HTTP-proxy listener, plus one explicit upstream listener
    per (host, port) a TCP/TLS/gRPC case sends to."""
    ups = tuple(Upstream(host, port, UPSTREAM_BASE_PORT + i) for i, (host, port) in enumerate(upstreams))
    return Proxy(
        id=f"{w.name}.{w.namespace}",
        type="sidecar",
        name=w.name,
        namespace=w.namespace,
        labels=dict(w.labels),
        service_account=w.service_account,
        http_proxy_port=SIDECAR_HTTP_PROXY_PORT,
        upstreams=ups,
    )


def gateway_proxy(w: Workload) -> Proxy:
    """The router Proxy of an ingress gateway."""
    return Proxy(
        id=f"{w.name}.{w.namespace}",
        type="router",
        name=w.name,
        namespace=w.namespace,
        labels=dict(w.labels),
        service_account=w.service_account,
    )


def anonymous(labels: Mapping[str, str], namespace: str) -> Workload:
    """A sender known only by labels and namespace (not an endpoint of anything)."""
    digest = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()[:8]
    return Workload(f"routetest-{digest}", namespace, dict(labels), registered=True)
