"""``metrics_settings(proxy, snapshot)``: the Telemetry API's metrics section for one proxy, as the
:class:`~mizzen.config.telemetry_settings.MetricsSettings` value the stats-logger builder takes.

It sits in the translate layer because it reads the mesh snapshot; the resolution itself is
:mod:`mizzen.config.semantics.telemetry`.
"""

from __future__ import annotations

from mizzen.config.semantics import telemetry as semantics
from mizzen.config.telemetry_settings import MetricOverride, MetricsSettings
from mizzen.node import Proxy
from mizzen.translate.model import MeshSnapshot


def _side(changes: tuple[tuple[str, semantics.MetricChange], ...]) -> tuple[tuple[str, MetricOverride], ...]:
    out: list[tuple[str, MetricOverride]] = []
    for metric, change in changes:
        removed = frozenset(tag for tag, value in change.tags if value is None)
        upserted = tuple((tag, value) for tag, value in change.tags if value is not None)
        override = MetricOverride(disabled=bool(change.disabled), removed_tags=removed, upserted_tags=upserted)
        if override != MetricOverride():
            out.append((metric, override))
    return tuple(out)


def metrics_settings(proxy: Proxy, snapshot: MeshSnapshot) -> MetricsSettings:
    """The Prometheus metrics of ``proxy``: off when no Prometheus provider is in effect (Istio's
    ``ALL_METRICS`` disabled, or providers naming something else), else its per-side overrides."""
    mesh = snapshot.mesh
    layers = semantics.applicable(
        snapshot.telemetries, semantics.Workload(proxy.namespace, proxy.labels), mesh.root_namespace
    )
    merged = semantics.metrics(layers, mesh.telemetry)
    prometheus = next(
        (p for p in merged.providers if (found := mesh.telemetry.provider(p.name)) and found.kind == "prometheus"),
        None,
    )
    if prometheus is None:
        return MetricsSettings(enabled=False, reporting_interval_s=merged.reporting_interval_s)
    return MetricsSettings(
        enabled=True,
        client=_side(prometheus.client),
        server=_side(prometheus.server),
        reporting_interval_s=merged.reporting_interval_s,
    )
