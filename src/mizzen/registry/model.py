"""What the registry produces: services (with ports) and the endpoints behind each service port.

Services come from Kubernetes ``Service`` objects and ``ServiceEntry`` resources; endpoints come from
``WorkloadEntry`` resources (user-applied or registered by ``mizzen run``) selected by a Service
selector or a ServiceEntry ``workloadSelector``, and from ServiceEntry inline ``endpoints``.
All types are immutable and hashable so snapshots can be compared and cached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from mizzen.config.semantics.selectors import SERVICE, SERVICE_ENTRY, selects

Protocol = Literal[
    "HTTP", "HTTPS", "HTTP2", "GRPC", "GRPC-WEB", "TCP", "TLS", "MONGO", "MYSQL", "REDIS", "UDP", "UNSUPPORTED"
]
Resolution = Literal["STATIC", "DNS", "DNS_ROUND_ROBIN", "NONE"]
Location = Literal["MESH_INTERNAL", "MESH_EXTERNAL"]


@dataclass(frozen=True, order=True)
class ServicePort:
    """One port of a service. ``protocol`` follows Istio's rules (port name prefix / appProtocol)."""

    number: int
    name: str = ""
    protocol: str = "TCP"
    target_port: int | None = None  # Service targetPort (number) / ServiceEntry targetPort
    target_port_name: str = ""  # Service targetPort given as a name


@dataclass(frozen=True)
class Service:
    """A service in the mesh registry, identified by its fully-qualified hostname."""

    hostname: str  # "reviews.default.svc.cluster.local" or "www.example.com"
    namespace: str
    name: str  # the Kubernetes Service / ServiceEntry name
    ports: tuple[ServicePort, ...]
    source_kind: Literal["Service", "ServiceEntry"] = "Service"
    resolution: Resolution = "STATIC"
    location: Location = "MESH_INTERNAL"
    addresses: tuple[str, ...] = ()  # VIPs (ServiceEntry addresses)
    export_to: tuple[str, ...] = ("*",)
    labels: tuple[tuple[str, str], ...] = ()
    selector: tuple[tuple[str, str], ...] | None = None  # None: no selector (endpoints are explicit)

    def port(self, number: int) -> ServicePort | None:
        """The service port with this number, or ``None``."""
        return next((p for p in self.ports if p.number == number), None)

    def selects(self, labels: Mapping[str, str]) -> bool:
        """Whether the service's selector picks a workload with ``labels`` (its kind's rule)."""
        rule = SERVICE if self.source_kind == "Service" else SERVICE_ENTRY
        return selects(rule, dict(self.selector) if self.selector is not None else None, labels)


@dataclass(frozen=True, order=True)
class Endpoint:
    """One endpoint of one service port: where to send traffic and who is there.

    ``address``:``port`` is what Envoy connects to (for a ``mizzen run`` workload: its sidecar's
    inbound listener).
    """

    address: str
    port: int
    service_port: int  # the ServicePort.number this endpoint serves
    labels: tuple[tuple[str, str], ...] = ()
    workload: str = ""  # workload (WorkloadEntry) name
    namespace: str = ""
    service_account: str = ""
    weight: int = 1
    healthy: bool = True
    locality: str = ""
    tls_mode: str = ""  # "istio" when the workload runs a Mizzen sidecar able to do mTLS

    @property
    def label_map(self) -> dict[str, str]:
        """The endpoint's labels as a dict (they are kept as sorted pairs to stay hashable)."""
        return dict(self.labels)


@dataclass(frozen=True)
class RegistrySnapshot:
    """Immutable view of every service and the endpoints of each (hostname, service port)."""

    services: tuple[Service, ...] = ()
    endpoints: tuple[tuple[tuple[str, int], tuple[Endpoint, ...]], ...] = field(default=())

    def endpoints_of(self, hostname: str, port: int) -> tuple[Endpoint, ...]:
        """Endpoints of one service port (``()`` when none); O(1) after the first call."""
        return self._endpoint_index.get((hostname, port), ())

    @cached_property
    def _endpoint_index(self) -> dict[tuple[str, int], tuple[Endpoint, ...]]:
        # The translator asks once per service port; a linear scan would make translation O(n^2).
        # (cached_property writes the instance __dict__ directly, so it works on a frozen dataclass
        # and, not being a field, takes no part in equality or hashing.)
        return dict(self.endpoints)

    def services_selecting(self, namespace: str, labels: Mapping[str, str]) -> list[Service]:
        """The services of ``namespace`` whose selector picks ``labels``, in registry order; O(labels)."""
        index = self._selector_index.get(namespace, {})
        found = [*index.get(None, ()), *(s for item in labels.items() for s in index.get(item, ()))]
        order = self._service_order
        return sorted({id(s): s for s in found if s.selects(labels)}.values(), key=lambda s: order[id(s)])

    @cached_property
    def _selector_index(self) -> dict[str, dict[tuple[str, str] | None, list[Service]]]:
        # Every proxy asks which of its namespace's services select it (inbound policies): a scan of
        # every service per proxy would make a push O(proxies x services). A service with a selector is
        # a candidate only for labels holding its selector's first label; others are always candidates.
        index: dict[str, dict[tuple[str, str] | None, list[Service]]] = {}
        for svc in self.services:
            first = min(svc.selector) if svc.selector else None
            index.setdefault(svc.namespace, {}).setdefault(first, []).append(svc)
        return index

    @cached_property
    def _service_order(self) -> dict[int, int]:
        return {id(s): i for i, s in enumerate(self.services)}
