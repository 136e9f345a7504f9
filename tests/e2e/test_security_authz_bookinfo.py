"""Istio's task "Authorization for HTTP traffic" on Bookinfo, through real sidecars and the ingress gateway.

One control plane runs productpage, details, reviews v3 (the version that shows ratings, so every page
calls ratings as the task's pages do) and ratings, each with its sidecar and Bookinfo's service account,
plus the ingress gateway. Istio's sample files are applied unchanged, then the task's policies
(``security_tasks/authz-http.yaml``, verbatim) one by one; each test applies exactly the policies of
its step and checks the product page a browser gets through the gateway, with the error the task shows.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from security_mesh import path_of, settle, task_documents

from mizzen.samples.bookinfo.demo_plan import STAR, WORKLOADS, gateway_argv, workload_argv
from mizzen.testing.controlplane import RunningControlPlane, controlplane, free_port
from mizzen.testing.mesh import Mesh, MeshError, Workload
from mizzen.testing.samples import istio_samples_dir

pytestmark = [pytest.mark.e2e, pytest.mark.istio_samples]  # Istio's own Bookinfo files, applied unchanged

GATEWAY_ID = "istio-ingressgateway.istio-system"
RUNNING = ("productpage-v1", "details-v1", "reviews-v3", "ratings-v1")
POLICIES = ("allow-nothing", "productpage-viewer", "details-viewer", "reviews-viewer", "ratings-viewer")
DETAILS_ERROR = "Error fetching product details"
REVIEWS_ERROR = "Error fetching product reviews"
RATINGS_ERROR = "Ratings service is currently unavailable"


def _gateway_service(listen_port: int) -> str:
    """The installation's gateway Service: Gateway port 8080 binds ``listen_port`` (Istio's targetPort)."""
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: istio-ingressgateway, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  ports: [{{name: http2, port: 8080, targetPort: {listen_port}}}]
"""


class Bookinfo:
    """The running mesh, the page through the gateway, and the task's policies by step."""

    def __init__(self, cp: RunningControlPlane, mesh: Mesh, gateway_port: int, samples: Path) -> None:
        self.cp, self.mesh, self.samples = cp, mesh, samples
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=30.0, trust_env=False)
        self.policies = task_documents("authz-http.yaml")
        self.applied: set[str] = set()

    def step(self, n: int) -> None:
        """Exactly the task's first ``n`` policies, applied in order (later ones deleted)."""
        for i, name in enumerate(POLICIES):
            if i < n and name not in self.applied:
                self.mesh.apply(self.policies[i], file="authz-http.yaml")
                self.applied.add(name)
            elif i >= n and name in self.applied:
                self.mesh.delete(path_of("AuthorizationPolicy", "default", name))
                self.applied.discard(name)
        self.mesh.wait_synced(30)

    def page(self) -> httpx.Response:
        return self.http.get("/productpage")

    def mizzen(self, *args: str) -> str:
        """The CLI's stdout against this control plane (a non-zero exit fails the test)."""
        done = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", *args],
            env={**os.environ, **self.cp.env()},
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, f"mizzen {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout


def _start_gateway(cp: RunningControlPlane, mesh: Mesh) -> Workload:
    log_path = cp.home / "logs" / "test-gateway.out"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            gateway_argv(sys.executable),
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **cp.env()},
            start_new_session=True,
        )
    gw = Workload("istio-ingressgateway", "istio-system", proc, cp.home, log_path)
    mesh.workloads.append(gw)
    return gw


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bookinfo]:
    samples = istio_samples_dir()
    assert samples is not None  # istio_samples: the module is skipped (or fails under CI=true) without them
    with controlplane(tmp_path_factory.mktemp("authz-http")) as cp, Mesh(cp) as mesh:
        b = Bookinfo(cp, mesh, free_port(), samples)
        for name in ("bookinfo.yaml", "bookinfo-gateway.yaml"):
            mesh.apply((samples / name).read_text(), file=name)
        mesh.apply(_gateway_service(int(b.http.base_url.port or 0)), file="gateway-service.yaml")
        for w in (w for w in WORKLOADS if w.name in RUNNING):
            argv = workload_argv(sys.executable, w)
            mesh.run(
                w.name,
                {"app": w.app, "version": w.version},
                service_account=w.service_account,
                command=argv[argv.index("--") + 1 :],
                wait=False,
            )
        gw = _start_gateway(cp, mesh)
        mesh.wait_running(*mesh.workloads[:-1])
        deadline = time.monotonic() + 60
        while mesh.proxy(GATEWAY_ID) is None:
            if gw.process.poll() is not None or time.monotonic() > deadline:
                raise MeshError(f"{GATEWAY_ID} did not connect:\n{gw.log()}")
            time.sleep(0.1)
        mesh.wait_synced(30)
        _wait_accepting(int(b.http.base_url.port or 0))
        try:
            yield b
        finally:
            b.http.close()


def _wait_accepting(port: int, timeout: float = 30.0) -> None:
    """Until the gateway's listener accepts connections: its config ACKed is not yet its listener bound (a full
    run's first page request was refused right after the proxies were synced)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _full_page(r: httpx.Response) -> bool:
    return (
        r.status_code == 200
        and STAR in r.text
        and not any(e in r.text for e in (DETAILS_ERROR, REVIEWS_ERROR, RATINGS_ERROR))
    )


def test_without_policies_the_page_is_complete(bookinfo: Bookinfo) -> None:
    """Before the task: the product page has details, reviews and ratings (red stars from v3)."""
    bookinfo.step(0)
    settle(lambda: _full_page(bookinfo.page()), "a complete product page")


def test_allow_nothing_denies_the_product_page(bookinfo: Bookinfo) -> None:
    """allow-nothing: the gateway's request to productpage gets Envoy's 403 "RBAC: access denied"."""
    bookinfo.step(1)
    settle(lambda: bookinfo.page().status_code == 403, "403 for /productpage")
    r = bookinfo.page()
    assert r.text == "RBAC: access denied", r.text


def test_productpage_viewer_shows_the_page_with_details_and_reviews_errors(bookinfo: Bookinfo) -> None:
    """productpage-viewer: the page renders, but productpage may not call details or reviews."""
    bookinfo.step(2)

    def both_errors() -> bool:
        r = bookinfo.page()
        return r.status_code == 200 and DETAILS_ERROR in r.text and REVIEWS_ERROR in r.text

    settle(both_errors, "the page with 'Error fetching product details' and '... reviews'")


def test_details_viewer_lets_productpage_read_details_only(bookinfo: Bookinfo) -> None:
    """details-viewer admits productpage's SPIFFE ID at details: details show, reviews still fail."""
    bookinfo.step(3)

    def details_only() -> bool:
        r = bookinfo.page()
        return r.status_code == 200 and DETAILS_ERROR not in r.text and REVIEWS_ERROR in r.text

    settle(details_only, "details shown, reviews still failing")


def test_reviews_viewer_shows_reviews_but_ratings_are_unavailable(bookinfo: Bookinfo) -> None:
    """reviews-viewer: reviews render, but reviews may not call ratings ("Ratings service is currently
    unavailable" on the page)."""
    bookinfo.step(4)

    def ratings_unavailable() -> bool:
        r = bookinfo.page()
        return r.status_code == 200 and REVIEWS_ERROR not in r.text and RATINGS_ERROR in r.text

    settle(ratings_unavailable, "reviews shown, ratings unavailable")


def test_ratings_viewer_completes_the_page(bookinfo: Bookinfo) -> None:
    """ratings-viewer admits reviews' identity at ratings: the page is complete again, stars included."""
    bookinfo.step(5)
    settle(lambda: _full_page(bookinfo.page()), "a complete product page under the five policies")


def test_describe_lists_the_rbac_policies_a_workload_enforces(bookinfo: Bookinfo) -> None:
    """describe workload prints the RBAC policies its sidecar's inbound filters hold (istioctl's line)."""
    bookinfo.step(5)
    out = bookinfo.mizzen("describe", "workload", "details-v1")
    line = next((x for x in out.splitlines() if "RBAC policies:" in x), "")
    assert re.search(r"ns\[default\]-policy\[details-viewer\]-rule\[0\]", line), out
    assert "productpage-viewer" not in line, out


def test_describe_and_secret_show_the_enforced_mtls_and_the_certificates(bookinfo: Bookinfo) -> None:
    """describe prints the mode details' inbound listener enforces (PERMISSIVE by default: mTLS and
    plaintext chains); proxy-config secret lists the workload certificate and the mesh root, both valid."""
    out = bookinfo.mizzen("describe", "workload", "details-v1").splitlines()
    assert "   Workload mTLS mode: PERMISSIVE" in out, out
    rows = [re.split(r"\s{2,}", line.strip()) for line in bookinfo.mizzen("pc", "secret", "details-v1").splitlines()]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["default"][1:4] == ["Cert Chain", "ACTIVE", "true"], rows
    assert by_name["ROOTCA"][1:4] == ["CA", "ACTIVE", "true"], rows


def _requests_total(b: Bookinfo, **labels: str) -> float:
    text = b.mesh.http.get("/metrics").text
    total = 0.0
    for line in text.splitlines():
        m = re.match(r"^istio_requests_total\{(.*)\} (\S+)$", line)
        if m and all(f'{k}="{v}"' in m.group(1) for k, v in labels.items()):
            total += float(m.group(2))
    return total


def test_metrics_and_graph_show_mtls_identities_and_denials(bookinfo: Bookinfo) -> None:
    """Under productpage-viewer, details' sidecar reports productpage's denied calls as Istio does
    (reporter destination, 403, both SPIFFE principals, connection_security_policy mutual_tls), so does
    productpage's (reporter source: the same principals, from its upstream connection, and policy
    unknown), and the graph's productpage -> details edge is mTLS with denied requests."""
    bookinfo.step(2)
    settle(lambda: DETAILS_ERROR in bookinfo.page().text, "details denied")
    denied = {
        "reporter": "destination",
        "source_workload": "productpage-v1",
        "destination_workload": "details-v1",
        "response_code": "403",
        "source_principal": "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
        "destination_principal": "spiffe://cluster.local/ns/default/sa/bookinfo-details",
        "connection_security_policy": "mutual_tls",
    }
    settle(lambda: _requests_total(bookinfo, **denied) > 0, "the denied calls in istio_requests_total", in_a_row=1)
    client_side = {**denied, "reporter": "source", "connection_security_policy": "unknown"}
    settle(lambda: _requests_total(bookinfo, **client_side) > 0, "the client side of the denied calls", in_a_row=1)
    details = "service:details.default.svc.cluster.local"

    def edge() -> dict[str, object]:
        edges = bookinfo.mesh.http.get("/api/mizzen/v1/graph").json()["edges"]
        return next((e for e in edges if e["source"] == details and "details-v1" in e["target"]), {})

    settle(lambda: int(str(edge().get("denied") or 0)) > 0, "denied requests on the details edge", in_a_row=1)
    assert edge()["security"] == "mutual_tls", edge()
