"""Pure conversions: Kubernetes ``Service`` / ``ServiceEntry`` / ``WorkloadEntry`` resources to registry
services and workloads, and (service, workloads) to endpoints, following Istio's rules.

Endpoint port for a workload behind a service port (Istio's rule for WorkloadEntry and ServiceEntry
``endpoints``): the workload's ``ports[<service port name>]`` if present, else the service port's
``targetPort``, else the service port number. A Kubernetes Service whose ``targetPort`` is a *name*
resolves it through the workload's ``ports`` map (as a pod's named container port), and skips
workloads that do not declare that name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import cast

from mizzen.config.resource import Resource
from mizzen.registry.model import Endpoint, Location, Resolution, Service, ServicePort
from mizzen.registry.protocols import parse_protocol, service_port_protocol

CLUSTER_DOMAIN = "svc.cluster.local"
TLS_MODE_LABEL = "security.istio.io/tlsMode"
EXPORT_TO_ANNOTATION = "networking.istio.io/exportTo"
REGISTERED_BY_ANNOTATION = "mizzen.io/registered-by"

_RESOLUTIONS = {"STATIC", "DNS", "DNS_ROUND_ROBIN", "NONE"}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, order=True)
class Workload:
    """A workload instance: a WorkloadEntry, or one inline ``endpoints`` item of a ServiceEntry."""

    address: str
    namespace: str
    name: str = ""  # WorkloadEntry name ("" for ServiceEntry inline endpoints)
    ports: tuple[tuple[str, int], ...] = ()  # port name -> workload port
    labels: Labels = ()
    service_account: str = ""
    weight: int = 1
    locality: str = ""
    tls_mode: str = ""

    def port_for(self, name: str) -> int | None:
        return next((p for n, p in self.ports if n == name), None)


@dataclass(frozen=True)
class ServiceDef:
    """One registry service plus the workloads that belong to it by definition (not by selector)."""

    service: Service
    inline: tuple[Workload, ...] = ()


def fqdn(name: str, namespace: str) -> str:
    """Kubernetes service hostname: ``reviews`` in ``default`` is ``reviews.default.svc.cluster.local``."""
    return f"{name}.{namespace}.{CLUSTER_DOMAIN}"


def service_defs(resource: Resource) -> tuple[ServiceDef, ...]:
    """The services a resource defines: one for a Service, one per host for a ServiceEntry."""
    if resource.kind == "Service":
        return (_kube_service(resource),)
    if resource.kind == "ServiceEntry":
        return _service_entry(resource)
    return ()


def workload_of(resource: Resource) -> Workload | None:
    """A WorkloadEntry as a selectable workload (``None`` when it has no address to send traffic to)."""
    if resource.kind != "WorkloadEntry":
        return None
    registered_by = resource.metadata.annotations.get(REGISTERED_BY_ANNOTATION, "")
    # A workload started by `mizzen run` has a Mizzen sidecar; Istio reads the same fact from the label.
    default_tls = "istio" if registered_by == "agent" else ""
    return _workload(resource.spec, resource.namespace, resource.name, default_tls)


def selects(selector: Labels | None, labels: Labels) -> bool:
    """Label-selector match: every selector pair is present in ``labels`` (``None`` selects nothing)."""
    if selector is None:
        return False
    have = dict(labels)
    return all(have.get(k) == v for k, v in selector)


def endpoints_for(sdef: ServiceDef, workloads: Iterable[Workload]) -> dict[int, tuple[Endpoint, ...]]:
    """Endpoints of each port of a service: its inline workloads plus the selected ``workloads``."""
    svc = sdef.service
    members = list(sdef.inline) + [
        w for w in workloads if w.namespace == svc.namespace and selects(svc.selector, w.labels)
    ]
    if not members and _resolves_own_host(sdef):
        # Istio: a DNS ServiceEntry without endpoints resolves its own host name.
        members = [Workload(address=svc.hostname, namespace=svc.namespace)]
    out: dict[int, tuple[Endpoint, ...]] = {}
    for port in svc.ports:
        eps = {ep for w in members if (ep := _endpoint(w, port)) is not None}
        out[port.number] = tuple(sorted(eps))
    return out


def _endpoint(w: Workload, port: ServicePort) -> Endpoint | None:
    number = w.port_for(port.name) if port.name else None
    if number is None and port.target_port_name:
        number = w.port_for(port.target_port_name)
        if number is None:
            return None
    if number is None:
        number = port.target_port or port.number
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
    )


def _resolves_own_host(sdef: ServiceDef) -> bool:
    svc = sdef.service
    return (
        svc.source_kind == "ServiceEntry"
        and svc.resolution in ("DNS", "DNS_ROUND_ROBIN")
        and svc.selector is None
        and "*" not in svc.hostname
    )


def _kube_service(resource: Resource) -> ServiceDef:
    spec = resource.spec
    ports = tuple(sorted(_kube_port(p) for p in _list(spec.get("ports"))))
    selector = _labels(spec.get("selector")) or None
    raw_ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    cluster_ips = [str(ip) for ip in raw_ips if ip and str(ip) != "None"]
    headless = str(spec.get("clusterIP", "")) == "None"
    external = str(spec.get("type", "")) == "ExternalName" and spec.get("externalName")
    resolution: Resolution = "DNS" if external else "NONE" if headless else "STATIC"
    export = resource.metadata.annotations.get(EXPORT_TO_ANNOTATION, "")
    service = Service(
        hostname=fqdn(resource.name, resource.namespace),
        namespace=resource.namespace,
        name=resource.name,
        ports=ports,
        source_kind="Service",
        resolution=resolution,
        location="MESH_INTERNAL",
        addresses=tuple(sorted(set(cluster_ips))),
        export_to=tuple(x.strip() for x in export.split(",") if x.strip()) or ("*",),
        labels=_labels(resource.metadata.labels),
        selector=None if external else selector,
    )
    inline = (Workload(address=str(external), namespace=resource.namespace),) if external else ()
    return ServiceDef(service, inline)


def _kube_port(port: Mapping[str, object]) -> ServicePort:
    name = str(port.get("name") or "")
    number = _int(port.get("port"))
    target = port.get("targetPort")
    target_num = _int(target) if isinstance(target, int) or str(target).isdigit() else None
    target_name = str(target) if target is not None and target_num is None else ""
    protocol = service_port_protocol(name, str(port.get("appProtocol") or ""), str(port.get("protocol") or "TCP"))
    return ServicePort(
        number=number,
        name=name,
        protocol=protocol,
        target_port=target_num or (None if target_name else number),
        target_port_name=target_name,
    )


def _service_entry(resource: Resource) -> tuple[ServiceDef, ...]:
    spec = resource.spec
    ports = tuple(
        sorted(
            ServicePort(
                number=_int(p.get("number")),
                name=str(p.get("name") or ""),
                protocol=parse_protocol(str(p.get("protocol") or "")),
                target_port=_int(p.get("targetPort")) or None,
            )
            for p in _list(spec.get("ports"))
        )
    )
    resolution = str(spec.get("resolution") or "NONE").upper()
    location: Location = "MESH_INTERNAL" if str(spec.get("location")) == "MESH_INTERNAL" else "MESH_EXTERNAL"
    ws = spec.get("workloadSelector")
    inline = tuple(
        sorted(w for ep in _list(spec.get("endpoints")) if (w := _workload(ep, resource.namespace, "", "")) is not None)
    )
    template = Service(
        hostname="",
        namespace=resource.namespace,
        name=resource.name,
        ports=ports,
        source_kind="ServiceEntry",
        location=location,
        resolution=cast(Resolution, resolution) if resolution in _RESOLUTIONS else "NONE",
        addresses=tuple(sorted({str(a) for a in spec.get("addresses") or ()})),
        export_to=tuple(str(x) for x in spec.get("exportTo") or ()) or ("*",),
        labels=_labels(resource.metadata.labels),
        selector=_labels(ws.get("labels")) if isinstance(ws, Mapping) else None,
    )
    hosts = sorted({str(h) for h in spec.get("hosts") or ()})
    return tuple(ServiceDef(replace(template, hostname=h), inline) for h in hosts)


def _workload(spec: Mapping[str, object], namespace: str, name: str, default_tls: str) -> Workload | None:
    address = str(spec.get("address") or "")
    if not address:
        return None
    labels = _labels(spec.get("labels"))
    raw_ports = spec.get("ports")
    ports = tuple(sorted((str(k), _int(v)) for k, v in raw_ports.items())) if isinstance(raw_ports, Mapping) else ()
    return Workload(
        address=address,
        namespace=namespace,
        name=name,
        ports=ports,
        labels=labels,
        service_account=str(spec.get("serviceAccount") or ""),
        weight=_int(spec.get("weight")) or 1,
        locality=str(spec.get("locality") or ""),
        tls_mode=dict(labels).get(TLS_MODE_LABEL, default_tls),
    )


def _labels(value: object) -> Labels:
    if not isinstance(value, Mapping):
        return ()
    return tuple(sorted((str(k), str(v)) for k, v in value.items()))


def _list(value: object) -> list[Mapping[str, object]]:
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _int(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0
