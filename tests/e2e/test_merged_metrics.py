"""The agent's merged Prometheus endpoint (Istio's :15020/stats/prometheus), on real `mizzen run` workloads."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from mizzen.agent.ports import free_port
from mizzen.testing.controlplane import RunningControlPlane
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.samples import istio_samples_dir

pytestmark = pytest.mark.e2e

SERVICE = """apiVersion: v1
kind: Service
metadata: {name: echo}
spec: {selector: {app: echo}, ports: [{name: http, port: 9080}]}
"""
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-from}
spec:
  selector: {matchLabels: {app: echo}}
  template:
    metadata:
      labels: {app: echo, version: v1}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "9080", prometheus.io/path: /metrics}
    spec: {containers: [{name: echo, image: echo}]}
"""
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LIVE = re.compile(r"^envoy_server_live(\{\})? 1$", re.MULTILINE)


def _echo(name: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "mizzen.testing.echo", "--port", "{port}", "--name", name, *extra]


def _stats_url(w: Workload) -> str:
    port = w.state()["ports"]["stats"]
    assert isinstance(port, int) and port > 0, w.state()
    return f"http://{w.state()['address']}:{port}/stats/prometheus"


def _scrape(w: Workload, headers: dict[str, str] | None = None) -> httpx.Response:
    resp = httpx.get(_stats_url(w), timeout=20.0, trust_env=False, headers=headers)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == CONTENT_TYPE
    return resp


def _until_live(w: Workload, timeout: float = 20.0) -> str:
    """The endpoint's text once Envoy's part says the server is live (Envoy may still be starting)."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _scrape(w).text
        if LIVE.search(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"envoy_server_live never 1 on the merged endpoint:\n{text[:2000]}")


def _until_istio_series(w: Workload, label: str, timeout: float = 15.0) -> str:
    """The endpoint's text once it has an ``istio_requests_total`` series with ``label``."""
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _scrape(w).text
        if any(x.startswith("istio_requests_total{") and label in x for x in text.splitlines()):
            return text
        time.sleep(0.2)
    raise AssertionError(f"no istio_requests_total series with {label} on the merged endpoint:\n{text[:3000]}")


def test_annotated_app_metrics_are_merged_with_envoys(cp: RunningControlPlane) -> None:
    """An app annotated prometheus.io/scrape=true (port = its service port) is merged after Envoy's stats and
    the agent's counters; the WorkloadEntry points Prometheus at the endpoint, as Istio's injector does."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run(
            "echo-metrics",
            {"app": "echo"},
            command=_echo("echo-metrics", "--metrics-path", "/metrics"),
            extra_args=["--annotation", "prometheus.io/scrape=true", "--annotation", "prometheus.io/port=9080"],
        )
        httpx.get(f"http://127.0.0.1:{w.state()['ports']['app']['http']}/hello", trust_env=False)
        text = _until_live(w)
        assert "echo_up 1" in text and 'echo_requests_total{path="/hello"} 1' in text, text[-2000:]
        assert text.index("envoy_server_live") < text.index("echo_up 1")
        assert "istio_agent_scrapes_total" in text
        assert 'istio_agent_scrape_failures_total{type="application"} 0' in text
        # A request through the sidecar's inbound listener: Envoy's stats logger counts it, and the endpoint shows
        # it as Istio's series (Istio's names and labels), never the raw envoy_istio_* lines.
        inbound = w.state()["ports"]["inbound"]["http"]
        assert httpx.get(f"http://{w.state()['address']}:{inbound}/via-sidecar", trust_env=False).status_code == 200
        text = _until_istio_series(w, 'reporter="destination"')
        assert "envoy_istio_" not in text
        line = next(x for x in text.splitlines() if x.startswith('istio_requests_total{reporter="destination"'))
        assert 'destination_workload="echo-metrics"' in line and 'response_code="200"' in line, line
        assert 'destination_service="echo.default.svc.cluster.local"' in line and line.endswith(" 1"), line
        entry = mesh.http.get("/apis/networking.istio.io/v1/namespaces/default/workloadentries/echo-metrics").json()
        annotations = entry["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(w.state()["ports"]["stats"])
        assert annotations["prometheus.io/path"] == "/stats/prometheus"
        assert "Prometheus: http://" in w.log()
        wide = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "get", "workloads", "-o", "wide"],
            env={**os.environ, **cp.env()},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        header = wide.splitlines()[0]
        row = next(x for x in wide.splitlines() if x.startswith("echo-metrics "))
        assert row[header.index("STATS") :].split()[0] == str(w.state()["ports"]["stats"]), wide


def test_from_deployment_annotations_and_unannotated_app(cp: RunningControlPlane, tmp_path: Path) -> None:
    """--from takes the pod template's prometheus.io/* annotations; an app without them is never scraped."""
    manifest = tmp_path / "echo.yaml"
    manifest.write_text(SERVICE + "---\n" + DEPLOYMENT)
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        annotated = mesh.run(
            "echo-from",
            {},
            ports=(),
            command=_echo("echo-from", "--metrics-path", "/metrics"),
            extra_args=["--from", str(manifest)],
        )
        plain = mesh.run("echo-plain", {"app": "echo"}, command=_echo("echo-plain", "--metrics-path", "/metrics"))
        assert "echo_up 1" in _until_live(annotated)
        text = _until_live(plain)
        assert "echo_up" not in text and "echo_requests_total" not in text
        # Nothing asked the unannotated app for /metrics: its own count of that path is zero.
        app_port = plain.state()["ports"]["app"]["http"]
        counts = httpx.get(f"http://127.0.0.1:{app_port}/__count", trust_env=False).json()["counts"]
        assert "/metrics" not in counts, counts


@pytest.mark.istio_samples
def test_bookinfo_productpage_metrics_merge_from_istios_own_manifest(cp: RunningControlPlane) -> None:
    """Istio's bookinfo.yaml, unchanged: productpage-v1's pod annotations (scrape, port 9080, /metrics) merge
    productpage's request_result_total into its workload's endpoint, as on Istio's :15020."""
    samples = istio_samples_dir()
    assert samples is not None  # istio_samples: skipped (or failing under CI=true) without them
    with Mesh(cp) as mesh:
        w = mesh.run(
            "productpage-v1",
            {},
            ports=(),
            command=[sys.executable, "-m", "mizzen.samples.bookinfo.productpage", "--port", "{port}"],
            extra_args=["--from", str(samples / "bookinfo.yaml")],
        )
        text = _until_live(w)
        assert "# TYPE request_result_total counter" in text
        assert 'istio_agent_scrape_failures_total{type="application"} 0' in text


def test_dead_app_metrics_port_leaves_envoys_part(cp: RunningControlPlane) -> None:
    """A metrics port nothing listens on costs the scrape only the app's part: Envoy's is served, the failure
    is counted and logged once (not per scrape), and no token appears in that log line."""
    dead = free_port()
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run(
            "echo-dead",
            {"app": "echo"},
            extra_args=["--annotation", "prometheus.io/scrape=true", "--annotation", f"prometheus.io/port={dead}"],
        )
        _until_live(w)
        text = _scrape(w).text
        assert "envoy_server_live" in text and "echo_up" not in text
        failures = next(
            line for line in text.splitlines() if line.startswith('istio_agent_scrape_failures_total{type="applic')
        )
        assert int(failures.rsplit(" ", 1)[1]) >= 2
        log = w.log()
        assert log.count("cannot scrape application metrics") == 1, log
        assert f"127.0.0.1:{dead}/metrics" in log
        assert cp.token not in log
        # The app's metrics port comes up: the next scrape merges it, and the agent says so once.
        with _metrics_server(dead, "late_app_up 1\n"):
            assert "late_app_up 1" in _scrape(w).text
            assert "late_app_up 1" in _scrape(w).text
        assert w.log().count("scraping application metrics works again") == 1


def test_slow_app_times_out_and_envoys_part_is_still_served(cp: RunningControlPlane) -> None:
    """An app that does not answer within the scrape timeout is left out; the answer comes after the timeout
    with Envoy's part, not after the app's delay."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run(
            "echo-slow",
            {"app": "echo"},
            extra_args=["--annotation", "prometheus.io/scrape=true", "--annotation", "prometheus.io/path=/m?delay=30"],
        )
        started = time.monotonic()
        text = _scrape(w).text
        took = time.monotonic() - started
        assert 4.5 < took < 15, took  # the agent's own 5 s bound
        assert 'istio_agent_scrape_failures_total{type="application"} 1' in text
        assert "# TYPE envoy_server_live gauge" in text
        assert "timed out" in w.log()
        assert "delay=30" not in w.log()  # a path's query (it could hold a secret) stays out of log lines
        # Prometheus says how long it waits; the reads end a little before that, Envoy's part in hand.
        started = time.monotonic()
        timed = _scrape(w, {"X-Prometheus-Scrape-Timeout-Seconds": "1.5"}).text
        assert time.monotonic() - started < 3.0
        assert 'istio_agent_scrape_failures_total{type="application"} 2' in timed and "envoy_server_live" in timed


def test_gateway_serves_envoys_part(cp: RunningControlPlane) -> None:
    """`mizzen gateway --stats-port N`: the same endpoint, with Envoy's stats and no app part."""
    with Mesh(cp) as mesh:
        port = free_port()
        gw = mesh.run_gateway(extra_args=["--stats-port", str(port)])
        assert gw.state()["ports"]["stats"] == port
        text = _until_live(gw)
        assert 'istio_agent_scrape_failures_total{type="envoy"}' in text


def test_stats_port_zero_serves_nothing(cp: RunningControlPlane) -> None:
    """--stats-port 0: no endpoint, nothing listens on the port the agent would have used, no annotations."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        fixed = free_port()
        on = mesh.run("echo-fixed", {"app": "echo"}, extra_args=["--stats-port", str(fixed)])
        assert on.state()["ports"]["stats"] == fixed
        assert "envoy_server_live" in _until_live(on)
        off = mesh.run("echo-off", {"app": "echo"}, extra_args=["--stats-port", "0"])
        assert off.state()["ports"]["stats"] is None
        assert "Prometheus:" not in off.log()
        entry = mesh.http.get("/apis/networking.istio.io/v1/namespaces/default/workloadentries/echo-off").json()
        assert not any(k.startswith("prometheus.io/") for k in entry["metadata"]["annotations"])
        off_dump = json.loads(off.admin_get("/server_info").text)["node"]["metadata"]
        on_dump = json.loads(on.admin_get("/server_info").text)["node"]["metadata"]
        assert "MIZZEN_STATS_PORT" not in off_dump
        assert on_dump["MIZZEN_STATS_PORT"] == fixed
        # The agents (two, or one host agent under MIZZEN_HOST_AGENT) listen over TCP on echo-fixed's stats
        # port and nothing else: echo-off's agent adds no port.
        agents = {w.state().get("agentPid", w.state()["pid"]) for w in (on, off)}
        assert set().union(*(_tcp_listen_ports_of(pid) for pid in agents)) == {fixed}


@contextlib.contextmanager
def _metrics_server(port: int, text: str) -> Iterator[None]:
    """A real HTTP server on 127.0.0.1:``port`` answering ``text`` as Prometheus metrics, while in the block."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = text.encode()
            self.send_response(200)
            self.send_header("content-type", "text/plain; version=0.0.4")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _listen_sockets() -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                out.append((fields[9], int(fields[1].rsplit(":", 1)[1], 16)))
    return out


def _tcp_listen_ports_of(pid: int) -> set[int]:
    """The TCP ports process ``pid`` itself listens on (its sockets' inodes matched against /proc/net/tcp)."""
    inodes: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = str(fd.readlink())
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return {port for inode, port in _listen_sockets() if inode in inodes}


def test_metrics_path_too_and_unknown_path_is_404(cp: RunningControlPlane) -> None:
    """/metrics answers like /stats/prometheus (as Istio's status port); other paths are 404, other methods
    405, and a request head over the limit is dropped unanswered."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run("echo-404", {"app": "echo"})
        base = _stats_url(w).removesuffix("/stats/prometheus")
        other = httpx.get(base + "/metrics", trust_env=False)
        assert other.status_code == 200 and "istio_agent_scrapes_total" in other.text
        assert httpx.get(base + "/stats", trust_env=False).status_code == 404
        assert httpx.post(_stats_url(w), trust_env=False).status_code == 405
        host, port = w.state()["address"], w.state()["ports"]["stats"]
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(b"GET /stats/prometheus HTTP/1.1\r\n" + b"x" * 10000)
            try:
                answer = sock.recv(100)
            except ConnectionResetError:  # closed with our bytes unread: the kernel resets
                answer = b""
            assert answer == b""  # over the head limit: closed without an answer
