"""The merged Prometheus endpoint's pure parts: the app's target from its annotations, Envoy's part, the
ports and annotations that advertise it (mizzen.agent.scrape, spec, template, node)."""

from __future__ import annotations

import socket

import pytest

from mizzen.agent.errors import PortSpecError
from mizzen.agent.scrape import (
    AppTarget,
    ScrapeCounters,
    app_target,
    envoy_part,
    opted_out,
    parse_annotations,
    parse_head,
    read_timeout,
    unread_annotations,
)
from mizzen.agent.spec import Allocation, PortSpec, WorkloadSpec, allocate, proxy_of, workload_entry
from mizzen.agent.template import template_from_manifests
from mizzen.node import node_metadata, proxy_from_node

PORTS = (PortSpec("http", 9080), PortSpec("grpc", 9090))
APP = {"http": 21001, "grpc": 21002}
RAW = (
    'envoy_istio_requests_total{reporter="source",source_workload="productpage-v1",'
    'destination_service="reviews.default.svc.cluster.local",mz_content_type="application/grpc",'
    'response_code="200",grpc_response_status="0",response_flags="-",connection_security_policy="unknown"} 4'
)
ENVOY = "\n".join(
    [
        "# TYPE envoy_server_live gauge",
        "envoy_server_live{} 1",
        "# TYPE envoy_istio_requests_total counter",
        RAW,
        "# TYPE envoy_cluster_upstream_rq_total counter",
        'envoy_cluster_upstream_rq_total{envoy_cluster_name="outbound|9080||reviews"} 4',
    ]
)


def test_scrape_true_with_a_service_port_number_means_the_apps_port_for_it() -> None:
    """prometheus.io/port 9080 (a container port = a service port) is where the agent put the app's 9080."""
    target = app_target({"prometheus.io/scrape": "true", "prometheus.io/port": "9090"}, PORTS, APP, "127.0.0.1")
    assert target == AppTarget("127.0.0.1", 21002, "/metrics")
    assert target.url == "http://127.0.0.1:21002/metrics"


def test_other_port_path_and_defaults() -> None:
    """A port that is no service port is taken as written; no port: the first service port; path as given."""
    notes = {"prometheus.io/scrape": "True", "prometheus.io/port": "15555", "prometheus.io/path": "/stats"}
    assert app_target(notes, PORTS, APP, "10.0.0.2") == AppTarget("10.0.0.2", 15555, "/stats")
    assert app_target({"prometheus.io/scrape": "true"}, PORTS, APP, "127.0.0.1") == AppTarget(
        "127.0.0.1", 21001, "/metrics"
    )
    assert app_target({"prometheus.io/scrape": "true"}, (), {}, "127.0.0.1") is None  # no port known
    assert app_target({"prometheus.io/scrape": "true"}, PORTS, {}, "::1") is None  # a gateway: no app
    assert AppTarget("::1", 1, "/m").url == "http://[::1]:1/m"
    assert AppTarget("h", 1, "/m?token=x").shown == "http://h:1/m"  # log lines never show a query


def test_not_annotated_or_false_is_not_scraped() -> None:
    """No prometheus.io annotation, or scrape false in any of Go's ParseBool spellings: the app is not scraped."""
    assert app_target({}, PORTS, APP, "127.0.0.1") is None
    assert app_target({"other": "x"}, PORTS, APP, "127.0.0.1") is None
    for false in ("false", "0", "f", "F", "FALSE", "False"):
        notes = {"prometheus.io/scrape": false, "prometheus.io/port": "9080"}
        assert app_target(notes, PORTS, APP, "x") is None and opted_out(notes)


def test_any_annotation_without_scrape_false_scrapes_as_istio_does() -> None:
    """Istio's agent scrapes the app when the pod has any prometheus.io annotation and scrape is not false:
    a port alone, or a scrape value that is no boolean; keys in Prometheus' sanitised spelling count."""
    assert app_target({"prometheus.io/port": "9080"}, PORTS, APP, "h") == AppTarget("h", 21001, "/metrics")
    assert app_target({"prometheus.io/scrape": "yes"}, PORTS, APP, "h") == AppTarget("h", 21001, "/metrics")
    assert app_target({"prometheus_io_path": "/m"}, PORTS, APP, "h") == AppTarget("h", 21001, "/m")
    assert not opted_out({"prometheus.io/scrape": "true"}) and not opted_out({})


@pytest.mark.parametrize(
    "notes",
    [
        {"prometheus.io/port": "http"},
        {"prometheus.io/port": "70000"},
        {"prometheus.io/path": "metrics"},
        {"prometheus.io/path": "/a b"},
    ],
)
def test_malformed_annotations_are_refused(notes: dict[str, str]) -> None:
    """A port that is no number, or a path that is not absolute, is an error naming the annotation."""
    with pytest.raises(PortSpecError, match=r"annotation prometheus\.io/"):
        app_target({"prometheus.io/scrape": "true", **notes}, PORTS, APP, "127.0.0.1")


def test_parse_annotations() -> None:
    """--annotation K=V, the value may hold '='; no '=' is an error."""
    assert parse_annotations(["prometheus.io/scrape=true", "a=b=c"]) == {"prometheus.io/scrape": "true", "a": "b=c"}
    with pytest.raises(PortSpecError, match="--annotation"):
        parse_annotations(["novalue"])


def test_annotations_mizzen_does_not_read_are_named() -> None:
    """Every explicit non-prometheus.io key, and the template's Istio-namespace keys, are reported; a
    prometheus.io key in any spelling Prometheus sanitises alike, and the app's own template keys, are not."""
    explicit = {"prometheus.io/scrape": "true", "prometheus_io_port": "9080", "sidecar.istio.io/inject": "false"}
    template = {
        "proxy.istio.io/config": "holdApplicationUntilProxyStarts: true",
        "traffic.sidecar.istio.io/includeInboundPorts": "*",
        "istio.io/rev": "canary",
        "example.com/owner": "team-a",
        "prometheus.io/path": "/stats",
        "sidecar.istio.io/inject": "true",
    }
    assert unread_annotations(explicit, template) == [
        "sidecar.istio.io/inject",
        "proxy.istio.io/config",
        "traffic.sidecar.istio.io/includeInboundPorts",
        "istio.io/rev",
    ]
    assert unread_annotations({}, {"example.com/owner": "x", "notistio.io/x": "y"}) == []


def test_envoys_raw_istio_series_become_istios_and_the_rest_passes() -> None:
    """envoy_istio_* lines (with their TYPE) are replaced by Istio's istio_* series; other lines pass unchanged."""
    text = envoy_part(ENVOY)
    assert "envoy_istio" not in text
    assert "envoy_server_live{} 1" in text and "# TYPE envoy_server_live gauge" in text
    assert 'envoy_cluster_upstream_rq_total{envoy_cluster_name="outbound|9080||reviews"} 4' in text
    assert "# TYPE istio_requests_total counter" in text
    line = next(x for x in text.splitlines() if x.startswith("istio_requests_total{"))
    assert 'reporter="source"' in line and 'request_protocol="grpc"' in line and line.endswith(" 4")
    assert 'source_workload="productpage-v1"' in line and "mz_content_type" not in line


def test_without_raw_series_there_is_no_istio_line() -> None:
    """Envoy keeping no Istio stats yet: the part is Envoy's text and nothing named istio_."""
    plain = "# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n"
    assert envoy_part(plain) == plain
    assert envoy_part("") == ""


def test_read_timeout_is_a_little_inside_the_scrapers() -> None:
    """X-Prometheus-Scrape-Timeout-Seconds bounds each read a little inside it; absent or bad: the default."""
    assert read_timeout("10", 5.0) == 9.75
    assert read_timeout("0.2", 5.0) == 0.1
    assert read_timeout("1e9", 5.0) == 60.0
    for bad in (None, "", "x", "-1", "0", "nan", "inf"):
        assert read_timeout(bad, 5.0) == 5.0, bad


def test_parse_head() -> None:
    """The request line and headers of a scrape; the query is not part of the path."""
    head = b"GET /stats/prometheus?x=1 HTTP/1.1\r\nHost: a\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n"
    method, path, headers = parse_head(head)
    assert (method, path) == ("GET", "/stats/prometheus")
    assert headers == {"host": "a", "x-prometheus-scrape-timeout-seconds": "10"}
    with pytest.raises(ValueError):
        parse_head(b"garbage\r\n\r\n")


def test_scrape_counters_render_istios_agent_metrics() -> None:
    """istio_agent_scrapes_total and istio_agent_scrape_failures_total{type} in Prometheus text."""
    text = ScrapeCounters(scrapes=3, envoy_failures=1, app_failures=2).render()
    assert "istio_agent_scrapes_total 3\n" in text
    assert 'istio_agent_scrape_failures_total{type="envoy"} 1\n' in text
    assert 'istio_agent_scrape_failures_total{type="application"} 2\n' in text


def test_allocate_picks_a_distinct_stats_port_unless_given_or_off() -> None:
    """Default: one more free port, distinct from the others; N: that port; 0: none."""
    spec = WorkloadSpec(name="w", ports=PORTS, command=("app",))
    alloc = allocate(spec)
    assert alloc.stats is not None
    assert alloc.stats not in [*alloc.app.values(), *alloc.inbound.values(), alloc.http_proxy]
    assert allocate(WorkloadSpec(name="w", stats_port=0)).stats is None
    assert allocate(WorkloadSpec(name="gw", proxy_type="router")).stats is not None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert allocate(WorkloadSpec(name="w", stats_port=free)).stats == free


def test_a_busy_stats_port_is_refused() -> None:
    """An explicit --stats-port already bound is a clear error before anything starts."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(PortSpecError, match=f"--stats-port {port} is already in use"):
            allocate(WorkloadSpec(name="w", stats_port=port, address="127.0.0.1"))


def test_the_entry_and_node_metadata_advertise_the_endpoint() -> None:
    """WorkloadEntry: Istio's rewritten prometheus.io/* annotations; node metadata: MIZZEN_STATS_PORT, read back."""
    spec = WorkloadSpec(name="w", ports=PORTS, command=("app",))
    alloc = Allocation(app=APP, inbound={"http": 2, "grpc": 3}, http_proxy=4, stats=20555)
    notes = workload_entry(spec, alloc)["metadata"]["annotations"]
    assert notes["prometheus.io/scrape"] == "true"
    assert notes["prometheus.io/port"] == "20555" and notes["prometheus.io/path"] == "/stats/prometheus"
    gw = workload_entry(WorkloadSpec(name="gw", proxy_type="router"), Allocation(stats=20556))
    assert gw["metadata"]["annotations"]["prometheus.io/port"] == "20556"
    off = workload_entry(spec, Allocation(app=APP, inbound={"http": 2, "grpc": 3}))["metadata"]["annotations"]
    assert not any(k.startswith("prometheus.io/") for k in off)
    # A pod annotated scrape "false" is left alone by Istio's injector: Prometheus is not pointed at it.
    opted = WorkloadSpec(name="w", ports=PORTS, command=("app",), annotations={"prometheus.io/scrape": "false"})
    assert not any(k.startswith("prometheus.io/") for k in workload_entry(opted, alloc)["metadata"]["annotations"])
    proxy = proxy_of(spec, alloc)
    meta = node_metadata(proxy, admin="unix:/x", version="0")
    assert meta["MIZZEN_STATS_PORT"] == 20555
    assert proxy_from_node(proxy.node_id, {**meta, "MIZZEN_STATS_PORT": 20555.0}).stats_port == 20555
    assert "MIZZEN_STATS_PORT" not in node_metadata(
        proxy_of(spec, Allocation(app=APP, inbound=alloc.inbound)), admin="", version="0"
    )


def test_from_takes_the_pod_templates_annotations() -> None:
    """--from: the Deployment's pod-template annotations (bookinfo's productpage is annotated so)."""
    manifest = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: productpage-v1}
spec:
  template:
    metadata:
      labels: {app: productpage}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9080", prometheus.io/path: /metrics}
"""
    t = template_from_manifests([manifest], "productpage-v1")
    assert t.annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9080",
        "prometheus.io/path": "/metrics",
    }
