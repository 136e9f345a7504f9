"""Pure conversions: Kubernetes ``Service`` / ``ServiceEntry`` / ``WorkloadEntry`` resources to registry
services and workloads, ``Endpoints`` / ``EndpointSlice`` to the workloads of a selector-less Service, and
(service, workloads) to endpoints, following Istio's rules.

Endpoint port for a workload behind a service port (Istio's rule for WorkloadEntry and ServiceEntry
``endpoints``): the workload's ``ports[<service port name>]`` if present, else the service port's
``targetPort``, else the service port number. A Kubernetes Service whose ``targetPort`` is a *name*
resolves it through the workload's ``ports`` map (as a pod's named container port), and skips
workloads that do not declare that name. An address of an Endpoints subset or an EndpointSlice serves a
Service port only through the endpoint port of the same name (``""`` for an unnamed port), as
Kubernetes matches them; the Service's ``targetPort`` plays no part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import cast

from mizzen.config.models import Endpoints, EndpointSlice, ServiceEntry, Typed, WorkloadEntry, is_of
from mizzen.config.models import Service as KubeService
from mizzen.config.models.core import SERVICE_NAME_LABEL, EndpointPort
from mizzen.config.models.core import ServicePort as KubeServicePort
from mizzen.config.semantics.hosts import kube_host
from mizzen.config.semantics.ports import endpoint_port
from mizzen.config.semantics.visibility import service_export_to
from mizzen.node import locality_from_labels
from mizzen.registry.annotations import HEALTH_ANNOTATION, PORTS_ANNOTATION, REGISTERED_BY_ANNOTATION
from mizzen.registry.model import Endpoint, Location, Resolution, Service, ServicePort
from mizzen.registry.protocols import parse_protocol, service_port_protocol

TLS_MODE_LABEL = "security.istio.io/tlsMode"

_RESOLUTIONS = {"STATIC", "DNS", "DNS_ROUND_ROBIN", "NONE"}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, order=True)
class Workload:
    """A workload instance: a WorkloadEntry, or one inline ``endpoints`` item of a ServiceEntry."""

    address: str
    namespace: str
    name: str = ""  # WorkloadEntry name ("" for ServiceEntry inline endpoints)
    ports: tuple[tuple[str, int], ...] = ()  # port name -> workload port
    numbered: tuple[tuple[int, int], ...] = ()  # container port number -> workload port (agent-registered)
    labels: Labels = ()
    service_account: str = ""
    weight: int = 1
    locality: str = ""
    tls_mode: str = ""
    healthy: bool = True
    by_port_name: bool = False  # an Endpoints/EndpointSlice address: serves only the ports it names


@dataclass(frozen=True)
class EndpointSet:
    """The addresses an Endpoints or EndpointSlice object gives the Service ``namespace/service``."""

    namespace: str
    service: str
    workloads: tuple[Workload, ...] = ()


@dataclass(frozen=True)
class ServiceDef:
    """One registry service plus the workloads that belong to it by definition (not by selector)."""

    service: Service
    inline: tuple[Workload, ...] = ()


def service_defs(config: Typed[object]) -> tuple[ServiceDef, ...]:
    """The services a resource defines: one for a Service, one per host for a ServiceEntry."""
    if is_of(config, KubeService):
        return (_kube_service(config),)
    if is_of(config, ServiceEntry):
        return _service_entry(config)
    return ()


def workload_of(config: Typed[object]) -> Workload | None:
    """A WorkloadEntry as a selectable workload (``None`` when it has no address to send traffic to)."""
    if not is_of(config, WorkloadEntry):
        return None
    registered_by = config.metadata.annotations.get(REGISTERED_BY_ANNOTATION, "")
    # A workload started by `mizzen run` has a Mizzen sidecar; Istio reads the same fact from the label.
    default_tls = "istio" if registered_by == "agent" else ""
    found = _workload(config.spec, config.namespace, config.name, default_tls)
    numbered = _numbered(config.metadata.annotations.get(PORTS_ANNOTATION, ""))
    if found is not None and numbered:
        found = replace(found, numbered=numbered)
    if found is not None and config.metadata.annotations.get(HEALTH_ANNOTATION) == "false":
        found = replace(found, healthy=False)
    return found


def _numbered(value: str) -> tuple[tuple[int, int], ...]:
    """``"9080=20001,443=20002"`` -> ``((443, 20002), (9080, 20001))``; malformed items are ignored."""
    out: list[tuple[int, int]] = []
    for item in filter(None, value.split(",")):
        left, _, right = item.partition("=")
        if left.isdigit() and right.isdigit():
            out.append((int(left), int(right)))
    return tuple(sorted(out))


def selects(service: Service, workload: Workload) -> bool:
    """Whether ``service`` selects ``workload`` (its kind's selector rule, in its own namespace)."""
    return workload.namespace == service.namespace and service.selects(dict(workload.labels))


def endpoint_set_of(config: Typed[object]) -> EndpointSet | None:
    """The addresses of an Endpoints or EndpointSlice (``None`` for other kinds, or a slice of no Service)."""
    ns = config.namespace
    if is_of(config, Endpoints):
        found = [
            _address(a.ip, ns, subset.ports, ready)
            for subset in config.spec.subsets
            for addresses, ready in ((subset.addresses, True), (subset.not_ready_addresses, False))
            for a in addresses
        ]
        return EndpointSet(ns, config.name, tuple(sorted(set(found))))
    if is_of(config, EndpointSlice):
        service = config.metadata.labels.get(SERVICE_NAME_LABEL, "")
        if not service or config.spec.address_type not in ("IPv4", "IPv6"):
            return None  # Istio ignores FQDN slices
        spec = config.spec
        found = [
            _address(ip, ns, spec.ports, ep.conditions is None or ep.conditions.ready is not False)
            for ep in spec.endpoints
            for ip in ep.addresses
        ]
        return EndpointSet(ns, service, tuple(sorted(set(found))))
    return None


def _address(ip: str, namespace: str, ports: Iterable[EndpointPort], ready: bool) -> Workload:
    named = tuple(sorted((p.name or "", p.port) for p in ports if p.port))
    return Workload(address=ip, namespace=namespace, ports=named, healthy=ready, by_port_name=True)


def takes_endpoint_sets(service: Service) -> bool:
    """Whether Endpoints/EndpointSlices give ``service`` its endpoints: a Kubernetes Service without a
    selector (Kubernetes' endpoints controller owns those of a Service with one) that is not ExternalName."""
    return service.source_kind == "Service" and service.selector is None and service.resolution != "DNS"


def endpoints_for(
    sdef: ServiceDef, workloads: Iterable[Workload], listed: Iterable[Workload] = ()
) -> dict[int, tuple[Endpoint, ...]]:
    """Endpoints of each port of a service: its inline workloads, the selected ``workloads``, and the
    ``listed`` addresses of its Endpoints/EndpointSlices."""
    svc = sdef.service
    members = list(sdef.inline) + [w for w in workloads if selects(svc, w)]
    if takes_endpoint_sets(svc):
        members += listed
    if not members and _resolves_own_host(sdef):
        # Istio: a DNS ServiceEntry without endpoints resolves its own host name.
        members = [Workload(address=svc.hostname, namespace=svc.namespace)]
    out: dict[int, tuple[Endpoint, ...]] = {}
    for port in svc.ports:
        eps = {ep for w in members if (ep := _endpoint(w, port)) is not None}
        out[port.number] = tuple(sorted(eps))
    return out


def _endpoint(w: Workload, port: ServicePort) -> Endpoint | None:
    named = dict(w.ports)
    if w.by_port_name:
        number: int | None = named.get(port.name)
    else:
        number = endpoint_port(named, port.name, port.number, port.target_port, port.target_port_name)
    if number is None:
        return None
    if w.numbered and not (port.name and port.name in named) and not port.target_port_name:
        # Kubernetes: the targetPort number is the container's port; a Mizzen workload's sidecar serves it.
        number = dict(w.numbered).get(port.target_port or port.number, number)
    return Endpoint(
        address=w.address,
        port=number,
        service_port=port.number,
        labels=w.labels,
        workload=w.name,
        namespace=w.namespace,
        service_account=w.service_account,
        weight=w.weight,
        locality=w.locality,
        tls_mode=w.tls_mode,
        healthy=w.healthy,
    )


def _resolves_own_host(sdef: ServiceDef) -> bool:
    svc = sdef.service
    return (
        svc.source_kind == "ServiceEntry"
        and svc.resolution in ("DNS", "DNS_ROUND_ROBIN")
        and svc.selector is None
        and "*" not in svc.hostname
    )


def _kube_service(config: Typed[KubeService]) -> ServiceDef:
    spec = config.spec
    ports = tuple(sorted(_kube_port(p) for p in spec.ports))
    selector = _labels(spec.selector) or None
    cluster_ips = [ip for ip in spec.cluster_ips or (spec.cluster_ip,) if ip and ip != "None"]
    headless = spec.cluster_ip == "None"
    external = spec.external_name if spec.type == "ExternalName" and spec.external_name else ""
    resolution: Resolution = "DNS" if external else "NONE" if headless else "STATIC"
    service = Service(
        hostname=kube_host(config.name, config.namespace),
        namespace=config.namespace,
        name=config.name,
        ports=ports,
        source_kind="Service",
        resolution=resolution,
        location="MESH_INTERNAL",
        addresses=tuple(sorted(set(cluster_ips))),
        export_to=service_export_to(config.metadata.annotations) or ("*",),
        labels=_labels(config.metadata.labels),
        selector=None if external else selector,
    )
    inline = (Workload(address=external, namespace=config.namespace),) if external else ()
    return ServiceDef(service, inline)


def _kube_port(port: KubeServicePort) -> ServicePort:
    name = port.name or ""
    target = port.target_port
    target_num = int(target) if isinstance(target, int) or (isinstance(target, str) and target.isdigit()) else None
    target_name = str(target) if target is not None and target_num is None else ""
    protocol = service_port_protocol(name, port.app_protocol or "", port.protocol or "TCP")
    return ServicePort(
        number=port.port,
        name=name,
        protocol=protocol,
        target_port=target_num or (None if target_name else port.port),
        target_port_name=target_name,
    )


def _service_entry(config: Typed[ServiceEntry]) -> tuple[ServiceDef, ...]:
    spec = config.spec
    ports = tuple(
        sorted(
            ServicePort(
                number=p.number,
                name=p.name,
                protocol=parse_protocol(p.protocol or ""),
                target_port=p.target_port or None,
            )
            for p in spec.ports
        )
    )
    resolution = spec.resolution or "NONE"
    location: Location = "MESH_INTERNAL" if spec.location == "MESH_INTERNAL" else "MESH_EXTERNAL"
    ws = spec.workload_selector
    inline = tuple(sorted(w for ep in spec.endpoints if (w := _workload(ep, config.namespace, "", "")) is not None))
    template = Service(
        hostname="",
        namespace=config.namespace,
        name=config.name,
        ports=ports,
        source_kind="ServiceEntry",
        location=location,
        resolution=cast(Resolution, resolution) if resolution in _RESOLUTIONS else "NONE",
        addresses=tuple(sorted(set(spec.addresses))),
        export_to=spec.export_to or ("*",),
        labels=_labels(config.metadata.labels),
        selector=_labels(ws.labels) if ws is not None else None,
    )
    return tuple(ServiceDef(replace(template, hostname=h), inline) for h in sorted(set(spec.hosts)))


def _workload(spec: WorkloadEntry, namespace: str, name: str, default_tls: str) -> Workload | None:
    if not spec.address:
        return None
    labels = _labels(spec.labels)
    return Workload(
        address=spec.address,
        namespace=namespace,
        name=name,
        ports=tuple(sorted(spec.ports.items())),
        labels=labels,
        service_account=spec.service_account or "",
        weight=spec.weight or 1,
        # Istio: the entry's `locality`, else the istio-locality or topology labels.
        locality=spec.locality or locality_from_labels(dict(labels)),
        tls_mode=dict(labels).get(TLS_MODE_LABEL, default_tls),
    )


def _labels(value: Mapping[str, str]) -> Labels:
    return tuple(sorted(value.items()))
