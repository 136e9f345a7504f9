"""Istio's standard metrics computed by Envoy itself: real sidecars started by `mizzen run` keep
``istio_*`` counters and histograms in their stats access loggers, and ``meshstats.read()`` of each Envoy's
``/stats/prometheus`` gives Istio's labels on both reporters (client: ``source``, server: ``destination``).

HTTP, gRPC and TCP calls go client sidecar -> server sidecar with auto mTLS; a plaintext call enters the
server sidecar directly; a no-route 404 and a fault abort are answered by the client sidecar itself.
"""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Callable, Iterator

import grpc
import httpx
import pytest

from mizzen import meshstats
from mizzen.testing import grpcecho
from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

CONFIG = """
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: tcpecho}
spec: {selector: {app: tcpecho}, ports: [{name: tcp, port: 7000}]}
---
apiVersion: v1
kind: Service
metadata: {name: greeter}
spec: {selector: {app: greeter}, ports: [{name: grpc, port: 7070}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: [web]
  http:
  - match: [{uri: {prefix: /fault}}]
    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
    route: [{destination: {host: web}}]
  - match: [{uri: {prefix: /ok}}]
    route: [{destination: {host: web}}]
"""
CLIENT_ID = "spiffe://cluster.local/ns/default/sa/default"
WEB_ID = "spiffe://cluster.local/ns/default/sa/web"
WEB = "web.default.svc.cluster.local"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    with controlplane(tmp_path_factory.mktemp("stats-logger")) as cp, Mesh(cp) as m:
        m.apply(CONFIG)
        m.run("web-v1", {"app": "web", "version": "v1"}, service_account="web", wait=False)
        m.run(
            "tcpecho-v1",
            {"app": "tcpecho", "version": "v1"},
            ports=("tcp=7000",),
            service_account="tcpecho",
            ready_path=None,
            wait=False,
            command=[sys.executable, "-m", "mizzen.testing.tcpecho", "--port", "{port}"],
        )
        m.run(
            "greeter-v1",
            {"app": "greeter", "version": "v1"},
            ports=("grpc=7070",),
            ready_path=None,
            wait=False,
            command=[sys.executable, "-m", "mizzen.testing.grpcecho", "--port", "{port}"],
        )
        m.run(
            "client",
            {"app": "client", "version": "v1"},
            wait=False,
            extra_args=("--upstream", "tcpecho:7000", "--upstream", "greeter:7070"),
        )
        m.wait_running(*m.workloads)
        m.wait_synced()
        yield m


def _workload(mesh: Mesh, name: str) -> Workload:
    return next(w for w in mesh.workloads if w.name == name)


def _upstream(client: Workload, host: str) -> int:
    found = [u["listenPort"] for u in client.state()["ports"]["upstreams"] if u["host"] == host]
    assert len(found) == 1, client.state()["ports"]
    return int(found[0])


def _reading(w: Workload) -> meshstats.Reading:
    """One scrape of the workload's Envoy, as a reader does it (the contract's admin query)."""
    resp = w.admin_get("/stats/prometheus?" + meshstats.ADMIN_QUERY)
    resp.raise_for_status()
    return meshstats.read(resp.text)


def _series(reading: meshstats.Reading, metric: str, **labels: str) -> dict[meshstats.SeriesKey, float]:
    """Counter series of ``metric`` whose labels include ``labels``."""
    return {
        key: value
        for key, value in reading.counters.items()
        if key.metric == metric and all(key.label_map()[k] == v for k, v in labels.items())
    }


def _wait_for(probe: Callable[[], object], what: str, timeout: float = 15.0) -> object:
    """Poll until ``probe()`` is truthy (Envoy merges histograms at its 1 s stats flush)."""
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found or time.monotonic() > deadline:
            assert found, what
            return found
        time.sleep(0.2)


def _http_labels(reporter: str, **extra: str) -> dict[str, str]:
    """Istio's labels of a client -> web request over the sidecars' mTLS, as each reporter says them."""
    return {
        "reporter": reporter,
        "source_workload": "client",
        "source_workload_namespace": "default",
        "source_app": "client",
        "source_version": "v1",
        "source_canonical_service": "client",
        "source_canonical_revision": "v1",
        "source_cluster": "Kubernetes",
        "source_principal": CLIENT_ID,
        "destination_workload": "web-v1",
        "destination_workload_namespace": "default",
        "destination_app": "web",
        "destination_version": "v1",
        "destination_canonical_service": "web",
        "destination_canonical_revision": "v1",
        "destination_cluster": "Kubernetes",
        "destination_principal": WEB_ID,
        "destination_service": WEB,
        "destination_service_name": "web",
        "destination_service_namespace": "default",
        "request_protocol": "http",
        "grpc_response_status": "",
        "response_flags": "-",
        "connection_security_policy": "unknown" if reporter == "source" else "mutual_tls",
        **extra,
    }


def test_http_requests_are_counted_with_istio_labels_on_both_reporters(mesh: Mesh) -> None:
    """5 requests client -> web: both Envoys count exactly 5 in one series with Istio's full label set, and
    the duration and size histograms hold 5 observations."""
    client, web = _workload(mesh, "client"), _workload(mesh, "web-v1")
    for _ in range(5):
        assert client.get(f"http://web:9080/ok/{time.monotonic_ns()}").status_code == 200
    for side, reporter in ((client, "source"), (web, "destination")):
        labels = _http_labels(reporter, response_code="200")

        def histograms(side: Workload = side, labels: dict[str, str] = labels) -> dict[str, int]:
            reading = _reading(side)
            return {
                k.metric: h.total for k, h in reading.histograms.items() if k.label_map() == labels and h.total == 5
            }

        found = _wait_for(histograms, f"{reporter} histograms")
        assert set(found) == {"istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"}  # type: ignore[arg-type]
        series = _series(_reading(side), "istio_requests_total", reporter=reporter, response_code="200")
        assert [key.label_map() for key in series] == [labels]
        assert list(series.values()) == [5.0]


def test_request_bytes_are_headers_and_body(mesh: Mesh) -> None:
    """istio_request_bytes counts the headers too (Istio's request.total_size): a 1000-byte body makes
    an observation above 1000 bytes."""
    client = _workload(mesh, "client")
    assert client.client().post("http://web:9080/ok/big", content=b"x" * 1000).status_code == 200

    def big() -> bool:
        for key, h in _reading(client).histograms.items():
            if key.metric == "istio_request_bytes" and key.label_map()["reporter"] == "source":
                below_1000 = h.counts[h.bounds.index(1000.0)]
                if h.total - below_1000 >= 1:
                    return True
        return False

    _wait_for(big, "an observation over 1000 bytes")


def test_plaintext_call_is_none_and_unknown_source_on_the_server(mesh: Mesh) -> None:
    """A plaintext request straight to web's sidecar (no client sidecar): connection_security_policy none,
    the source unknown, the destination still web."""
    web = _workload(mesh, "web-v1")
    port = int(web.state()["ports"]["inbound"]["http"])
    with httpx.Client(trust_env=False) as plain:
        assert plain.get(f"http://127.0.0.1:{port}/ok/plain", headers={"host": "web:9080"}).status_code == 200
    series = _wait_for(
        lambda: _series(_reading(web), "istio_requests_total", connection_security_policy="none"), "plaintext series"
    )
    ((key, value),) = series.items()  # type: ignore[attr-defined]
    labels = key.label_map()
    assert value == 1.0
    assert (labels["source_workload"], labels["source_principal"]) == ("unknown", "unknown")
    assert (labels["destination_workload"], labels["destination_service"]) == ("web-v1", WEB)


def test_no_route_and_fault_abort_are_counted_by_the_client(mesh: Mesh) -> None:
    """A no-route 404 (NR) and a fault abort (FI, 418) are answered by the client sidecar, which counts them
    with no destination workload; the abort's route names the cluster, so its service is known, while the
    404's destination_service is the authority's host, as Istio reports them."""
    client = _workload(mesh, "client")
    assert client.get("http://web:9080/nowhere").status_code == 404
    assert client.get("http://web:9080/fault").status_code == 418
    reading = _reading(client)
    for code, flags, service, name in (("404", "NR", "web", "unknown"), ("418", "FI", WEB, "web")):
        series = _series(reading, "istio_requests_total", reporter="source", response_code=code)
        ((key, value),) = series.items()
        labels = key.label_map()
        assert value == 1.0
        assert labels["response_flags"] == flags
        assert (labels["destination_service"], labels["destination_service_name"]) == (service, name)
        assert labels["destination_workload"] == "unknown"
        assert labels["source_workload"] == "client"


def test_grpc_call_has_request_protocol_grpc_and_status(mesh: Mesh) -> None:
    """A gRPC call is request_protocol grpc with grpc_response_status 0 on both reporters."""
    client, greeter = _workload(mesh, "client"), _workload(mesh, "greeter-v1")
    with grpc.insecure_channel(f"127.0.0.1:{_upstream(client, 'greeter')}") as channel:
        assert channel.unary_unary(grpcecho.METHOD)(b"hi", timeout=10) == b"v1:hi"
    for side, reporter in ((client, "source"), (greeter, "destination")):
        series = _series(_reading(side), "istio_requests_total", reporter=reporter, request_protocol="grpc")
        ((key, value),) = series.items()
        labels = key.label_map()
        assert value == 1.0
        assert (labels["grpc_response_status"], labels["response_code"]) == ("0", "200")
        assert (labels["source_workload"], labels["destination_workload"]) == ("client", "greeter-v1")
        assert labels["destination_service"] == "greeter.default.svc.cluster.local"


def _echo(port: int, payload: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        f.readline()  # the backend's name line
        f.write(payload)
        f.flush()
        assert f.readline() == payload


def test_tcp_connections_and_bytes_are_counted_once(mesh: Mesh) -> None:
    """3 TCP connections client -> tcpecho: opened and closed 3 in one series on both reporters, with the mTLS
    principals; the bytes (counted at close) are each connection's, and stay the same on later scrapes."""
    client, server = _workload(mesh, "client"), _workload(mesh, "tcpecho-v1")
    for _ in range(3):
        _echo(_upstream(client, "tcpecho"), b"ping\n")

    def closed(side: Workload, reporter: str) -> dict[meshstats.SeriesKey, float]:
        return _series(_reading(side), "istio_tcp_connections_closed_total", reporter=reporter)

    for side, reporter in ((client, "source"), (server, "destination")):
        _wait_for(lambda side=side, reporter=reporter: sum(closed(side, reporter).values()) == 3, f"{reporter} closed")
        reading = _reading(side)
        opened = _series(reading, "istio_tcp_connections_opened_total", reporter=reporter)
        ((key, value),) = opened.items()
        assert value == 3.0
        assert [k.labels for k in closed(side, reporter)] == [key.labels]  # the same series as opened
        labels = key.label_map()
        assert labels["request_protocol"] == "tcp"
        assert (labels["source_principal"], labels["destination_principal"]) == (
            CLIENT_ID,
            "spiffe://cluster.local/ns/default/sa/tcpecho",
        )
        assert labels["destination_workload"] == "tcpecho-v1"
        assert labels["destination_service"] == "tcpecho.default.svc.cluster.local"
        assert labels["connection_security_policy"] == ("unknown" if reporter == "source" else "mutual_tls")
        sent = _series(reading, "istio_tcp_sent_bytes_total", reporter=reporter)
        received = _series(reading, "istio_tcp_received_bytes_total", reporter=reporter)
        # Each connection: the app sent "ping\n" and got tcpecho's name line and the echo back.
        assert sum(received.values()) == 15.0, received
        assert sum(sent.values()) == 3 * len(b"tcpecho-v1\n" + b"ping\n"), sent
        time.sleep(1.5)  # past another stats flush: nothing is added again
        later = _reading(side)
        assert _series(later, "istio_tcp_sent_bytes_total", reporter=reporter) == sent
        assert _series(later, "istio_tcp_received_bytes_total", reporter=reporter) == received


def test_plaintext_tcp_connection_is_counted_with_security_none(mesh: Mesh) -> None:
    """A plaintext TCP connection straight to tcpecho's sidecar (PERMISSIVE) is proxied at once and counted
    opened and closed with connection_security_policy none and no source principal."""
    server = _workload(mesh, "tcpecho-v1")
    # The client speaks first: under PERMISSIVE the sidecar's TLS inspector waits for its first bytes (Istio's
    # protocol detection; server-first protocols need STRICT or DISABLE).
    with socket.create_connection(("127.0.0.1", int(server.state()["ports"]["inbound"]["tcp"])), timeout=10) as s:
        f = s.makefile("rwb")
        f.write(b"plain\n")
        f.flush()
        assert f.readline() == b"tcpecho-v1\n"
        assert f.readline() == b"plain\n"
        f.close()  # the file keeps the socket open otherwise

    def plain(metric: str) -> dict[meshstats.SeriesKey, float]:
        return _series(_reading(server), metric, reporter="destination", connection_security_policy="none")

    _wait_for(lambda: plain("istio_tcp_connections_closed_total"), "plaintext closed")
    for metric in ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total"):
        ((key, value),) = plain(metric).items()
        assert value == 1.0
        assert (key.label_map()["source_principal"], key.label_map()["destination_workload"]) == (
            "unknown",
            "tcpecho-v1",
        )


def test_the_control_plane_relays_the_same_text(mesh: Mesh) -> None:
    """The control plane's admin relay (what `mizzen proxy-config stats` and a control-plane reader use)
    passes the contract's query through: the client's Istio series are there."""
    client = _workload(mesh, "client")
    assert client.get("http://web:9080/ok/relay").status_code == 200
    query = dict(p.partition("=")[::2] for p in meshstats.ADMIN_QUERY.split("&"))
    resp = mesh.http.get("/api/mizzen/v1/proxies/client.default/admin/stats/prometheus", params=query)
    resp.raise_for_status()
    assert all(line.startswith(("envoy_istio_", "# TYPE envoy_istio_")) for line in resp.text.splitlines() if line)
    assert _series(meshstats.read(resp.text), "istio_requests_total", reporter="source", response_code="200")
