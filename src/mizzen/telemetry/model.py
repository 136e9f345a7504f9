"""Telemetry vocabulary: who a peer is, Istio's label set, and the registry lookups labels need.

Every label value Istio cannot determine is the string ``"unknown"``, as in Istio.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from mizzen.node import Proxy
from mizzen.registry.model import RegistrySnapshot

UNKNOWN = "unknown"
PeerKind = Literal["gateway", "workload", "unknown"]

# Istio's standard label names, in the order they are printed.
LABEL_NAMES = (
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "request_protocol",
    "response_code",
    "response_flags",
    "connection_security_policy",
)
# TCP metrics carry no response code.
TCP_LABEL_NAMES = tuple(n for n in LABEL_NAMES if n != "response_code")


@dataclass(frozen=True)
class Peer:
    """One end of a request as metrics see it: a workload (or gateway) and its identity."""

    workload: str = UNKNOWN
    namespace: str = UNKNOWN
    app: str = UNKNOWN
    version: str = UNKNOWN
    principal: str = UNKNOWN
    kind: PeerKind = "unknown"

    @property
    def node_key(self) -> str:
        """Stable graph node id: ``gateway:<name>.<ns>``, ``workload:<name>.<ns>`` or ``unknown``."""
        if self.kind == "unknown":
            return UNKNOWN
        return f"{self.kind}:{self.workload}.{self.namespace}"

    @classmethod
    def of_proxy(cls, proxy: Proxy) -> Peer:
        """The peer a connected proxy stands for (its workload, labels and kind)."""
        labels = proxy.labels
        return cls(
            workload=proxy.name or UNKNOWN,
            namespace=proxy.namespace or UNKNOWN,
            app=labels.get("app") or labels.get("istio") or UNKNOWN,
            version=labels.get("version") or UNKNOWN,
            kind="gateway" if proxy.type == "router" else "workload",
        )


@dataclass(frozen=True)
class ServiceRef:
    """The destination service of a request."""

    hostname: str = UNKNOWN
    name: str = UNKNOWN
    namespace: str = UNKNOWN

    @property
    def node_key(self) -> str:
        """The service's node id in the graph (``service:<hostname>``)."""
        return f"service:{self.hostname}"


@dataclass(frozen=True)
class EndpointInfo:
    """Who listens at one endpoint address:port, and which services it serves there."""

    peer: Peer
    services: tuple[str, ...] = ()


@dataclass
class EndpointIndex:
    """Registry lookups by endpoint address and by service hostname, built from a RegistrySnapshot."""

    endpoints: dict[tuple[str, int], EndpointInfo] = field(default_factory=dict)
    services: dict[str, ServiceRef] = field(default_factory=dict)

    @classmethod
    def from_snapshot(cls, snapshot: RegistrySnapshot) -> EndpointIndex:
        """Index every endpoint of every service port; an address shared by services lists them all."""
        index = cls()
        for svc in snapshot.services:
            index.services[svc.hostname] = ServiceRef(svc.hostname, svc.name, svc.namespace)
        for (hostname, _port), eps in snapshot.endpoints:
            for ep in eps:
                labels = ep.label_map
                key = (ep.address, ep.port)
                previous = index.endpoints.get(key)
                services = (*previous.services, hostname) if previous else (hostname,)
                peer = Peer(
                    workload=ep.workload or UNKNOWN,
                    namespace=ep.namespace or UNKNOWN,
                    app=labels.get("app", UNKNOWN),
                    version=labels.get("version", UNKNOWN),
                    principal=_spiffe(ep.namespace, ep.service_account) if ep.service_account else UNKNOWN,
                    kind="workload" if ep.workload else "unknown",
                )
                index.endpoints[key] = EndpointInfo(peer, tuple(sorted(set(services))))
        return index

    def endpoint(self, address: str, port: int) -> EndpointInfo | None:
        """The workload serving ``address:port``, if the registry knows it."""
        return self.endpoints.get((address, port))

    def service(self, hostname: str) -> ServiceRef:
        """The service for a hostname; outside the registry, Kubernetes naming is used when it applies."""
        known = self.services.get(hostname)
        if known is not None:
            return known
        parts = hostname.split(".")
        if len(parts) >= 3 and parts[2] == "svc":
            return ServiceRef(hostname, parts[0], parts[1])
        return ServiceRef(hostname, hostname, UNKNOWN)


RegistrySource = Callable[[], RegistrySnapshot]
NodeMetadata = Mapping[str, object]


def _spiffe(namespace: str, service_account: str, trust_domain: str = "cluster.local") -> str:
    return f"spiffe://{trust_domain}/ns/{namespace}/sa/{service_account}"
