"""Mizzen telemetry: Istio's standard metrics, a live traffic view and recent traces, from stock Envoy.

Data flow (the control plane wires it)::

    Envoy ── ALS gRPC (xds port) ──► als.AccessLogService ──► metrics.Telemetry ──► /metrics (Prometheus text)
                                                                   │            └─► /api/mizzen/v1/graph, .../metrics
    Envoy ── Zipkin v2 JSON POST /api/v2/spans ──► traces.TraceStore ──► /api/mizzen/v1/traces[/{id}]

Modules: ``model`` (vocabulary and registry lookups), ``labels`` (entry -> Istio labels), ``prom``
(exposition), ``series``/``graph`` (time-bucketed dashboard views), ``metrics`` (the facade),
``als`` (gRPC servicer), ``traces`` (span store), ``routes`` (aiohttp endpoints), ``entries`` (ALS
entry builders for tests). Why access logs and not Envoy stats: see ``mizzen.translate.telemetry``.
"""

from mizzen.telemetry.als import AccessLogService
from mizzen.telemetry.metrics import Telemetry
from mizzen.telemetry.routes import register
from mizzen.telemetry.traces import TraceStore

__all__ = ["AccessLogService", "Telemetry", "TraceStore", "register"]
