"""Kubernetes objects the analyzers read but Mizzen does not run: Pods, Deployments, Namespaces, Nodes and
Gateway API Gateways, taken from documents the loader skipped (or, live, from the connected proxies).

When only files are analyzed, istioctl assumes Istio's default ingress gateway exists (a Service and a
Pod labelled ``istio: ingressgateway`` in ``istio-system``); :func:`default_ingress` builds the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mizzen.config.loader import Skipped
from mizzen.config.resource import Metadata, Origin, Resource

# Kubernetes' own namespaces: istioctl leaves everything in them out of the analysis.
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
PROXY_CONTAINER = "istio-proxy"
INJECT = "sidecar.istio.io/inject"
AMBIENT_REDIRECTION = "ambient.istio.io/redirection"
GATEWAY_API = "gateway.networking.k8s.io/"
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "Node",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "CustomResourceDefinition",
    }
)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _strings(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _map(value).items()}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


@dataclass(frozen=True)
class KubeObject:
    """One Kubernetes object as the analyzers see it (``spec`` kept as written)."""

    kind: str
    name: str
    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int | None = None
    document: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def ref(self) -> str:
        """``namespace/name`` (just ``name`` for cluster-scoped objects), as messages name the object."""
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class Pod:
    """A workload instance: a Pod, a Deployment's pod template, a WorkloadEntry or a connected proxy."""

    name: str
    namespace: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[Mapping[str, Any], ...] = ()
    node_name: str = ""

    @property
    def has_proxy(self) -> bool:
        """A sidecar container with an image (how istioctl tells an injected pod)."""
        return any(c.get("name") == PROXY_CONTAINER and c.get("image") for c in self.containers)

    @property
    def ambient(self) -> bool:
        """Whether the pod runs in ambient mode (``ambient.istio.io/redirection: enabled``): meshed, no sidecar."""
        return self.annotations.get(AMBIENT_REDIRECTION) == "enabled"


def objects(skipped: Iterable[Skipped], default_namespace: str = "default") -> list[KubeObject]:
    """The skipped documents that are Kubernetes objects with a name, outside Kubernetes' own namespaces."""
    out: list[KubeObject] = []
    for s in skipped:
        doc = _map(s.document)
        meta = _map(doc.get("metadata"))
        name = str(meta.get("name") or "")
        if not name:
            continue
        kind = str(doc.get("kind") or s.kind)
        if kind in ("Gateway", "HTTPRoute", "GRPCRoute") and str(doc.get("apiVersion", "")).startswith(GATEWAY_API):
            kind = f"k8s.{kind}"
        ns = "" if kind in CLUSTER_SCOPED else str(meta.get("namespace") or default_namespace)
        labels, annotations = _strings(meta.get("labels")), _strings(meta.get("annotations"))
        obj = KubeObject(kind, name, ns, labels, annotations, _map(doc.get("spec")), s.file, s.line, doc)
        if (name if kind == "Namespace" else ns) not in IGNORED_NAMESPACES:
            out.append(obj)
    return out


# Gateway API kinds (and Telemetry) Mizzen runs are loaded as resources; the analyzers read them as
# Kubernetes objects, as they did when Mizzen skipped them.
_AS_KUBE = {
    "KubernetesGateway": "k8s.Gateway",
    "HTTPRoute": "k8s.HTTPRoute",
    "GRPCRoute": "k8s.GRPCRoute",
    "Telemetry": "Telemetry",
}


def gateway_api_objects(resources: Iterable[Resource]) -> list[KubeObject]:
    """The Gateway API Gateways and HTTP/GRPC routes among ``resources``, as ``k8s.Gateway`` ... objects,
    and the Telemetries."""
    return [
        KubeObject(
            _AS_KUBE[r.kind],
            r.name,
            r.namespace,
            dict(r.metadata.labels),
            dict(r.metadata.annotations),
            r.spec,
            r.origin.file,
            r.origin.line_of(""),
            {**r.to_json(), "status": dict(r.status)},
        )
        for r in resources
        if r.kind in _AS_KUBE
    ]


def pods_of(objs: Iterable[KubeObject]) -> list[Pod]:
    """Pods, and one pod per Deployment from its template (labels, annotations, containers)."""
    out: list[Pod] = []
    for o in objs:
        if o.kind == "Pod":
            out.append(
                Pod(o.name, o.namespace, o.labels, o.annotations, containers(o.spec), str(o.spec.get("nodeName") or ""))
            )
        elif o.kind == "Deployment":
            template = _map(o.spec.get("template"))
            meta = _map(template.get("metadata"))
            out.append(
                Pod(
                    o.name,
                    o.namespace,
                    _strings(meta.get("labels")),
                    _strings(meta.get("annotations")),
                    containers(_map(template.get("spec"))),
                )
            )
    return out


def selector_matches(selector: Any, labels: Mapping[str, str]) -> bool:
    """A Kubernetes ``LabelSelector`` (``matchLabels`` and ``matchExpressions``) against labels;
    an absent selector matches everything, as in a webhook's namespace and object selectors."""
    if not isinstance(selector, Mapping):
        return True
    if any(labels.get(str(k)) != str(v) for k, v in _map(selector.get("matchLabels")).items()):
        return False
    return all(_expression(_map(e), labels) for e in _list(selector.get("matchExpressions")))


def _expression(expr: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, op, values = (
        str(expr.get("key") or ""),
        str(expr.get("operator") or ""),
        [str(v) for v in _list(expr.get("values"))],
    )
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False  # an invalid selector matches nothing (Kubernetes refuses to build it)


def containers(spec: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
    """A pod spec's containers, then its init containers."""
    return tuple(_map(c) for c in [*_list(spec.get("containers")), *_list(spec.get("initContainers"))])


def default_ingress(namespace: str, service: str) -> tuple[Resource, KubeObject]:
    """The ingress gateway Service and Pod istioctl assumes when it analyzes files only."""
    ports = [("http2", 80), ("https", 443), ("tcp", 31400), ("tls", 15443)]
    spec = {
        "ports": [{"name": n, "port": p, "protocol": "TCP", "targetPort": p} for n, p in ports],
        "selector": {"istio": "ingressgateway"},
    }
    svc = Resource("v1", "Service", Metadata(service, namespace), spec, Origin())
    labels = {"istio": "ingressgateway"}
    pod = KubeObject("Pod", f"{service}-dummypod", namespace, labels, spec={"containers": [{"name": PROXY_CONTAINER}]})
    return svc, pod
