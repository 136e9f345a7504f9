"""TCP, TLS and gRPC through real Envoy sidecars started by `mizzen run` (issue 4): a weighted `tcp` route
splits connections, `tls` routes pick a backend by SNI without terminating TLS, and a gRPC call is routed by a
header (gRPC metadata) through two sidecars.

None of these clients speaks through the HTTP proxy: the client workload gets explicit local upstream ports
(`mizzen run --upstream tcpecho:7000 --upstream greeter:7070 --upstream front:8443`), as a TCP, TLS or gRPC
app would use them.
"""

from __future__ import annotations

import collections
import re
import socket
import ssl
import sys
import time
from collections.abc import Iterator

import grpc
import pytest

from mizzen.testing import grpcecho
from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.tls import TlsFiles, make_certificates

pytestmark = pytest.mark.e2e

CONFIG = """
apiVersion: v1
kind: Service
metadata: {name: client}
spec: {selector: {app: client}, ports: [{name: http, port: 9080}]}
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
apiVersion: v1
kind: Service
metadata: {name: front}
spec: {selector: {app: front}, ports: [{name: tls, port: 8443}]}
---
apiVersion: v1
kind: Service
metadata: {name: tls-a}
spec: {selector: {app: tls-a}, ports: [{name: tls, port: 8443}]}
---
apiVersion: v1
kind: Service
metadata: {name: tls-b}
spec: {selector: {app: tls-b}, ports: [{name: tls, port: 8443}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: front}
spec:
  hosts: [front, "*.example.com"]
  tls:
  - match: [{port: 8443, sniHosts: [a.example.com]}]
    route: [{destination: {host: tls-a}}]
  - match: [{sniHosts: [b.example.com]}]
    route: [{destination: {host: tls-b}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: tcpecho}
spec:
  host: tcpecho
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: greeter}
spec:
  host: greeter
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: tcpecho}
spec:
  hosts: [tcpecho]
  tcp:
  - route:
    - {destination: {host: tcpecho, subset: v1}, weight: 70}
    - {destination: {host: tcpecho, subset: v2}, weight: 30}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: greeter}
spec:
  hosts: [greeter]
  http:
  - match: [{headers: {x-fail: {exact: "yes"}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: greeter, subset: v1}}]
  - match: [{headers: {x-version: {exact: v2}}}]
    route: [{destination: {host: greeter, subset: v2}}]
  - route: [{destination: {host: greeter, subset: v1}}]
"""


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"), ["a.example.com", "b.example.com"])


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, certs: TlsFiles) -> Iterator[Mesh]:
    with controlplane(tmp_path_factory.mktemp("traffic-tcp-grpc")) as cp, Mesh(cp) as m:
        m.apply(CONFIG)
        for name in ("tls-a", "tls-b"):
            m.run(
                name,
                {"app": name, "version": "v1"},
                ports=("tls=8443",),
                ready_path=None,
                wait=False,
                command=[
                    sys.executable,
                    "-m",
                    "mizzen.testing.tcpecho",
                    "--port",
                    "{port}",
                    "--cert",
                    str(certs.cert),
                    "--key",
                    str(certs.key),
                ],
            )
        for v in ("v1", "v2"):
            m.run(
                f"tcpecho-{v}",
                {"app": "tcpecho", "version": v},
                ports=("tcp=7000",),
                service_account="tcpecho",
                ready_path=None,
                wait=False,
                command=[sys.executable, "-m", "mizzen.testing.tcpecho", "--port", "{port}"],
            )
            m.run(
                f"greeter-{v}",
                {"app": "greeter", "version": v},
                ports=("grpc=7070",),
                ready_path=None,
                wait=False,
                command=[sys.executable, "-m", "mizzen.testing.grpcecho", "--port", "{port}"],
            )
        m.run(
            "client",
            {"app": "client", "version": "v1"},
            wait=False,
            extra_args=("--upstream", "tcpecho:7000", "--upstream", "greeter:7070", "--upstream", "front:8443"),
        )
        m.wait_running(*m.workloads)
        m.wait_synced()
        yield m


def _upstream(client: Workload, host: str) -> int:
    """The client's local port for ``host`` (from `mizzen run --upstream`, allocated by the agent)."""
    found = [u["listenPort"] for u in client.state()["ports"]["upstreams"] if u["host"] == host]
    assert len(found) == 1, client.state()["ports"]
    return int(found[0])


@pytest.fixture(scope="module")
def client(mesh: Mesh) -> Workload:
    return next(w for w in mesh.workloads if w.name == "client")


def _greeting(port: int) -> str:
    """Connect, read the backend's name line, check the echo, close."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        f = s.makefile("rwb")
        name = f.readline().decode().strip()
        f.write(b"ping\n")
        f.flush()
        assert f.readline() == b"ping\n"
        return name


def test_tcp_weighted_route_splits_connections(client: Workload) -> None:
    """A 70/30 tcp route sends about 30% of 200 connections to v2 (±4.5 sigma), the rest to v1."""
    port = _upstream(client, "tcpecho")
    n = 200
    counts = collections.Counter(_greeting(port) for _ in range(n))
    assert set(counts) == {"tcpecho-v1", "tcpecho-v2"}, counts
    assert abs(counts["tcpecho-v2"] - n * 0.3) < 4.5 * (n * 0.3 * 0.7) ** 0.5, counts


def _tcp_series(mesh: Mesh, family: str) -> list[dict[str, str]]:
    """The labels of the client's ``reporter="source"`` series of ``family`` to tcpecho-v1."""
    found = []
    for line in mesh.http.get("/metrics").text.splitlines():
        m = re.match(rf"^{family}\{{(.*)\}} \S+$", line)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))) if m else {}
        if labels.get("reporter") == "source" and labels.get("destination_workload") == "tcpecho-v1":
            found.append(labels)
    return found


def test_tcp_metrics_name_the_principals_of_the_upstream_mtls(mesh: Mesh, client: Workload) -> None:
    """The client sidecar's TCP series (opened and closed alike) carry the SPIFFE ids of the auto-mTLS
    connection to tcpecho, and connection_security_policy unknown, as Istio's client side reports them."""
    port = _upstream(client, "tcpecho")
    deadline = time.monotonic() + 20
    while not _tcp_series(mesh, "istio_tcp_connections_closed_total") and time.monotonic() < deadline:
        _greeting(port)  # 70/30 route: a few connections reach v1
        time.sleep(0.2)
    client_id = "spiffe://cluster.local/ns/default/sa/default"  # `mizzen run`'s default service account
    server_id = "spiffe://cluster.local/ns/default/sa/tcpecho"
    for family in ("istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total"):
        series = _tcp_series(mesh, family)
        assert series, family
        assert {
            (s["source_principal"], s["destination_principal"], s["connection_security_policy"]) for s in series
        } == {(client_id, server_id, "unknown")}, (family, series)


def _tls_greeting(port: int, sni: str, ca: str) -> str:
    """Open TLS with ``sni`` through the client's local port, verify the backend's certificate, read its name."""
    context = ssl.create_default_context(cafile=ca)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=sni) as tls,
    ):
        return tls.makefile("rb").readline().decode().strip()


def test_tls_routes_pick_the_backend_by_sni(client: Workload, certs: TlsFiles) -> None:
    """tls routes: SNI a.example.com reaches tls-a, b.example.com tls-b; TLS is end to end (the backend's
    certificate verifies), the sidecars only read the SNI."""
    port = _upstream(client, "front")
    assert {_tls_greeting(port, "a.example.com", str(certs.ca_cert)) for _ in range(5)} == {"tls-a"}
    assert {_tls_greeting(port, "b.example.com", str(certs.ca_cert)) for _ in range(5)} == {"tls-b"}


def test_grpc_call_routes_by_header_through_two_sidecars(client: Workload) -> None:
    """A gRPC call with metadata x-version: v2 reaches greeter v2; calls without it reach v1."""
    with grpc.insecure_channel(f"127.0.0.1:{_upstream(client, 'greeter')}") as channel:
        hello = channel.unary_unary(grpcecho.METHOD)
        plain = {hello(b"hi", timeout=10) for _ in range(5)}
        v2 = {hello(b"hi", timeout=10, metadata=[("x-version", "v2")]) for _ in range(5)}
    assert plain == {b"v1:hi"}
    assert v2 == {b"v2:hi"}


def test_grpc_abort_fault_returns_the_grpc_status(client: Workload) -> None:
    """fault.abort.grpcStatus UNAVAILABLE: the caller gets that gRPC status from the client sidecar."""
    with grpc.insecure_channel(f"127.0.0.1:{_upstream(client, 'greeter')}") as channel:
        hello = channel.unary_unary(grpcecho.METHOD)
        with pytest.raises(grpc.RpcError) as failed:
            hello(b"hi", timeout=10, metadata=[("x-fail", "yes")])
        assert hello(b"hi", timeout=10) == b"v1:hi"
    assert failed.value.code() == grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
