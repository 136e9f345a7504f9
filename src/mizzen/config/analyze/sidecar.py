"""Sidecar analyzers: several namespace-wide Sidecars (IST0111), Sidecars selecting the same
workload (IST0110) and selectors that select no workload (IST0101)."""

from __future__ import annotations

from mizzen.config.resource import Resource
from mizzen.config.semantics.selectors import SIDECAR, selects

from . import messages as m
from .context import Context, selector_string, spec_map


def _selector(sc: Resource) -> dict[str, str]:
    labels = spec_map(spec_map(sc.spec.get("workloadSelector")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def analyze_default_selectors(ctx: Context) -> None:
    """IST0111: more than one Sidecar without a workload selector in one namespace."""
    by_ns: dict[str, list[Resource]] = {}
    for sc in ctx.of("Sidecar"):
        if not _selector(sc):
            by_ns.setdefault(sc.namespace, []).append(sc)
    for ns, group in by_ns.items():
        if len(group) > 1:
            names = m.go_list(sc.name for sc in group)
            for sc in group:
                ctx.report(m.MULTIPLE_SIDECARS_WITHOUT_SELECTORS, sc, names, m.quote(ns), path="metadata.name")


def analyze_selectors(ctx: Context) -> None:
    """IST0101 ``selector`` and IST0110, checked against WorkloadEntries when workloads are known."""
    if not ctx.workloads_known:
        return
    per_entry: dict[tuple[str, str], list[Resource]] = {}
    entries = ctx.of("WorkloadEntry")
    for sc in ctx.of("Sidecar"):
        selector = _selector(sc)
        if not selector:
            continue
        found = False
        for we in entries:
            if we.namespace == sc.namespace and selects(SIDECAR, selector, spec_map(we.spec.get("labels"))):
                found = True
                per_entry.setdefault((we.namespace, we.name), []).append(sc)
        found = found or any(w.namespace is None and selects(SIDECAR, selector, w.labels) for w in ctx.workloads)
        if not found:
            first = sorted(selector)[0]
            ctx.report(
                m.REFERENCED_RESOURCE_NOT_FOUND,
                sc,
                "selector",
                m.quote(selector_string(selector)),
                path=f"spec.workloadSelector.labels.{first}",
            )
    for (ns, name), group in per_entry.items():
        if len(group) > 1:
            names = m.go_list(sc.name for sc in group)
            for sc in group:
                ctx.report(
                    m.CONFLICTING_SIDECAR_WORKLOAD_SELECTORS,
                    sc,
                    names,
                    m.quote(ns),
                    m.quote(name),
                    path="metadata.name",
                )
