"""What the Telemetry API (and MeshConfig) decide about one proxy's Istio metrics: a plain value (in the
config layer, so the translator, which sits beneath telemetry, can take it).

The config side (Telemetry resolution) produces a :class:`MetricsSettings` per proxy; the translator's
metrics logger builder takes it. ``MetricsSettings()`` is Istio's default: every standard metric on, on
both sides, with Istio's standard tags. The value is hashable (tuples, not dicts) because translated
output is shared between proxies whose inputs are equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Side = Literal["client", "server"]  # Istio's CLIENT (outbound and gateway) and SERVER (inbound) modes

# Istio's metric selectors (telemetry.v1alpha1 MetricSelector.IstioMetric) and the Prometheus names they select.
ISTIO_METRICS: dict[str, str] = {
    "REQUEST_COUNT": "istio_requests_total",
    "REQUEST_DURATION": "istio_request_duration_milliseconds",
    "REQUEST_SIZE": "istio_request_bytes",
    "RESPONSE_SIZE": "istio_response_bytes",
    "TCP_OPENED_CONNECTIONS": "istio_tcp_connections_opened_total",
    "TCP_CLOSED_CONNECTIONS": "istio_tcp_connections_closed_total",
    "TCP_SENT_BYTES": "istio_tcp_sent_bytes_total",
    "TCP_RECEIVED_BYTES": "istio_tcp_received_bytes_total",
    "GRPC_REQUEST_MESSAGES": "istio_request_messages_total",
    "GRPC_RESPONSE_MESSAGES": "istio_response_messages_total",
}


@dataclass(frozen=True)
class MetricOverride:
    """One metric on one side: off, or with tags removed or set (``value`` is a CEL expression)."""

    disabled: bool = False
    removed_tags: frozenset[str] = frozenset()
    upserted_tags: tuple[tuple[str, str], ...] = ()  # (tag, CEL expression), in the order they were given


NO_OVERRIDE = MetricOverride()


@dataclass(frozen=True)
class MetricsSettings:
    """The metrics of one proxy: whether the Prometheus provider is on, and per-side overrides.

    ``client`` / ``server`` map an Istio metric selector (``REQUEST_COUNT``...) or a custom metric name to
    its override; a metric not listed keeps Istio's defaults.
    """

    enabled: bool = True
    client: tuple[tuple[str, MetricOverride], ...] = ()
    server: tuple[tuple[str, MetricOverride], ...] = ()
    reporting_interval_s: float | None = None  # Telemetry's reportingInterval (None: Mizzen's scrape interval)

    def override(self, side: Side, metric: str) -> MetricOverride:
        """The override of ``metric`` (a selector such as ``REQUEST_COUNT``) on ``side``."""
        for name, value in self.client if side == "client" else self.server:
            if name == metric:
                return value
        return NO_OVERRIDE

    def is_on(self, side: Side, metric: str) -> bool:
        """Whether ``metric`` is reported on ``side``."""
        return self.enabled and not self.override(side, metric).disabled


DEFAULT_METRICS = MetricsSettings()
