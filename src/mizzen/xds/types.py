"""xDS type URLs and the order ADS pushes them in (make-before-break: CDS, EDS, LDS, RDS, SDS)."""

from __future__ import annotations

from collections.abc import Iterable

CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener"
ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

PUSH_ORDER: tuple[str, ...] = (CLUSTER, ENDPOINT, LISTENER, ROUTE, SECRET)
WILDCARD_TYPES = frozenset({CLUSTER, LISTENER})
SHORT_NAMES = {CLUSTER: "CDS", ENDPOINT: "EDS", LISTENER: "LDS", ROUTE: "RDS", SECRET: "SDS"}


def ordered(type_urls: Iterable[str]) -> tuple[str, ...]:
    """Type URLs in push order: the known types as in :data:`PUSH_ORDER`, then any others sorted."""
    given = set(type_urls)
    return tuple(t for t in PUSH_ORDER if t in given) + tuple(sorted(given - set(PUSH_ORDER)))
