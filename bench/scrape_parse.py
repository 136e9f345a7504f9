"""What one scrape round costs the control plane's event loop: parsing and aggregating every proxy's stats.

The scraper (``controlplane/scraper.py``) parses each proxy's ``/stats/prometheus?usedonly&filter=^istio_``
text with ``meshstats.read`` and hands it to ``Telemetry.record_reading``, one proxy per event-loop step.
This times both for ``--proxies`` proxies of ``--series`` Istio series each (a quarter each of
``istio_requests_total`` and the three histograms, with Envoy's 20 buckets), as Envoy's stats access logger
prints them: the first round (everything is new) and steady rounds (every counter grew).

``python bench/scrape_parse.py [--proxies 50] [--series 100] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import statistics
import time

from mizzen import meshstats
from mizzen.node import Proxy
from mizzen.telemetry import Telemetry

BOUNDS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000)


def envoy_text(proxy: int, combos: int, grown: int) -> str:
    """The istio_ stats of one client sidecar: ``combos`` label sets x (1 counter + 3 histograms)."""
    lines = []
    for c in range(combos):
        tags = (
            f'reporter="source",source_workload="w{proxy}",source_workload_namespace="default",'
            f'source_principal="spiffe://cluster.local/ns/default/sa/w{proxy}",source_app="w{proxy}",source_version="v1",'
            f'source_canonical_service="w{proxy}",source_canonical_revision="v1",source_cluster="Kubernetes",'
            f'destination_workload="d{c % 10}-v{c // 10}",destination_workload_namespace="default",'
            f'destination_principal="spiffe://cluster.local/ns/default/sa/d{c % 10}",destination_app="d{c % 10}",'
            f'destination_version="v{c // 10}",destination_service="d{c % 10}.default.svc.cluster.local",'
            f'destination_canonical_service="d{c % 10}",destination_canonical_revision="v{c // 10}",'
            f'destination_service_name="d{c % 10}",destination_service_namespace="default",'
            f'destination_cluster="Kubernetes",mz_content_type="",mz_authority="d{c % 10}:9080",'
            f'response_code="{200 if c % 7 else 503}",grpc_response_status="",response_flags="-",'
            'connection_security_policy="unknown"'
        )
        n = 100 + grown
        lines.append(f"envoy_istio_requests_total{{{tags}}} {n}")
        for metric in ("istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"):
            for i, b in enumerate(BOUNDS):
                lines.append(f'envoy_{metric}_bucket{{{tags},le="{b}"}} {min(n, (i + 1) * 10)}')
            lines.append(f'envoy_{metric}_bucket{{{tags},le="+Inf"}} {n}')
            lines.append(f"envoy_{metric}_sum{{{tags}}} {n * 12.5}")
            lines.append(f"envoy_{metric}_count{{{tags}}} {n}")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Print per-proxy and per-round parse and aggregation times."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--proxies", type=int, default=50)
    ap.add_argument("--series", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    combos = max(1, args.series // 4)
    proxies = [
        Proxy(id=f"w{p}.default", type="sidecar", name=f"w{p}", namespace="default") for p in range(args.proxies)
    ]
    telemetry = Telemetry(counting="scrape", max_series=100_000)
    size = len(envoy_text(0, combos, 0))
    print(f"{args.proxies} proxies x {combos * 4} series ({size} bytes of text per proxy)")
    for r in range(args.rounds):
        texts = [envoy_text(p, combos, r * 3) for p in range(args.proxies)]
        parse, record = [], []
        for proxy, text in zip(proxies, texts, strict=True):
            t0 = time.perf_counter()
            reading = meshstats.read(text)
            t1 = time.perf_counter()
            telemetry.record_reading(proxy, reading)
            t2 = time.perf_counter()
            parse.append(t1 - t0)
            record.append(t2 - t1)
        step = [a + b for a, b in zip(parse, record, strict=True)]
        print(
            f"round {r + 1} ({'first' if r == 0 else 'steady'}): parse {sum(parse) * 1e3:.1f} ms, "
            f"aggregate {sum(record) * 1e3:.1f} ms, total {sum(step) * 1e3:.1f} ms; per proxy step "
            f"median {statistics.median(step) * 1e3:.2f} ms, max {max(step) * 1e3:.2f} ms"
        )
    print(f"kept series {telemetry.baselines.series()}, /metrics {len(telemetry.prometheus_text())} bytes")


if __name__ == "__main__":
    main()
