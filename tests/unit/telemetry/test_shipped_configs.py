"""The shipped Prometheus scrape config and Grafana dashboard match the metrics we export."""

from __future__ import annotations

import json
import re
from importlib import resources

import yaml
from telemetry_fixtures import PRODUCTPAGE, REVIEWS, V1_ADDR

from mizzen.telemetry.entries import http_entry
from mizzen.telemetry.metrics import Telemetry


def test_prometheus_config_scrapes_control_plane_with_token() -> None:
    """The scrape job targets 127.0.0.1:15014/metrics with a bearer token file."""
    config = yaml.safe_load(resources.files("mizzen.telemetry").joinpath("prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:15014"]
    assert job["authorization"]["type"] == "Bearer" and job["authorization"]["credentials_file"]


def test_grafana_queries_use_metrics_and_labels_we_export(telemetry: Telemetry) -> None:
    """Every metric and label a dashboard query names appears in our exposition."""
    telemetry.record_http(http_entry("outbound", cluster=f"outbound|9080|v1|{REVIEWS}", upstream=V1_ADDR), PRODUCTPAGE)
    text = telemetry.prometheus_text()
    dash = json.loads(resources.files("mizzen.telemetry").joinpath("grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 6
    for expr in exprs:
        for metric in re.findall(r"\b(istio_[a-z_]+)\b", expr):
            family = re.sub(r"_(bucket|sum|count)$", "", metric)
            assert f"# TYPE {family} " in text or family.startswith("istio_tcp"), metric
        for label in re.findall(r"by \(([^)]*)\)", expr):
            for name in (n.strip() for n in label.split(",")):
                assert name == "le" or f'{name}="' in text, name
