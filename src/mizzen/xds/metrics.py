"""The ADS server's own Prometheus metrics, rendered as text (no client library needed).

- ``mizzen_xds_pushes_total{type}``: responses sent, by short type name (CDS, EDS, ...);
- ``mizzen_xds_resources_sent_total{type}``: resources in those responses (what delta xDS saves);
- ``mizzen_xds_nacks_total{type}``: responses rejected by proxies;
- ``mizzen_xds_stale_requests_total{type}``: requests ignored for a stale nonce;
- ``mizzen_xds_connected_proxies``: open streams that identified their node;
- ``mizzen_xds_push_latency_seconds``: snapshot set → ACK of the response it caused (histogram).
"""

from __future__ import annotations

import bisect
from collections import Counter

from mizzen.xds import types

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class XdsMetrics:
    """Counters, a gauge and a histogram, updated by the server and rendered by :meth:`render`."""

    def __init__(self) -> None:
        self.pushes: Counter[str] = Counter()
        self.resources: Counter[str] = Counter()
        self.nacks: Counter[str] = Counter()
        self.stale: Counter[str] = Counter()
        self.connected = 0
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.latency_count = 0
        self.latency_sum = 0.0

    def observe_latency(self, seconds: float) -> None:
        """Record one snapshot-set → ACK latency."""
        self._bucket_counts[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.latency_count += 1
        self.latency_sum += seconds

    def render(self) -> str:
        """Prometheus text exposition format (version 0.0.4)."""
        lines: list[str] = []
        for name, help_text, counter in (
            ("mizzen_xds_pushes_total", "xDS responses sent, by type.", self.pushes),
            ("mizzen_xds_resources_sent_total", "Resources in the xDS responses sent, by type.", self.resources),
            ("mizzen_xds_nacks_total", "xDS responses rejected by proxies, by type.", self.nacks),
            ("mizzen_xds_stale_requests_total", "xDS requests ignored for a stale nonce.", self.stale),
        ):
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            lines += [f'{name}{{type="{_short(t)}"}} {counter[t]}' for t in types.ordered(counter)]
        lines += [
            "# HELP mizzen_xds_connected_proxies Proxies with an open ADS stream.",
            "# TYPE mizzen_xds_connected_proxies gauge",
            f"mizzen_xds_connected_proxies {self.connected}",
            "# HELP mizzen_xds_push_latency_seconds Snapshot set to ACK by the proxy.",
            "# TYPE mizzen_xds_push_latency_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip((*LATENCY_BUCKETS, float("inf")), self._bucket_counts, strict=True):
            cumulative += count
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'mizzen_xds_push_latency_seconds_bucket{{le="{le}"}} {cumulative}')
        lines.append(f"mizzen_xds_push_latency_seconds_sum {self.latency_sum}")
        lines.append(f"mizzen_xds_push_latency_seconds_count {self.latency_count}")
        return "\n".join(lines) + "\n"


def _short(type_url: str) -> str:
    return types.SHORT_NAMES.get(type_url, type_url.rsplit(".", 1)[-1])
