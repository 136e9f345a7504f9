"""``auth.AuthorizationPoliciesAnalyzer``: policies that select no workload (IST0127) and source
namespaces that do not exist (IST0101)."""

from __future__ import annotations

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, labels_of, selector_string, spec_list, spec_map
from .kube import Pod

INJECTION_LABEL = "istio-injection"
INJECT = "sidecar.istio.io/inject"
LIVE_NAMESPACES_NOTE = (
    "namespaces are the ones the live mesh uses (there are no Namespace objects without Kubernetes) "
    "(docs/istio-differences.md#live-analysis)"
)


def _in_mesh(ctx: Context, pod: Pod) -> bool:
    """Whether a workload has (or will get) a sidecar, or runs in ambient mode."""
    if ctx.live or pod.has_proxy or pod.ambient:
        return True
    for meta in (pod.labels, pod.annotations):
        if INJECT in meta:
            return meta[INJECT] == "true"
    ns = next((o for o in ctx.kube("Namespace") if o.name == pod.namespace), None)
    return ns is not None and ns.labels.get(INJECTION_LABEL) == "enabled"


def analyze_policies(ctx: Context) -> None:
    """Check each AuthorizationPolicy's selector and source namespaces."""
    mesh_pods: dict[str, list[dict[str, str]]] = {}
    for pod in ctx.pods:
        mesh_pods.setdefault(pod.namespace, [])
        if _in_mesh(ctx, pod):
            mesh_pods[pod.namespace].append(dict(pod.labels))
    for ap in ctx.of("AuthorizationPolicy"):
        _workloads(ctx, ap, mesh_pods)
        _namespaces(ctx, ap)


def _workloads(ctx: Context, ap: Resource, mesh_pods: dict[str, list[dict[str, str]]]) -> None:
    has_selector = isinstance(ap.spec.get("selector"), dict)
    selector = labels_of(spec_map(ap.spec.get("selector")).get("matchLabels"))
    if ap.namespace == ctx.mesh.root_namespace:
        if has_selector and not any(subset_of(selector, labels) for pods in mesh_pods.values() for labels in pods):
            ctx.report(m.NO_MATCHING_WORKLOADS, ap, selector_string(selector))
        return
    pods = mesh_pods.get(ap.namespace, [])
    if not has_selector:
        if not pods:
            ctx.report(m.NO_MATCHING_WORKLOADS, ap, "")
    elif not any(subset_of(selector, labels) for labels in pods):
        ctx.report(m.NO_MATCHING_WORKLOADS, ap, selector_string(selector))


def _matches(namespace: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.startswith("*"):
        return namespace.endswith(pattern[1:])
    if pattern.endswith("*"):
        return namespace.startswith(pattern[:-1])
    return namespace.lower() == pattern.lower()


def _namespaces(ctx: Context, ap: Resource) -> None:
    known = ctx.namespace_names()
    for i, rule in enumerate(spec_list(ap.spec.get("rules"))):
        for j, f in enumerate(spec_list(spec_map(rule).get("from"))):
            source = spec_map(spec_map(f).get("source"))
            for field in ("namespaces", "notNamespaces"):
                for k, ns in enumerate(str(n) for n in spec_list(source.get(field))):
                    if not any(_matches(name, ns) for name in known):
                        path = f"spec.rules[{i}].from[{j}].source.{field}[{k}]"
                        ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, ap, "namespace", m.quote(ns), path=path)
                        if ctx.live:
                            ctx.note(LIVE_NAMESPACES_NOTE)
