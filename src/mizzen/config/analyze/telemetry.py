"""Istio's ``telemetry.*`` analyzers on Telemetry resources (read as Kubernetes objects, see ``kube.py``):
empty access-log providers (IST0157), selectors matching no pod (IST0101) or the same pod (IST0159),
several namespace-wide Telemetries (IST0160), and the deprecated Lightstep tracer (IST0002)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from . import platform_messages as pm
from .context import Context, labels_of, selector_string, spec_list, spec_map
from .kube import KubeObject


def _names(objs: list[KubeObject]) -> str:
    return m.go_list(sorted(o.name for o in objs))


def analyze_providers(ctx: Context) -> None:
    """IST0157: an enabled access-logging entry without providers, when the mesh names no default ones."""
    if ctx.mesh.default_access_logging:
        return
    for t in ctx.kube("Telemetry"):
        for entry in spec_list(t.spec.get("accessLogging")):
            entry = spec_map(entry)
            if entry.get("disabled") is True:
                continue
            if not spec_list(entry.get("providers")):
                ctx.report_object(pm.INVALID_TELEMETRY_PROVIDER, t, t.name, m.quote(t.namespace))


def analyze_default_selectors(ctx: Context) -> None:
    """IST0160 on each of several Telemetries of one namespace without a ``selector``."""
    by_namespace: dict[str, list[KubeObject]] = {}
    for t in ctx.kube("Telemetry"):
        if t.spec.get("selector") is None:
            by_namespace.setdefault(t.namespace, []).append(t)
    for ns, objs in by_namespace.items():
        if len(objs) > 1:
            for t in objs:
                ctx.report_object(pm.MULTIPLE_TELEMETRIES_WITHOUT_SELECTORS, t, _names(objs), m.quote(ns))


def analyze_selectors(ctx: Context) -> None:
    """IST0101 for a selector no pod of the namespace matches; IST0159 for pods several select."""
    by_pod: dict[tuple[str, str], list[KubeObject]] = {}
    for t in ctx.kube("Telemetry"):
        selector = labels_of(spec_map(t.spec.get("selector")).get("matchLabels"))
        if not selector:
            continue
        pods = [p for p in ctx.pods if p.namespace == t.namespace and subset_of(selector, p.labels)]
        if not pods:
            ctx.report_object(m.REFERENCED_RESOURCE_NOT_FOUND, t, "selector", m.quote(selector_string(selector)))
        for p in pods:
            by_pod.setdefault((p.namespace, p.name), []).append(t)
    for (ns, pod), objs in by_pod.items():
        if len(objs) > 1:
            for t in objs:
                ctx.report_object(pm.CONFLICTING_TELEMETRY_SELECTORS, t, _names(objs), m.quote(ns), m.quote(pod))


def analyze_lightstep(ctx: Context) -> None:
    """IST0002 for tracing through a mesh extension provider of the deprecated Lightstep type."""
    deprecated = ctx.mesh.lightstep_providers
    if not deprecated:
        return
    for t in ctx.kube("Telemetry"):
        for tracing in spec_list(t.spec.get("tracing")):
            for provider in spec_list(spec_map(tracing).get("providers")):
                name = _name(provider)
                if name in deprecated:
                    text = f"The Lightstep provider {name} is deprecated, please migrate to OpenTelemetry provider."
                    ctx.report_object(m.DEPRECATED, t, text)


def _name(provider: Any) -> str:
    return str(provider.get("name") or "") if isinstance(provider, Mapping) else ""
