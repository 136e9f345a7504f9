"""``sidecar.SelectorAnalyzer``: selectors that match no workload (IST0101), Sidecars selecting the same
workload (IST0110), several namespace-wide Sidecars (IST0111), and Sidecars that cannot apply because
their workloads run in ambient mode (IST0167)."""

from __future__ import annotations

from collections.abc import Mapping

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from .context import Context, labels_of, selector_string, spec_map
from .kube import KubeObject, Pod

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
DATAPLANE_MODE = "istio.io/dataplane-mode"


def _selector(sc: Resource) -> dict[str, str]:
    return labels_of(spec_map(sc.spec.get("workloadSelector")).get("labels"))


def namespace_ambient(ns: KubeObject | None) -> bool:
    """A namespace labelled for ambient mode (and not also for sidecar injection)."""
    if ns is None or ns.labels.get(INJECTION_LABEL) == "enabled" or ns.labels.get(REVISION_LABEL):
        return False
    return ns.labels.get(DATAPLANE_MODE) == "ambient"


def analyze_selectors(ctx: Context) -> None:
    """Match each Sidecar's selector against the workloads of its namespace."""
    per_pod: dict[tuple[str, str], tuple[Pod, list[Resource]]] = {}
    default: dict[str, list[Resource]] = {}
    for sc in ctx.of("Sidecar"):
        selector = _selector(sc)
        if not selector:
            default.setdefault(sc.namespace, []).append(sc)
        elif not _select_pods(ctx, sc, selector, per_pod):
            first = sorted(selector)[0]
            path = f"spec.workloadSelector.labels.{first}"
            ctx.report(m.REFERENCED_RESOURCE_NOT_FOUND, sc, "selector", m.quote(selector_string(selector)), path=path)
    reported: set[tuple[str, str]] = set()
    _report_selected(ctx, per_pod, reported)
    _report_defaults(ctx, default, reported)


def _select_pods(
    ctx: Context,
    sc: Resource,
    selector: Mapping[str, str],
    per_pod: dict[tuple[str, str], tuple[Pod, list[Resource]]],
) -> bool:
    """Add ``sc`` to the Sidecars of each pod of its namespace it selects; False when it selects none."""
    found = False
    for pod in ctx.pods:
        if pod.namespace == sc.namespace and subset_of(selector, pod.labels):
            found = True
            per_pod.setdefault((pod.namespace, pod.name), (pod, []))[1].append(sc)
    return found


def _report_selected(
    ctx: Context,
    per_pod: dict[tuple[str, str], tuple[Pod, list[Resource]]],
    reported: set[tuple[str, str]],
) -> None:
    """Sidecars selecting an ambient pod (IST0167), and pods several Sidecars select (IST0110)."""
    for (ns, name), (pod, group) in per_pod.items():
        if pod.ambient:
            for sc in group:
                _ineffective(ctx, sc, "selected workload is in ambient mode, the policy has no impact", reported)
        elif len(group) > 1:
            names = m.go_list(sorted(sc.name for sc in group))
            for sc in group:
                ctx.report(
                    m.CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                    sc,
                    names,
                    m.quote(ns),
                    m.quote(name),
                    path="metadata.name",
                )


def _report_defaults(ctx: Context, default: dict[str, list[Resource]], reported: set[tuple[str, str]]) -> None:
    """Selector-less Sidecars in an ambient namespace (IST0167), or several in one namespace (IST0111)."""
    namespaces = {o.name: o for o in ctx.kube("Namespace")}
    for ns, group in default.items():
        if namespace_ambient(namespaces.get(ns)):
            for sc in group:
                _ineffective(ctx, sc, "namespace is in ambient mode, the policy has no impact", reported)
        elif len(group) > 1:
            names = m.go_list(sorted(sc.name for sc in group))
            for sc in group:
                ctx.report(m.MULTIPLE_SIDECARS_WITHOUT_SELECTORS, sc, names, m.quote(ns), path="metadata.name")


def _ineffective(ctx: Context, sc: Resource, reason: str, reported: set[tuple[str, str]]) -> None:
    if (sc.namespace, sc.name) not in reported:
        reported.add((sc.namespace, sc.name))
        ctx.report(m.INEFFECTIVE_POLICY, sc, reason)
