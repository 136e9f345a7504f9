"""Envoy CPU per request of the stats access loggers that keep Istio's metrics (translate/stats_logger.py).

    .venv/bin/python bench/stats_logger_cost.py [--repeats 5] [--seconds 5] [--rate 1000]

One Envoy (one worker) answers every request itself (direct_response, 1 KiB), so the only difference
between the variants is the access logger of its HTTP connection manager:

- none: no access logger;
- stats: the client-side (outbound) stats logger Mizzen writes, every Istio tag and the 4 HTTP metrics;
- stats-cel: the same with the sizes read as CEL's ``request.total_size`` / ``response.total_size``
  (Istio's exact attributes) instead of the downstream wire bytes (what CEL would cost);
- counter-only: only ``istio_requests_total`` (what the three histograms cost).

Variants are measured in turn within each repetition (drifting machine load hits all alike); the figure is
the median over repetitions of Envoy's CPU (scheduler runtime) per 1000 requests at the fixed rate.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import benchtools as bt

from mizzen.agent.envoy import find_envoy
from mizzen.node import Proxy
from mizzen.testing.controlplane import free_port
from mizzen.translate.stats_logger import http_stats_loggers

PROXY = Proxy(id="client.default", type="sidecar", name="client", namespace="default", labels={"app": "client"})
HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}


def _loggers(variant: str) -> list[dict[str, Any]]:
    if variant == "none":
        return []
    loggers = copy.deepcopy(http_stats_loggers(PROXY, "outbound"))
    if variant == "counter-only":
        loggers[0]["typed_config"].pop("histograms")
    if variant == "stats-cel":
        for h in loggers[0]["typed_config"]["histograms"]:
            h["value_format"] = h["value_format"].replace(
                "%DOWNSTREAM_WIRE_BYTES_RECEIVED%", "%CEL(request.total_size)%"
            )
            h["value_format"] = h["value_format"].replace("%DOWNSTREAM_WIRE_BYTES_SENT%", "%CEL(response.total_size)%")
    return loggers


def _bootstrap(variant: str, port: int, admin: int) -> dict[str, Any]:
    hcm: dict[str, Any] = {
        "@type": HCM,
        "stat_prefix": "bench",
        "generate_request_id": False,
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [
                        {
                            "match": {"prefix": "/"},
                            "direct_response": {"status": 200, "body": {"inline_string": "x" * 1024}},
                        }
                    ],
                }
            ]
        },
        "http_filters": [ROUTER],
    }
    loggers = _loggers(variant)
    if loggers:
        hcm["access_log"] = loggers
    listener = {
        "name": "bench",
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [
            {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
        ],
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_flush_interval": "1s",
        "static_resources": {"listeners": [listener]},
    }


def _measure(envoy: Path, loadgen: Path, variant: str, args: argparse.Namespace, work: Path) -> float:
    port, admin = free_port(), free_port()
    conf = work / f"{variant}.json"
    conf.write_text(json.dumps(_bootstrap(variant, port, admin)))
    proc = subprocess.Popen(
        [str(envoy), "-c", str(conf), "--concurrency", "1", "--base-id", str(port), "-l", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.5)
        bt.run_loadgen(loadgen, port, "bench", connections=16, rate=args.rate, seconds=1, warmup=0, cpu=None)
        before = bt.cpu_seconds(proc.pid)
        result = bt.run_loadgen(
            loadgen, port, "bench", connections=16, rate=args.rate, seconds=args.seconds, warmup=0, cpu=None
        )
        used = bt.cpu_seconds(proc.pid) - before
        return used / (result.requests / 1000.0)
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=1000.0)
    args = ap.parse_args()
    envoy, loadgen = find_envoy(), bt.build_loadgen()
    variants = ("none", "stats", "stats-cel", "counter-only")
    samples: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for v in variants:
                samples[v].append(_measure(envoy, loadgen, v, args, Path(tmp)))
            print(f"  rep {rep + 1}: " + "  ".join(f"{v} {samples[v][-1] * 1000:.1f} ms" for v in variants))
    base = statistics.median(samples["none"])
    print("Envoy CPU per 1000 requests (median, CPU-ms; one Envoy, direct_response):")
    for v in variants:
        med = statistics.median(samples[v])
        print(f"  {v:14s} {med * 1000:7.1f} ms   +{(med - base) * 1000:6.1f} ms over none")


if __name__ == "__main__":
    main()
