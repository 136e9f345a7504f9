"""Mutual TLS on Bookinfo through real sidecars (issue 12): auto mTLS by default, Istio's "Mutual TLS
Migration" task (PERMISSIVE then STRICT), ``destination-rule-all-mtls.yaml``, a foreign CA refused,
and plaintext to a workload without a sidecar.

One control plane, the six Bookinfo workloads (``mizzen run`` of the Bookinfo apps), the ingress
gateway and a plain echo server without sidecar are shared by the module. Istio's sample files are
applied unchanged. mTLS is checked on the wire: Envoy's ``ssl`` statistics through the agent's admin
socket, and hand-written TLS clients against a sidecar's inbound port.
"""

from __future__ import annotations

import datetime
import http.client
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mizzen.samples.bookinfo.demo_plan import WORKLOADS, workload_argv
from mizzen.security import x509
from mizzen.security.ca import MeshCA
from mizzen.security.spiffe import SpiffeId
from mizzen.testing.controlplane import RunningControlPlane, controlplane, free_port
from mizzen.testing.echo import serve
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.samples import istio_samples_dir
from mizzen.testing.tls import TlsFiles, make_certificates

pytestmark = [pytest.mark.e2e, pytest.mark.istio_samples]  # Istio's own Bookinfo files, applied unchanged

DETAILS = "details.default.svc.cluster.local"
STRICT = """
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: default}
spec: {mtls: {mode: STRICT}}
"""
PA_PATH = "/apis/security.istio.io/v1/namespaces/default/peerauthentications/default"
ONE_REQUEST_PER_CONNECTION = """
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: details}
spec:
  host: details
  trafficPolicy: {connectionPool: {http: {maxRequestsPerConnection: 1}}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""
SLEEP_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: sleep}
spec: {selector: {app: sleep}, ports: [{name: http, port: 9080}]}
"""


def _gateway_service(listen_port: int) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: istio-ingressgateway, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  ports: [{{name: http2, port: 8080, targetPort: {listen_port}}}]
"""


def _plain_service(port: int) -> str:
    """An app without a sidecar: a WorkloadEntry with no ``security.istio.io/tlsMode`` label (its service
    account is registered, yet it presents no certificate, so metrics must not name it)."""
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: plain}}
spec: {{selector: {{app: plain}}, ports: [{{name: http, port: 9080}}]}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: plain}}
spec: {{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{app: plain}}, serviceAccount: plain}}
"""


class Bookinfo:
    """The running mesh and what the tests read from it."""

    def __init__(self, cp: RunningControlPlane, mesh: Mesh, gateway_port: int, samples: Path) -> None:
        self.cp, self.mesh, self.gateway_port, self.samples = cp, mesh, gateway_port, samples

    def apply_sample(self, name: str) -> None:
        self.mesh.apply((self.samples / name).read_text(), file=name)

    def workload(self, name: str) -> Workload:
        return next(w for w in self.mesh.workloads if w.name == name)

    def inbound_port(self, name: str) -> int:
        """The sidecar's inbound port of ``name`` (what clients without a sidecar connect to)."""
        return int(self.workload(name).state()["ports"]["inbound"]["http"])

    def page(self) -> httpx.Response:
        """GET /productpage through the ingress gateway (gateway -> productpage -> details, reviews)."""
        with httpx.Client(timeout=20, trust_env=False) as c:
            return c.get(f"http://127.0.0.1:{self.gateway_port}/productpage")

    def stat(self, workload: str, pattern: str) -> int:
        """The sum of the workload's Envoy counters whose name matches ``pattern`` (a regex)."""
        text = self.workload(workload).admin_get("/stats", {"filter": pattern}).text
        return sum(int(v) for _, v in re.findall(r"^(\S+): (\d+)$", text, re.M))

    def ca(self) -> MeshCA:
        return MeshCA.plugged(self.cp.home / "ca")


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bookinfo]:
    samples = istio_samples_dir()
    assert samples is not None  # istio_samples: skipped (or an error under CI=true) without them
    plain = serve(free_port(), workload="plain")
    threading.Thread(target=plain.serve_forever, daemon=True).start()
    try:
        with controlplane(tmp_path_factory.mktemp("mtls")) as cp, Mesh(cp) as mesh:
            b = Bookinfo(cp, mesh, free_port(), samples)
            for name in (
                "bookinfo.yaml",
                "destination-rule-all.yaml",
                "bookinfo-gateway.yaml",
                "virtual-service-all-v1.yaml",
            ):
                b.apply_sample(name)
            mesh.apply(_gateway_service(b.gateway_port), file="gateway-service.yaml")
            mesh.apply(_plain_service(plain.server_address[1]), file="plain.yaml")
            for w in WORKLOADS:
                argv = workload_argv(sys.executable, w)
                mesh.run(
                    w.name,
                    {"app": w.app, "version": w.version},
                    service_account=w.service_account,
                    command=argv[argv.index("--") + 1 :],
                    wait=False,
                )
            mesh.run_gateway(labels={"istio": "ingressgateway", "app": "istio-ingressgateway"})
            mesh.wait_running(*mesh.workloads, timeout=90)
            mesh.wait_synced(30)
            yield b
    finally:
        plain.shutdown()
        plain.server_close()


def _page_ok(b: Bookinfo, timeout: float = 20.0) -> httpx.Response:
    """Wait until the product page renders with details and reviews (config pushes land asynchronously)."""
    deadline = time.monotonic() + timeout
    resp = b.page()
    while time.monotonic() < deadline and not (resp.status_code == 200 and "Book Details" in resp.text):
        time.sleep(0.5)
        resp = b.page()
    assert resp.status_code == 200, resp.text[:500]
    assert "Book Details" in resp.text and "Book Reviews" in resp.text
    assert "Error fetching product details" not in resp.text and "unavailable" not in resp.text
    return resp


def _plain_get(port: int) -> int:
    """A plaintext client without a sidecar calling a sidecar's inbound port: the status, or 0 if refused."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/details/0")
        return conn.getresponse().status
    except (ConnectionError, http.client.HTTPException, OSError):
        return 0
    finally:
        conn.close()


def _tls_get(port: int, cert: bytes, key: bytes, roots: bytes, tmp: Path) -> int:
    """An mTLS client with ``cert``/``key`` (offering Istio's ALPN): the status, or 0 if refused."""
    (tmp / "c.pem").write_bytes(cert)
    (tmp / "k.pem").write_bytes(key)
    (tmp / "r.pem").write_bytes(roots)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # workload certificates carry a SPIFFE URI, no DNS name
    ctx.load_verify_locations(str(tmp / "r.pem"))
    ctx.load_cert_chain(str(tmp / "c.pem"), str(tmp / "k.pem"))
    ctx.set_alpn_protocols(["istio-peer-exchange", "istio"])
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
            tls.sendall(b"GET /details/0 HTTP/1.1\r\nHost: details\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    except (ssl.SSLError, ConnectionError, OSError):
        return 0
    match = re.match(rb"HTTP/1\.1 (\d{3})", data)
    return int(match.group(1)) if match else 0


def _leaf(ca_cert: bytes, ca_key: bytes, uri: str) -> tuple[bytes, bytes]:
    key = x509.generate_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = x509.sign_leaf(
        ca_cert,
        ca_key,
        key,
        uris=[uri],
        not_before=now - datetime.timedelta(minutes=1),
        not_after=now + datetime.timedelta(hours=1),
    )
    return cert, key


def _mesh_leaf(
    b: Bookinfo, namespace: str, sa: str, ttl: datetime.timedelta | None = None
) -> tuple[bytes, bytes, datetime.datetime]:
    """A workload certificate from the mesh CA itself (the positive control for the refusals): chain, key, expiry."""
    key = x509.generate_key()
    identity = SpiffeId("cluster.local", namespace, sa)
    issued = b.ca().sign_workload(x509.make_csr(key, [identity.uri]), identity, ttl)
    return issued.chain_pem, key, x509.cert_info(issued.chain_pem).not_after


def test_auto_mtls_by_default_on_the_wire(bookinfo: Bookinfo) -> None:
    """With no DestinationRule TLS or PeerAuthentication, sidecar-to-sidecar calls are mTLS handshakes."""
    for _ in range(3):
        _page_ok(bookinfo)
    # virtual-service-all-v1.yaml routes to the v1 subsets; destination-rule-all.yaml sets no TLS.
    details_v1 = rf"cluster\.outbound\|9080\|v1\|{re.escape(DETAILS)}\.ssl\.handshake"
    assert bookinfo.stat("productpage-v1", details_v1) > 0, "productpage's sidecar made no TLS handshake to details"
    assert bookinfo.stat("details-v1", r"^listener\..*\.ssl\.handshake") > 0
    assert bookinfo.stat("details-v1", r"http\.inbound_.*\.downstream_cx_ssl_total") > 0
    assert bookinfo.stat("istio-ingressgateway", r"cluster\.outbound\|9080\|\|productpage.*\.ssl\.handshake") > 0


def test_mutual_tls_migration(bookinfo: Bookinfo) -> None:
    """PERMISSIVE: a plaintext client without sidecar gets 200; STRICT: it is refused, mesh clients get 200."""
    port = bookinfo.inbound_port("details-v1")
    assert _plain_get(port) == 200
    bookinfo.mesh.apply(STRICT, file="strict.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        deadline = time.monotonic() + 15
        while _plain_get(port) != 0 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _plain_get(port) == 0
        _page_ok(bookinfo)
    finally:
        bookinfo.mesh.delete(PA_PATH)
        bookinfo.mesh.wait_synced(30)
    assert _plain_get(port) == 200


def test_strict_refuses_a_certificate_from_another_ca(bookinfo: Bookinfo, tmp_path: Path) -> None:
    """Under STRICT a client certificate of another CA (same SPIFFE ID) is refused; the mesh CA's is served."""
    port = bookinfo.inbound_port("details-v1")
    roots = (bookinfo.cp.home / "ca" / "root-cert.pem").read_bytes()
    other_key = x509.generate_key()
    other_root = x509.create_root("not-the-mesh", other_key)
    foreign = _leaf(other_root, other_key, "spiffe://cluster.local/ns/default/sa/bookinfo-productpage")
    bookinfo.mesh.apply(STRICT, file="strict.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        assert _tls_get(port, *foreign, roots, tmp_path) == 0
        cert, key, _ = _mesh_leaf(bookinfo, "default", "sleep")
        assert _tls_get(port, cert, key, roots, tmp_path) == 200
    finally:
        bookinfo.mesh.delete(PA_PATH)
        bookinfo.mesh.wait_synced(30)


def test_an_expired_workload_certificate_stops_working(bookinfo: Bookinfo, tmp_path: Path) -> None:
    """A mesh certificate with a 3 s lifetime is served under STRICT, then refused once it has expired."""
    port = bookinfo.inbound_port("details-v1")
    roots = (bookinfo.cp.home / "ca" / "root-cert.pem").read_bytes()
    bookinfo.mesh.apply(STRICT, file="strict.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        cert, key, expiry = _mesh_leaf(bookinfo, "default", "sleep", datetime.timedelta(seconds=3))
        assert _tls_get(port, cert, key, roots, tmp_path) == 200
        time.sleep(max(0.0, (expiry - datetime.datetime.now(datetime.UTC)).total_seconds()) + 1.5)
        assert _tls_get(port, cert, key, roots, tmp_path) == 0
    finally:
        bookinfo.mesh.delete(PA_PATH)
        bookinfo.mesh.wait_synced(30)


def test_destination_rule_all_mtls_is_mtls_on_the_wire(bookinfo: Bookinfo) -> None:
    """Istio's destination-rule-all-mtls.yaml: subset clusters carry ISTIO_MUTUAL and handshake."""
    bookinfo.apply_sample("destination-rule-all-mtls.yaml")
    bookinfo.mesh.wait_synced(30)
    reviews_v1 = r"cluster\.outbound\|9080\|v1\|reviews\.default\.svc\.cluster\.local\.ssl\.handshake"
    before = bookinfo.stat("productpage-v1", reviews_v1)
    for _ in range(3):
        _page_ok(bookinfo)
    assert bookinfo.stat("productpage-v1", reviews_v1) > before
    dump = bookinfo.workload("productpage-v1").admin_get("/config_dump", {"resource": "dynamic_active_clusters"})
    cluster = next(
        c["cluster"]
        for c in dump.json()["configs"]
        if c["cluster"]["name"] == "outbound|9080|v1|reviews.default.svc.cluster.local"
    )
    sni = cluster["transport_socket"]["typed_config"]["sni"]
    assert sni == "outbound_.9080_.v1_.reviews.default.svc.cluster.local"


def test_workload_without_sidecar_gets_plaintext(bookinfo: Bookinfo) -> None:
    """A WorkloadEntry without the tlsMode label gets plaintext from a client sidecar (auto mTLS)."""
    client = bookinfo.workload("productpage-v1")
    resp = client.get("http://plain:9080/hello")
    assert resp.status_code == 200, resp.text
    assert resp.json()["workload"] == "plain"
    eds = client.admin_get("/clusters", {"format": "json"}).json()
    plain = next(c for c in eds["cluster_statuses"] if c["name"] == "outbound|9080||plain.default.svc.cluster.local")
    assert plain["host_statuses"], plain
    assert bookinfo.stat("productpage-v1", r"cluster\.outbound\|9080\|\|plain\..*\.ssl\.handshake") == 0


def _source_series(b: Bookinfo, destination_workload: str, source: str = "productpage-v1") -> list[dict[str, str]]:
    """The labels of every ``reporter="source"`` 200 series of istio_requests_total from ``source``'s proxy."""
    series = []
    for line in b.mesh.http.get("/metrics").text.splitlines():
        m = re.match(r"^istio_requests_total\{(.*)\} \S+$", line)
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1))) if m else {}
        if (
            labels.get("reporter") == "source"
            and labels.get("source_workload") == source
            and labels.get("destination_workload") == destination_workload
            and labels.get("response_code") == "200"
        ):
            series.append(labels)
    return series


def _settled_series(
    b: Bookinfo, destination_workload: str, source: str = "productpage-v1", timeout: float = 20.0
) -> list[dict[str, str]]:
    """The source-side series once the access-log stream delivered at least one (poll with a deadline)."""
    deadline = time.monotonic() + timeout
    while not (series := _source_series(b, destination_workload, source)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return series


def test_client_side_metrics_name_the_identity_tls_verified(bookinfo: Bookinfo) -> None:
    """reporter="source" series carry the principals of the upstream connection (details' certificate,
    productpage's own; the gateway's own and productpage's) and connection_security_policy unknown, as
    Istio's client-side stats do; the plaintext call to the workload without sidecar leaves both unknown."""
    _page_ok(bookinfo)
    client = bookinfo.workload("productpage-v1")
    assert client.get("http://details:9080/details/0").status_code == 200
    assert client.get("http://plain:9080/hello").status_code == 200
    mtls = _settled_series(bookinfo, "details-v1")
    assert mtls, "no source-side series for productpage -> details"
    assert {(s["source_principal"], s["destination_principal"], s["connection_security_policy"]) for s in mtls} == {
        (
            "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
            "spiffe://cluster.local/ns/default/sa/bookinfo-details",
            "unknown",
        )
    }, mtls
    plain = _settled_series(bookinfo, "plain")
    assert plain, "no source-side series for productpage -> plain"
    assert {(s["source_principal"], s["destination_principal"], s["connection_security_policy"]) for s in plain} == {
        ("unknown", "unknown", "unknown")
    }, plain
    gateway = _settled_series(bookinfo, "productpage-v1", source="istio-ingressgateway")
    assert gateway, "no source-side series for the gateway -> productpage"
    for s in gateway:
        assert s["source_principal"].startswith("spiffe://cluster.local/ns/istio-system/sa/"), s
        assert s["destination_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-productpage", s
        assert s["connection_security_policy"] == "unknown", s


def _origination(port: int, ca: Path) -> str:
    """Istio's egress TLS origination: the app speaks HTTP on port 80, the sidecar originates TLS (SIMPLE)."""
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: secure-example}}
spec:
  hosts: [secure.example]
  location: MESH_EXTERNAL
  resolution: STATIC
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  endpoints: [{{address: 127.0.0.1, ports: {{http: {port}}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: secure-example}}
spec:
  host: secure.example
  trafficPolicy: {{tls: {{mode: SIMPLE, caCertificates: {ca}, sni: secure.example}}}}
"""


@pytest.fixture
def tls_backend(tmp_path: Path) -> Iterator[tuple[int, TlsFiles]]:
    """An HTTPS echo server for secure.example (certificate from a test CA)."""
    files = make_certificates(tmp_path / "tls", ["secure.example"])
    server = serve(free_port(), workload="secure")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(files.cert), str(files.key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1], files
    finally:
        server.shutdown()
        server.server_close()


def test_egress_tls_origination_validates_with_the_file_ca(
    bookinfo: Bookinfo, tls_backend: tuple[int, TlsFiles], tmp_path: Path
) -> None:
    """DR SIMPLE with caCertificates originates TLS verified by that file's CA, and fails with another CA."""
    # The agent serves the file as Istio's SDS name file-root:<ca>.
    port, files = tls_backend
    client = bookinfo.workload("productpage-v1")
    bookinfo.mesh.apply(_origination(port, files.ca_cert), file="origination.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        resp = client.get("http://secure.example/hello")
        assert resp.status_code == 200, resp.text
        assert resp.json()["workload"] == "secure"
        other = make_certificates(tmp_path / "other", ["secure.example"])
        bookinfo.mesh.apply(_origination(port, other.ca_cert), file="origination.yaml")
        bookinfo.mesh.wait_synced(30)
        deadline = time.monotonic() + 20
        while (status := client.get("http://secure.example/hello").status_code) == 200 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 503
    finally:
        bookinfo.mesh.delete("/apis/networking.istio.io/v1/namespaces/default/destinationrules/secure-example")
        bookinfo.mesh.delete("/apis/networking.istio.io/v1/namespaces/default/serviceentries/secure-example")


def test_the_peer_identity_reaches_rbac(bookinfo: Bookinfo, tmp_path: Path) -> None:
    """An ALLOW policy for productpage's principal admits productpage and refuses other identities (403)."""
    policy = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: details-viewer, namespace: default}
spec:
  selector: {matchLabels: {app: details}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/bookinfo-productpage]}}]}]
"""
    port = bookinfo.inbound_port("details-v1")
    roots = (bookinfo.cp.home / "ca" / "root-cert.pem").read_bytes()
    bookinfo.mesh.apply(policy, file="details-viewer.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        deadline = time.monotonic() + 15
        while _plain_get(port) != 403 and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _plain_get(port) == 403
        cert, key, _ = _mesh_leaf(bookinfo, "default", "sleep")
        assert _tls_get(port, cert, key, roots, tmp_path) == 403
        _page_ok(bookinfo)
    finally:
        bookinfo.mesh.delete("/apis/security.istio.io/v1/namespaces/default/authorizationpolicies/details-viewer")
        bookinfo.mesh.wait_synced(30)


def test_a_revoked_workload_loses_mtls_within_its_certificate_ttl(
    bookinfo: Bookinfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under STRICT a revoked workload's new connections fail once its last certificate (5 s TTL) expires."""
    # TLS checks certificates at the handshake (in Envoy, so in Istio too), so the DestinationRule makes every
    # request a new connection; an established connection would outlive the certificate.
    monkeypatch.setenv("MIZZEN_SECRET_TTL", "5s")
    bookinfo.mesh.apply(SLEEP_SERVICE + "---\n" + ONE_REQUEST_PER_CONNECTION, file="sleep.yaml")
    sleep = bookinfo.mesh.run("sleep", {"app": "sleep"}, service_account="sleep")
    bookinfo.mesh.apply(STRICT, file="strict.yaml")
    try:
        bookinfo.mesh.wait_synced(30)
        assert sleep.get("http://details:9080/details/0").status_code == 200
        done = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "token", "revoke", sleep.state()["credential"]],
            env={**os.environ, **bookinfo.cp.env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        revoked = time.monotonic()
        while (status := sleep.get("http://details:9080/details/0").status_code) == 200:
            assert time.monotonic() - revoked < 15, "the revoked workload still reaches details after 3 TTLs"
            time.sleep(0.5)
        assert status == 503
        _page_ok(bookinfo)
    finally:
        sleep.stop()
        bookinfo.mesh.workloads.remove(sleep)
        bookinfo.mesh.delete(PA_PATH)
        bookinfo.apply_sample("destination-rule-all.yaml")
        bookinfo.mesh.wait_synced(30)
