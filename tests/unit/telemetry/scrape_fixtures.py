"""Readings as a proxy's Envoy reports them (:mod:`mizzen.meshstats` keys), for the scraping tests."""

from __future__ import annotations

import math

from mizzen import meshstats
from mizzen.meshstats import Histogram, Reading, SeriesKey

SPIFFE_PP = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
SPIFFE_REVIEWS = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
REVIEWS = "reviews.default.svc.cluster.local"
BOUNDS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000)


def key(metric: str = "istio_requests_total", *, denied: bool = False, authority: str = "", **labels: str) -> SeriesKey:
    """A series key with Istio's labels: ``unknown`` (``""`` for grpc_response_status) unless given."""
    names = meshstats.HTTP_LABELS if metric in meshstats.HTTP_METRICS else meshstats.TCP_LABELS
    values = tuple(labels.get(n, "" if n == "grpc_response_status" else "unknown") for n in names)
    unknown = set(labels) - set(names)
    assert not unknown, unknown
    return SeriesKey(metric, values, denied, authority)


def client(code: str = "200", **more: str) -> dict[str, str]:
    """productpage-v1's outbound labels for a request to reviews-v1."""
    return {
        "reporter": "source",
        "source_workload": "productpage-v1",
        "source_workload_namespace": "default",
        "source_principal": SPIFFE_PP,
        "source_app": "productpage",
        "source_version": "v1",
        "destination_workload": "reviews-v1",
        "destination_workload_namespace": "default",
        "destination_principal": SPIFFE_REVIEWS,
        "destination_app": "reviews",
        "destination_version": "v1",
        "destination_service": REVIEWS,
        "destination_service_name": "reviews",
        "destination_service_namespace": "default",
        "request_protocol": "http",
        "response_code": code,
        "response_flags": "-",
        **more,
    }


def server(code: str = "200", *, mtls: bool = True, **more: str) -> dict[str, str]:
    """reviews-v1's inbound labels for a request from productpage-v1."""
    labels = client(code, reporter="destination", **more)
    labels["connection_security_policy"] = "mutual_tls" if mtls else "none"
    if not mtls:
        labels["source_principal"] = "unknown"
    return labels


def tcp(labels: dict[str, str]) -> dict[str, str]:
    """The same hop's labels for a TCP metric (no response code, protocol tcp)."""
    out = {k: v for k, v in labels.items() if k in meshstats.TCP_LABELS}
    out["request_protocol"] = "tcp"
    return out


def histogram(*observations_ms: float, bounds: tuple[float, ...] = BOUNDS) -> Histogram:
    """A cumulative histogram holding these observations, as Envoy reports it."""
    full = (*bounds, math.inf)
    counts = [sum(1 for o in observations_ms if o <= b) for b in full]
    return Histogram(full, counts, len(observations_ms), float(sum(observations_ms)))


def reading(
    counters: dict[SeriesKey, float] | None = None, histograms: dict[SeriesKey, Histogram] | None = None
) -> Reading:
    """A reading with these series."""
    return Reading(dict(counters or {}), dict(histograms or {}))
