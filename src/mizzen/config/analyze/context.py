"""What every analyzer reads: the resources by kind, the mesh's services, the workloads and namespaces.

Hosts follow Istio's analyzer rules: a Kubernetes Service ``reviews`` in ``default`` is the host
``reviews.default.svc.cluster.local``; short names are resolved relative to the namespace of the
resource that mentions them; visibility (``exportTo``, or the ``networking.istio.io/exportTo``
annotation on a Service) is kept as a *scope* in front of the host (``*/host``, ``ns/host``).

Workloads are Istio's Pods: Pods and Deployments' pod templates from the files, WorkloadEntries, and
(live) the connected proxies; with files only, the default ingress gateway Pod istioctl assumes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mizzen.config.resource import Resource
from mizzen.config.semantics.hosts import fqdn
from mizzen.config.semantics.visibility import EXPORT_ALL, EXPORT_LOCAL, export_scopes, service_export_to

from .kube import KubeObject, Pod
from .meshconfig import MeshConfig
from .messages import Message, MessageType

MESH_GATEWAY = "mesh"
SUPPRESS_ANNOTATION = "galley.istio.io/analyze-suppress"


def selector_string(labels: Mapping[str, str]) -> str:
    """A label selector as Kubernetes prints it: ``app=reviews,version=v1`` (keys sorted)."""
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


@dataclass(frozen=True)
class MeshPort:
    """A port of a mesh service."""

    number: int
    name: str = ""
    protocol: str = ""
    target_port: str = ""


@dataclass(frozen=True)
class MeshService:
    """A Kubernetes Service or a ServiceEntry, seen as hosts + ports (+ the entry's workload selector)."""

    resource: Resource
    hosts: tuple[str, ...]
    ports: tuple[MeshPort, ...]
    selector: Mapping[str, str]


def spec_list(value: Any) -> list[Any]:
    """A spec field that should be a list, or ``[]`` when absent or malformed (validation reports those)."""
    return list(value) if isinstance(value, list | tuple) else []


def spec_map(value: Any) -> Mapping[str, Any]:
    """A spec field that should be an object, or ``{}``."""
    return value if isinstance(value, Mapping) else {}


def labels_of(value: Any) -> dict[str, str]:
    """A label map from a spec field (non-string values as Kubernetes would print them)."""
    return {str(k): str(v) for k, v in spec_map(value).items()}


@dataclass
class Context:
    """The inputs of one analysis run and the messages (and notes about Mizzen's differences) so far."""

    resources: Sequence[Resource]
    pods: list[Pod]
    objects: list[KubeObject] = field(default_factory=list)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    live: bool = False
    secrets_known: bool = True
    messages: list[Message] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    services: dict[str, MeshService] = field(default_factory=dict)
    _by_kind: dict[str, list[Resource]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.resources:
            self._by_kind.setdefault(r.kind, []).append(r)
        self._index_services()

    def of(self, kind: str) -> list[Resource]:
        """All resources of a kind, in input order."""
        return self._by_kind.get(kind, [])

    def kube(self, kind: str) -> list[KubeObject]:
        """The Kubernetes objects of a kind (``Namespace``, ``Node``, ``Deployment``, ``k8s.Gateway``...)."""
        return [o for o in self.objects if o.kind == kind]

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        """Whether a resource of ``kind`` named ``namespace/name`` is among the inputs."""
        return any(r.namespace == namespace and r.name == name for r in self.of(kind))

    def find(self, kind: str, namespace: str, name: str) -> Resource | None:
        """The resource of ``kind`` named ``namespace/name``, or ``None`` when the inputs lack it."""
        return next((r for r in self.of(kind) if r.namespace == namespace and r.name == name), None)

    def namespace_names(self) -> set[str]:
        """Namespaces that exist: Namespace objects, and, live, every namespace something runs in."""
        names = {o.name for o in self.kube("Namespace")}
        if self.live:
            names |= {r.namespace for r in self.resources} | {p.namespace for p in self.pods}
        return names

    def note(self, text: str) -> None:
        """Say, once, that Mizzen deliberately differs from istioctl here (see docs/istio-differences.md)."""
        if text not in self.notes:
            self.notes.append(text)

    def report(self, mtype: MessageType, resource: Resource, *args: object, path: str = "") -> None:
        """Record a message about ``resource``, located at the line of ``path`` when the loader knows it."""
        line = resource.origin.line_of(path) if path else resource.origin.line_of("")
        self.report_at(mtype, resource, line, *args)

    def report_at(self, mtype: MessageType, resource: Resource, line: int | None, *args: object) -> None:
        """Record a message at a line already known (e.g. from a validation violation)."""
        self.messages.append(
            Message(
                mtype, resource.kind, resource.namespace, resource.name, mtype.render(*args), resource.origin.file, line
            )
        )

    def report_object(self, mtype: MessageType, obj: KubeObject, *args: object) -> None:
        """Record a message about a Kubernetes object Mizzen does not run (a Pod, a Deployment...)."""
        kind = obj.kind.removeprefix("k8s.")  # Gateway API kinds are kept apart internally only
        self.messages.append(Message(mtype, kind, obj.namespace, obj.name, mtype.render(*args), obj.file, obj.line))

    def _index_services(self) -> None:
        for se in self.of("ServiceEntry"):
            ports = tuple(_mesh_port(p) for p in spec_list(se.spec.get("ports")) if isinstance(p, Mapping))
            selector = labels_of(spec_map(se.spec.get("workloadSelector")).get("labels"))
            hosts = tuple(str(h) for h in spec_list(se.spec.get("hosts")))
            svc = MeshService(se, hosts, ports, selector)
            scopes = export_scopes([str(e) for e in spec_list(se.spec.get("exportTo"))], se.namespace)
            for h in hosts:
                for scope in scopes:
                    self.services[f"{scope}/{fqdn(h, se.namespace)}"] = svc
        for s in self.of("Service"):
            ports = tuple(_service_port(p) for p in spec_list(s.spec.get("ports")) if isinstance(p, Mapping))
            host = fqdn(s.name, s.namespace)
            svc = MeshService(s, (host,), ports, {})  # a Service's selector picks pods, not subset labels
            for scope in export_scopes(service_export_to(s.metadata.annotations), s.namespace):
                self.services[f"{scope}/{host}"] = svc

    def find_service(self, source_ns: str, export_to: Iterable[str], host: str) -> MeshService | None:
        """The service a host names, as seen from ``source_ns`` (Istio's ``GetDestinationHost``)."""
        full = fqdn(host, source_ns)
        hit = self.services.get(f"{EXPORT_ALL}/{full}")
        if hit:
            return hit
        scopes = [source_ns if e == EXPORT_LOCAL else e for e in export_to] or [source_ns]
        for scope in scopes:
            hit = self.services.get(f"{scope}/{full}")
            if hit:
                return hit
        bare = host.removeprefix("*")
        for key, svc in self.services.items():
            scope, _, se_host = key.partition("/")
            if se_host.startswith("*") and scope in (EXPORT_ALL, source_ns) and bare.endswith(se_host[1:]):
                return svc
        return None


def _mesh_port(p: Mapping[str, Any]) -> MeshPort:
    return MeshPort(
        _int(p.get("number")), str(p.get("name", "")), str(p.get("protocol", "")), str(p.get("targetPort", ""))
    )


def _service_port(p: Mapping[str, Any]) -> MeshPort:
    target = p.get("targetPort")
    return MeshPort(
        _int(p.get("port")), str(p.get("name", "")), str(p.get("protocol", "")), "" if target is None else str(target)
    )


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
