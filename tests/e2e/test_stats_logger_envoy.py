"""The stats logger builder's Telemetry overrides in a real Envoy 1.40 (static config, no control plane):
an upserted tag's ``%CEL(expr)%`` is evaluated per request (no formatter extension to declare), a removed
tag is absent from Envoy's series, and a disabled metric has no series at all."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mizzen import meshstats
from mizzen.agent.envoy import find_envoy
from mizzen.config.telemetry_settings import MetricOverride, MetricsSettings
from mizzen.node import Proxy
from mizzen.testing.ports import free_port
from mizzen.translate.stats_logger import http_stats_loggers

pytestmark = pytest.mark.e2e

PROXY = Proxy(id="client.default", type="sidecar", name="client", namespace="default", labels={"app": "client"})
SETTINGS = MetricsSettings(
    client=(
        (
            "REQUEST_COUNT",
            MetricOverride(
                removed_tags=frozenset({"response_flags"}),
                upserted_tags=(("destination_service", "request.headers['x-target']"), ("method", "request.method")),
            ),
        ),
        ("REQUEST_DURATION", MetricOverride(disabled=True)),
    )
)


HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"


def _bootstrap(port: int, admin: int) -> dict[str, Any]:
    hcm = {
        "@type": HCM_TYPE,
        "stat_prefix": "test",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
        "access_log": http_stats_loggers(PROXY, "gateway", SETTINGS),
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "stats_flush_interval": "1s",
        "static_resources": {
            "listeners": [
                {
                    "name": "l",
                    "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                    "filter_chains": [
                        {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
                    ],
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def envoy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    port, admin = free_port(), free_port()
    conf: Path = tmp_path_factory.mktemp("stats-envoy") / "envoy.json"
    conf.write_text(json.dumps(_bootstrap(port, admin)))
    proc = subprocess.Popen(
        [str(find_envoy()), "-c", str(conf), "--base-id", str(port), "-l", "error"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{admin}/ready", trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.1)
        yield port, admin
    finally:
        proc.terminate()
        proc.wait(10)


def test_upserted_removed_and_disabled(envoy: tuple[int, int]) -> None:
    """The upserted destination_service is the CEL value (the reader sees it as the label), the new
    ``method`` tag is in Envoy's series, response_flags is gone, the duration histogram is off."""
    port, admin = envoy
    with httpx.Client(trust_env=False) as client:
        for _ in range(2):
            assert client.get(f"http://127.0.0.1:{port}/", headers={"x-target": "cel.example"}).status_code == 200
        deadline = time.monotonic() + 10
        while True:
            text = client.get(f"http://127.0.0.1:{admin}/stats/prometheus?" + meshstats.ADMIN_QUERY).text
            if "envoy_istio_request_bytes" in text or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    (line,) = [ln for ln in text.splitlines() if ln.startswith("envoy_istio_requests_total{")]
    assert 'method="GET"' in line and "response_flags=" not in line
    ((key, value),) = meshstats.read(text).counters.items()
    assert value == 2.0
    assert key.label_map()["destination_service"] == "cel.example"
    assert key.label_map()["source_workload"] == "client"
    assert "envoy_istio_request_duration_milliseconds" not in text
    assert "envoy_istio_request_bytes_bucket{" in text and 'response_flags="-"' in text  # other metrics keep it
