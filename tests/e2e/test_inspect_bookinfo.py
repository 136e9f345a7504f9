"""``mizzen proxy-status``, ``proxy-config`` and ``describe`` against Bookinfo on real Envoys (issue 6).

One control plane, the six Bookinfo workloads (``mizzen run`` of the Bookinfo apps) and an ingress
gateway are shared by the module. Istio's own sample files are applied unchanged; the only extra object
is the gateway's Service (in Istio it comes with the installation), which moves the gateway's port 8080
to a free port. The CLI runs as a subprocess, so the assertions see exactly what users see.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from mizzen.samples.bookinfo.demo_plan import WORKLOADS, gateway_argv, workload_argv
from mizzen.testing.controlplane import RunningControlPlane, controlplane, free_port
from mizzen.testing.mesh import Mesh, MeshError, Workload
from mizzen.testing.samples import istio_samples_dir

pytestmark = [pytest.mark.e2e, pytest.mark.istio_samples]  # Istio's own Bookinfo files, applied unchanged

GATEWAY_ID = "istio-ingressgateway.istio-system"
BOOKINFO_IDS = {f"{w.name}.default" for w in WORKLOADS}
TYPES = ("CDS", "LDS", "EDS", "RDS")
# Envoy rejects this route (RE2 program size 34005 over the bootstrap's limit of 32768) although it is a
# valid VirtualService; sourceLabels scope it to productpage's sidecar.
NACK_REGEX = "/" + "[a-z]{1000}" * 34
NACK_VS = f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: details}}
spec:
  hosts: [details]
  http:
  - match:
    - uri: {{regex: "{NACK_REGEX}"}}
      sourceLabels: {{app: productpage}}
    route: [{{destination: {{host: details, subset: v1}}}}]
  - route: [{{destination: {{host: details, subset: v1}}}}]
"""


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
    """The running mesh plus helpers to run the CLI and apply Istio's sample files."""

    def __init__(self, cp: RunningControlPlane, mesh: Mesh, gateway_port: int) -> None:
        self.cp = cp
        self.mesh = mesh
        self.gateway_port = gateway_port
        found = istio_samples_dir()
        assert found is not None  # istio_samples: the module is skipped (or fails under CI=true) without them
        self.samples = found

    def apply_sample(self, name: str) -> None:
        self.mesh.apply((self.samples / name).read_text(), file=name)

    def mizzen(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``python -m mizzen.cli.main ARGS`` against this control plane."""
        return subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", *args],
            env={**os.environ, **self.cp.env()},
            text=True,
            capture_output=True,
            timeout=60,
            check=False,
        )

    def ok(self, *args: str) -> str:
        """Run the CLI and return stdout, failing the test on a non-zero exit."""
        done = self.mizzen(*args)
        assert done.returncode == 0, f"mizzen {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done.stdout

    def workload(self, name: str) -> Workload:
        return next(w for w in self.mesh.workloads if w.name == name)


def _start_gateway(cp: RunningControlPlane, mesh: Mesh) -> Workload:
    """``mizzen gateway`` as the demo starts it, stopped with the mesh."""
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


def _wait_proxy(mesh: Mesh, proxy_id: str, gw: Workload, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while mesh.proxy(proxy_id) is None:
        if gw.process.poll() is not None or time.monotonic() > deadline:
            raise MeshError(f"{proxy_id} did not connect:\n{gw.log()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def bookinfo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bookinfo]:
    home: Path = tmp_path_factory.mktemp("inspect")
    with controlplane(home) as cp, Mesh(cp) as mesh:
        b = Bookinfo(cp, mesh, free_port())
        for name in (
            "bookinfo.yaml",
            "destination-rule-all.yaml",
            "bookinfo-gateway.yaml",
            "virtual-service-all-v1.yaml",
        ):
            b.apply_sample(name)
        mesh.apply(_gateway_service(b.gateway_port), file="gateway-service.yaml")
        for w in WORKLOADS:
            argv = workload_argv(sys.executable, w)
            mesh.run(
                w.name,
                {"app": w.app, "version": w.version},
                service_account=w.service_account,
                command=argv[argv.index("--") + 1 :],
                wait=False,
            )
        gw = _start_gateway(cp, mesh)
        for wl in mesh.workloads[:-1]:
            mesh._wait_running(wl, 60)
        _wait_proxy(mesh, GATEWAY_ID, gw)
        mesh.wait_synced(30)
        yield b


def _rows(table: str) -> list[list[str]]:
    """Split a table printed with istioctl's padding (two or more spaces between columns)."""
    return [re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.strip()]


def _status_table(b: Bookinfo, *args: str) -> dict[str, dict[str, str]]:
    rows = _rows(b.ok("ps", *args))
    header = rows[0]
    assert header[:6] == ["NAME", "CLUSTER", *TYPES], header
    return {r[0]: dict(zip(header, r, strict=False)) for r in rows[1:]}


def test_ps_shows_every_proxy_synced(bookinfo: Bookinfo) -> None:
    """Every Bookinfo sidecar and the gateway are listed, SYNCED on CDS, LDS, EDS and RDS."""
    table = _status_table(bookinfo)
    assert set(table) == BOOKINFO_IDS | {GATEWAY_ID}
    for proxy, row in table.items():
        for t in TYPES:
            assert row[t].startswith("SYNCED"), (proxy, t, row)
        assert row["VERSION"].startswith("1.40"), row


def test_ps_namespace_filter_and_machine_output(bookinfo: Bookinfo) -> None:
    """-n keeps one namespace; -o json and -o yaml carry each proxy's per-type status."""
    assert set(_status_table(bookinfo, "-n", "istio-system")) == {GATEWAY_ID}
    items = json.loads(bookinfo.ok("ps", "-o", "json"))
    assert {p["id"] for p in items} == BOOKINFO_IDS | {GATEWAY_ID}
    assert all(p["xds"][t]["status"] == "SYNCED" for p in items for t in TYPES)
    as_yaml = yaml.safe_load(bookinfo.ok("ps", "-n", "default", "-o", "yaml"))
    assert {p["id"] for p in as_yaml} == BOOKINFO_IDS


def test_ps_for_one_proxy_in_sync_prints_matches(bookinfo: Bookinfo) -> None:
    """proxy-status <proxy> compares generated and live config: all three sections match (sidecar, gateway)."""
    lines = bookinfo.ok("proxy-status", "productpage-v1.default").splitlines()
    assert lines[0] == "Clusters Match"
    assert lines[1] == "Listeners Match"
    assert re.fullmatch(r"Routes Match \(RDS last loaded at .+\)", lines[2]), lines
    gateway = bookinfo.ok("ps", GATEWAY_ID).splitlines()
    assert gateway[:2] == ["Clusters Match", "Listeners Match"] and gateway[2].startswith("Routes Match"), gateway


def _wait_status(b: Bookinfo, proxy_id: str, xds_type: str, status: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        p = b.mesh.proxy(proxy_id)
        if p is not None and p["xds"][xds_type]["status"] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"{proxy_id} {xds_type} not {status}: {b.mesh.proxy(proxy_id)}")


def test_nacked_route_shows_error_for_that_proxy_only(bookinfo: Bookinfo) -> None:
    """A route Envoy rejects: productpage's RDS is ERROR with the NACK message, the rest stay SYNCED,
    and proxy-status productpage-v1 shows the routes Envoy did not take as a diff."""
    bookinfo.mesh.apply(NACK_VS, file="nack.yaml")
    try:
        _wait_status(bookinfo, "productpage-v1.default", "RDS", "ERROR")
        bookinfo.mesh.wait_synced(allow_errors=True)
        table = _status_table(bookinfo)
        for proxy, row in table.items():
            for t in TYPES:
                expected = "ERROR" if (proxy, t) == ("productpage-v1.default", "RDS") else "SYNCED"
                assert row[t].startswith(expected), (proxy, t, row)
        wide = _status_table(bookinfo, "-o", "wide")
        assert "RE2 program size" in wide["productpage-v1.default"]["ERRORS"]
        assert wide["details-v1.default"]["ERRORS"] == "-"

        diff = bookinfo.ok("ps", "productpage-v1")
        assert "Clusters Match" in diff and "Listeners Match" in diff
        assert "Routes Don't Match" in diff
        assert "--- Mizzen Routes" in diff and "+++ Envoy Routes" in diff
        assert re.search(r'^-\s+"regex": "/\[a-z\]\{1000\}', diff, re.M), diff[:3000]
        assert "RE2 program size" in diff  # the NACK that explains the difference
        assert "Routes Match" in bookinfo.ok("ps", "details-v1")
    finally:
        bookinfo.apply_sample("virtual-service-all-v1.yaml")
        bookinfo.mesh.wait_synced()
    assert _status_table(bookinfo)["productpage-v1.default"]["RDS"].startswith("SYNCED")


def _wait_acked(b: Bookinfo, proxy_id: str, xds_type: str, timeout: float = 20.0) -> None:
    """Until the proxy ACKed the control plane's current version of one type."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        x = (b.mesh.proxy(proxy_id) or {}).get("xds", {}).get(xds_type, {})
        if x.get("status") == "SYNCED" and x.get("versionAcked") == x.get("snapshotVersion"):
            return
        time.sleep(0.1)
    raise AssertionError(f"{proxy_id} {xds_type} not ACKed: {b.mesh.proxy(proxy_id)}")


def test_paused_envoy_shows_stale_until_it_acks(bookinfo: Bookinfo) -> None:
    """A push that an Envoy has not ACKed yet (its process paused) shows STALE for that proxy only."""
    envoy_pid = int(bookinfo.workload("ratings-v1").state()["envoyPid"])
    os.kill(envoy_pid, signal.SIGSTOP)
    try:
        bookinfo.apply_sample("virtual-service-reviews-v3.yaml")
        _wait_status(bookinfo, "ratings-v1.default", "RDS", "STALE")
        _wait_acked(bookinfo, "reviews-v1.default", "RDS")
        table = _status_table(bookinfo)
        assert table["ratings-v1.default"]["RDS"].startswith("STALE"), table["ratings-v1.default"]
        assert table["reviews-v1.default"]["RDS"].startswith("SYNCED"), table["reviews-v1.default"]
    finally:
        os.kill(envoy_pid, signal.SIGCONT)
        bookinfo.apply_sample("virtual-service-all-v1.yaml")
    bookinfo.mesh.wait_synced()
    assert _status_table(bookinfo)["ratings-v1.default"]["RDS"].startswith("SYNCED")


def test_pc_cluster_lists_subset_clusters_with_destination_rule(bookinfo: Bookinfo) -> None:
    """Cluster rows follow istioctl's columns; --fqdn/--port/--subset/--direction filter; -o json."""
    rows = _rows(bookinfo.ok("pc", "cluster", "productpage-v1"))
    assert rows[0] == ["SERVICE FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION RULE"]
    assert ["reviews.default.svc.cluster.local", "9080", "v1", "outbound", "EDS", "reviews.default"] in rows
    assert ["BlackHoleCluster", "-", "-", "-", "STATIC"] in rows

    only = _rows(bookinfo.ok("pc", "cluster", "productpage-v1", "--fqdn", "reviews", "--subset", "v2"))
    assert only[1:] == [["reviews.default.svc.cluster.local", "9080", "v2", "outbound", "EDS", "reviews.default"]]
    inbound = _rows(bookinfo.ok("pc", "cluster", "productpage-v1", "--direction", "inbound"))
    assert [r[-3:] for r in inbound[1:]] == [["-", "inbound", "STATIC"]]
    assert _rows(bookinfo.ok("pc", "cluster", "productpage-v1", "--port", "9081"))[1:] == []

    clusters = json.loads(bookinfo.ok("pc", "cluster", "productpage-v1", "--fqdn", "reviews", "-o", "json"))
    names = {c["name"] for c in clusters}
    assert "outbound|9080|v1|reviews.default.svc.cluster.local" in names
    assert all("reviews" in n for n in names)


def test_pc_route_shows_the_virtual_service(bookinfo: Bookinfo) -> None:
    """After virtual-service-all-v1.yaml the reviews route names reviews.default; --name filters."""
    rows = _rows(bookinfo.ok("pc", "route", "productpage-v1"))
    assert rows[0] == ["NAME", "VHOST NAME", "DOMAINS", "MATCH", "VIRTUAL SERVICE"]
    reviews = [r for r in rows if r[1] == "reviews.default.svc.cluster.local:9080"]
    assert reviews == [
        [
            "http_proxy",
            "reviews.default.svc.cluster.local:9080",
            "reviews, reviews.default + 1 more...",
            "/*",
            "reviews.default",
        ]
    ]
    named = _rows(bookinfo.ok("pc", "route", "productpage-v1", "--name", "http_proxy"))
    assert {r[0] for r in named[1:]} == {"http_proxy"}
    # The gateway's RDS is named after the port it listens on (Service targetPort), as in Istio.
    gw = _rows(bookinfo.ok("pc", "route", GATEWAY_ID, "--name", f"http.{bookinfo.gateway_port}"))
    assert [r[2:] for r in gw if r[3] == "/productpage"] == [["*", "/productpage", "bookinfo.default"]], gw


def test_pc_endpoint_shows_the_reviews_v1_endpoint(bookinfo: Bookinfo) -> None:
    """The v1 subset cluster has exactly reviews-v1's sidecar inbound address, HEALTHY."""
    inbound = bookinfo.workload("reviews-v1").state()
    cluster = "outbound|9080|v1|reviews.default.svc.cluster.local"
    rows = _rows(bookinfo.ok("pc", "endpoint", "productpage-v1", "--cluster", cluster))
    assert rows[0] == ["ENDPOINT", "STATUS", "OUTLIER CHECK", "CLUSTER"]
    assert len(rows) == 2, rows
    endpoint, status, outlier, name = rows[1]
    assert (status, outlier, name) == ("HEALTHY", "OK", cluster)
    assert endpoint.endswith(f":{_inbound_port(inbound)}"), (endpoint, inbound)


def _inbound_port(state: dict[str, object]) -> int:
    """The sidecar inbound port the agent registered for service port ``http``."""
    ports = state["ports"]
    assert isinstance(ports, dict), state
    return int(ports["inbound"]["http"])


def test_pc_listener_bootstrap_secret_and_all(bookinfo: Bookinfo) -> None:
    """Listener rows name the RDS config; bootstrap -o short prints versions; secret lists the mTLS secrets."""
    listeners = _rows(bookinfo.ok("pc", "listener", "productpage-v1"))
    assert listeners[0] == ["ADDRESSES", "PORT", "MATCH", "DESTINATION"]
    proxy_port = bookinfo.workload("productpage-v1").http_proxy.rsplit(":", 1)[1]
    assert ["127.0.0.1", proxy_port, "ALL", "Route: http_proxy"] in listeners
    only = _rows(bookinfo.ok("pc", "listener", "productpage-v1", "--port", proxy_port, "--type", "http"))
    assert only[1:] == [["127.0.0.1", proxy_port, "ALL", "Route: http_proxy"]]

    short = bookinfo.ok("pc", "bootstrap", "productpage-v1", "-o", "short")
    assert re.search(r"^Envoy Version:\s+1\.40\.\d+$", short, re.M), short
    # Auto mTLS: the workload certificate and the mesh root from the agent, active, as istioctl lists them.
    secrets = {r[0]: r[1:4] for r in _rows(bookinfo.ok("pc", "secret", "productpage-v1"))[1:]}
    assert secrets == {"default": ["Cert Chain", "ACTIVE", "true"], "ROOTCA": ["CA", "ACTIVE", "true"]}

    everything = bookinfo.ok("pc", "all", "productpage-v1")
    for header in ("SERVICE FQDN", "ADDRESSES", "VHOST NAME", "ENDPOINT"):
        assert header in everything
    assert "outbound|9080|v1|reviews.default.svc.cluster.local" in everything


def test_pc_log_changes_envoy_levels(bookinfo: Bookinfo) -> None:
    """pc log --level debug reaches Envoy's /logging; --reset puts it back to warning."""
    workload = bookinfo.workload("reviews-v3")

    def live() -> str:
        with workload.admin() as admin:
            return admin.post("/logging").text

    try:
        out = bookinfo.ok("pc", "log", "reviews-v3", "--level", "debug")
        assert "router: debug" in out
        assert "  router: debug" in live() and "  http: debug" in live()
        bookinfo.ok("pc", "log", "reviews-v3", "--level", "router:trace")
        assert "  router: trace" in live() and "  http: debug" in live()
    finally:
        bookinfo.ok("pc", "log", "reviews-v3", "--reset")
    assert "  router: warning" in live()
    bad = bookinfo.mizzen("pc", "log", "reviews-v3", "--level", "loud")
    assert bad.returncode == 2 and "loud" in bad.stderr


def test_unknown_proxy_is_an_error(bookinfo: Bookinfo) -> None:
    """Asking about a proxy that is not connected exits 1 with one line naming it; the admin relay refuses
    endpoints outside its whitelist."""
    for args in (("pc", "cluster", "nosuch"), ("ps", "nosuch.default")):
        done = bookinfo.mizzen(*args)
        assert done.returncode == 1, (args, done)
        assert done.stdout == ""
        assert 'proxy "nosuch' in done.stderr and "not connected" in done.stderr, done.stderr

    # The admin relay is a whitelist: Envoy's write endpoints other than /logging stay unreachable.
    resp = bookinfo.mesh.http.post("/api/mizzen/v1/proxies/productpage-v1.default/admin/quitquitquit")
    assert resp.status_code == 403 and "/quitquitquit is not exposed" in resp.json()["message"]
    assert bookinfo.mesh.proxy("productpage-v1.default") is not None


def test_describe_reviews_v2_warns_about_the_v1_route(bookinfo: Bookinfo) -> None:
    """describe workload reviews-v2 after all-v1 prints istioctl's non-matching-subset warning."""
    text = bookinfo.ok("describe", "workload", "reviews-v2")
    assert "Service: reviews" in text
    assert 'DestinationRule: reviews for "reviews"' in text
    assert "   Matching subsets: v2" in text
    assert "VirtualService: reviews" in text
    assert "   WARNING: No destinations match pod subsets (checked 1 HTTP routes)" in text
    assert "      Route to non-matching subset v1 for (everything)" in text


def test_describe_follows_the_virtual_service_the_proxy_uses(bookinfo: Bookinfo) -> None:
    """A second, newer VirtualService for reviews is ignored by the mesh (the oldest wins), and describe
    reports only the one the proxy's routes came from."""
    shadow = """
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews-shadow}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: v2}}]}]
"""
    bookinfo.mesh.apply(shadow, file="shadow.yaml")
    try:
        bookinfo.mesh.wait_synced()
        text = bookinfo.ok("describe", "workload", "reviews-v2")
        assert "VirtualService: reviews\n" in text and "reviews-shadow" not in text
        assert "Route to non-matching subset v1 for (everything)" in text
    finally:
        bookinfo.mesh.delete("/apis/networking.istio.io/v1/namespaces/default/virtualservices/reviews-shadow")
        bookinfo.mesh.wait_synced()


def test_describe_service_reviews_covers_each_workload(bookinfo: Bookinfo) -> None:
    """describe service reviews describes v1 (reached) and v2/v3 (warned)."""
    text = bookinfo.ok("describe", "service", "reviews")
    assert text.count("Workload: reviews-v") == 3
    assert "Route to subset v1 (everything)" in text
    assert text.count("WARNING: No destinations match pod subsets") == 2
    missing = bookinfo.mizzen("describe", "service", "nosuch")
    assert missing.returncode == 1 and 'service "nosuch" not found' in missing.stderr


def test_describe_productpage_shows_gateway_exposure(bookinfo: Bookinfo) -> None:
    """productpage is exposed on the running ingress gateway at its real address, with bookinfo's matches."""
    text = bookinfo.ok("describe", "workload", "productpage-v1")
    assert f"Exposed on Ingress Gateway http://127.0.0.1:{bookinfo.gateway_port}" in text
    assert "VirtualService: bookinfo" in text
    assert "/productpage, /static*, /login, /logout, /api/v1/products*" in text
    page = httpx.get(f"http://127.0.0.1:{bookinfo.gateway_port}/productpage", timeout=30, trust_env=False)
    assert page.status_code == 200


def test_disconnected_proxy_disappears(bookinfo: Bookinfo) -> None:
    """A stopped workload's proxy leaves proxy-status."""
    extra = bookinfo.mesh.run("ratings-v9", {"app": "ratings", "version": "v9"})
    assert "ratings-v9.default" in _status_table(bookinfo)
    extra.stop()
    deadline = time.monotonic() + 20
    while bookinfo.mesh.proxy("ratings-v9.default") is not None:
        assert time.monotonic() < deadline, "ratings-v9 still connected after it stopped"
        time.sleep(0.1)
    assert set(_status_table(bookinfo)) == BOOKINFO_IDS | {GATEWAY_ID}
