"""Mizzen telemetry: Istio's standard metrics, a live traffic view and recent traces, from stock Envoy.

Data flow (the control plane wires it)::

    Envoy /stats/prometheus ── agent channel ──► controlplane.scraper ──────┐ scraped.py: per-proxy deltas
    Envoy ── ALS gRPC (xds port, when configured) ──► als.AccessLogService ──┴► metrics.Telemetry ──► /metrics
                                                                     └─► /api/mizzen/v1/graph, .../metrics
    Envoy ── Zipkin v2 JSON ──► agent ── agent channel (or POST /api/v2/spans) ──► routes.SpanIntake
                                        ──► traces.TraceStore ──► /api/mizzen/v1/traces[/{id}]

Modules: ``model`` (vocabulary and registry lookups), ``labels`` (entry -> Istio labels), ``prom``
(exposition), ``series``/``graph`` (time-bucketed dashboard views), ``metrics`` (the facade),
``scraped`` (deltas between scrapes of one proxy), ``als`` (gRPC servicer), ``traces`` (span store),
``routes`` (aiohttp endpoints), ``entries`` (ALS entry builders for tests). Istio's metrics come from
Envoy's own stats (see ``mizzen.meshstats``); access logs only when the mesh configures the service.
"""

from mizzen.telemetry.als import AccessLogService
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.routes import SpanIntake, register
from mizzen.telemetry.traces import TraceStore

__all__ = ["AccessLogService", "SpanIntake", "Telemetry", "TraceStore", "register"]
