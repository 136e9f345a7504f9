"""Istio's ingress-gateway semantics through a real `mizzen gateway` Envoy (issue 5, item 1).

One control plane, two echo backends (alpha, beta) with sidecars and one `mizzen gateway` process are
shared by the module. Each test applies its Gateways and VirtualServices on free ports it picks, waits
until every proxy ACKed them, and talks to the gateway with plain HTTP(S) clients, as a user's curl would.
Bookinfo's own gateway file is covered by tests/e2e/test_demo_bookinfo.py.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mizzen.testing.controlplane import CliResult, RunningControlPlane, cli_runner, controlplane, free_port
from mizzen.testing.mesh import Mesh, MeshError
from mizzen.testing.tls import TlsFiles, make_certificates, make_client_certificate
from mizzen.testing.waits import until_created_in_the_past

pytestmark = pytest.mark.e2e

GATEWAY_ID = "istio-ingressgateway.istio-system"
BACKENDS = """
apiVersion: v1
kind: Service
metadata: {name: alpha}
spec: {selector: {app: alpha}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: beta}
spec: {selector: {app: beta}, ports: [{name: http, port: 9080}]}
"""


def gateway(name: str, servers: str, namespace: str = "default") -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
{servers}"""


def server(port: int, hosts: str, name: str = "http", protocol: str = "HTTP", tls: str = "") -> str:
    out = f"  - port: {{number: {port}, name: {name}, protocol: {protocol}}}\n    hosts: {hosts}\n"
    return out + (f"    tls: {tls}\n" if tls else "")


def vs(name: str, hosts: str, gateways: str | None, http: str, namespace: str = "default") -> str:
    gws = f"  gateways: {gateways}\n" if gateways is not None else ""
    return f"""apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: {hosts}
{gws}  http:
{http}"""


def to(backend: str, prefix: str | None = None) -> str:
    """One http route to a backend service (optionally only for a path prefix)."""
    match = f"  - match: [{{uri: {{prefix: {prefix}}}}}]\n    " if prefix else "  - "
    return f"{match}route: [{{destination: {{host: {backend}.default.svc.cluster.local, port: {{number: 9080}}}}}}]\n"


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


class Gateway:
    """The `mizzen gateway` subprocess and plain clients for its ports."""

    def __init__(self, cp: RunningControlPlane, log_path: Path) -> None:
        args = [
            sys.executable,
            "-m",
            "mizzen.cli.main",
            "gateway",
            "--name",
            "istio-ingressgateway",
            "-n",
            "istio-system",
            "--labels",
            "istio=ingressgateway",
            "--address",
            "127.0.0.1",
        ]
        self.cp = cp
        self.log_path = log_path
        with open(log_path, "wb") as out:
            self.process = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **cp.env()}, start_new_session=True
            )

    def stop(self) -> None:
        """SIGTERM the gateway's process group (its pid), SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def get(
        self,
        port: int,
        host: str,
        path: str = "/",
        *,
        scheme: str = "http",
        verify: ssl.SSLContext | bool = False,
        sni: str | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        """One request to 127.0.0.1:<port> with ``Host: host``; retries briefly while the listener warms."""
        deadline = time.monotonic() + (5.0 if retry else 0.0)
        while True:
            try:
                with httpx.Client(verify=verify, trust_env=False, timeout=10.0) as c:
                    ext = {"sni_hostname": sni} if sni else None
                    return c.get(f"{scheme}://127.0.0.1:{port}{path}", headers={"Host": host}, extensions=ext)
            except httpx.ConnectError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def backend(self, port: int, host: str, path: str = "/") -> str:
        """Which workload answered (or the HTTP status when it was not 200)."""
        r = self.get(port, host, path)
        return str(r.json()["workload"]) if r.status_code == 200 else str(r.status_code)

    def listeners(self, mesh: Mesh) -> set[str]:
        """Names of the listeners Envoy is actually running (its admin config_dump, relayed)."""
        dump = mesh.http.get(f"/api/mizzen/v1/proxies/{GATEWAY_ID}/admin/config_dump").json()
        section = next(c for c in dump["configs"] if c["@type"].endswith("ListenersConfigDump"))
        return {item["name"] for item in section.get("dynamic_listeners", []) if "active_state" in item}


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, Gateway]]:
    home: Path = tmp_path_factory.mktemp("gateway")
    with controlplane(home) as cp, Mesh(cp) as m:
        m.apply(BACKENDS)
        m.run("alpha", {"app": "alpha", "version": "v1"})
        m.run("beta", {"app": "beta", "version": "v1"})
        gw = Gateway(cp, home / "gateway.log")
        try:
            deadline = time.monotonic() + 30
            while m.proxy(GATEWAY_ID) is None:
                if gw.process.poll() is not None or time.monotonic() > deadline:
                    raise MeshError(f"the gateway did not connect:\n{gw.log_path.read_text(errors='replace')}")
                time.sleep(0.1)
            m.wait_synced()
            yield m, gw
        finally:
            gw.stop()


@pytest.fixture
def mesh(env: tuple[Mesh, Gateway]) -> Iterator[Mesh]:
    """The shared mesh; every Gateway, VirtualService and Secret a test made is deleted afterwards."""
    m = env[0]
    yield m
    for plural, base in (
        ("virtualservices", "/apis/networking.istio.io/v1"),
        ("gateways", "/apis/networking.istio.io/v1"),
        ("secrets", "/api/v1"),
    ):
        for item in m.http.get(f"{base}/{plural}").json()["items"]:
            meta = item["metadata"]
            m.delete(f"{base}/namespaces/{meta['namespace']}/{plural}/{meta['name']}")
    _wait_removed(m)


def _wait_removed(m: Mesh, timeout: float = 20.0) -> None:
    """Wait until every proxy ACKed the deletions. The gateway's RDS is left out: when its listeners go,
    Envoy unsubscribes from their routes and the (incremental) RDS sub-stream has nothing left to send, so
    its last ACKed version never equals the new snapshot version that `Mesh.wait_synced` looks for."""
    target = m.revision()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = m.proxies()
        if (
            state["converged"]
            and state["pushedRevision"] >= target
            and all(
                x["status"] == "NOT SENT" or (x["status"] == "SYNCED" and x["versionAcked"] == x["snapshotVersion"])
                for p in state["items"]
                for t, x in p["xds"].items()
                if t in ("CDS", "LDS", "EDS") or (t == "RDS" and p["id"] != GATEWAY_ID)
            )
        ):
            return
        time.sleep(0.05)
    raise MeshError(f"deletions not ACKed after {timeout}s: {json.dumps(m.proxies())[:2000]}")


@pytest.fixture
def gw(env: tuple[Mesh, Gateway]) -> Gateway:
    return env[1]


def test_listener_per_port_and_vhosts_from_server_and_vs_hosts(mesh: Mesh, gw: Gateway) -> None:
    """Each server port gets a listener; a host routes only where a server admits it and a bound VS names it."""
    p1, p2 = free_port(), free_port()
    mesh.apply(
        docs(
            gateway("gw", server(p1, "[a.example.com, b.example.com]") + server(p2, "[b.example.com]", name="http-b")),
            vs("va", "[a.example.com]", "[gw]", to("alpha")),
            vs("vb", "[b.example.com]", "[gw]", to("beta")),
            vs("vc", "[c.example.com]", "[gw]", to("alpha")),
        )
    )
    mesh.wait_synced()
    assert {f"0.0.0.0_{p1}", f"0.0.0.0_{p2}"} <= gw.listeners(mesh)
    assert gw.backend(p1, "a.example.com") == "alpha"
    assert gw.backend(p1, "b.example.com") == "beta"
    assert gw.backend(p1, "c.example.com") == "404"  # bound VS, but no server on the port admits the host
    assert gw.backend(p2, "b.example.com") == "beta"
    assert gw.backend(p2, "a.example.com") == "404"  # the second server only has b.example.com


def test_gateways_sharing_a_port_share_its_listener(mesh: Mesh, gw: Gateway) -> None:
    """Two Gateways with HTTP servers on one port are merged into one listener; each VS sees only its gateway."""
    port = free_port()
    mesh.apply(
        docs(
            gateway("g1", server(port, "[a.example.com]", name="http-a")),
            gateway("g2", server(port, "[b.example.com]", name="http-b"), namespace="istio-system"),
            vs("va", "[a.example.com]", "[g1]", to("alpha")),
            vs("vb", "['*']", "[istio-system/g2]", to("beta")),
        )
    )
    mesh.wait_synced()
    assert f"0.0.0.0_{port}" in gw.listeners(mesh)
    assert gw.backend(port, "a.example.com") == "alpha"
    assert gw.backend(port, "b.example.com") == "beta"  # vb's "*" narrowed to g2's host
    assert gw.backend(port, "c.example.com") == "404"


def test_no_matching_route_or_no_vs_is_404(mesh: Mesh, gw: Gateway) -> None:
    """A path no route matches is 404 (like Bookinfo's gateway); a server with no bound VS answers 404."""
    p1, p2 = free_port(), free_port()
    mesh.apply(
        docs(
            gateway("gw", server(p1, "['*']") + server(p2, "['*']", name="http-empty")),
            vs("va", "['*']", "[gw]", to("alpha", "/alpha")),
        )
    )
    mesh.wait_synced()
    assert gw.backend(p1, "anything.example.com", "/alpha/x") == "alpha"
    assert gw.backend(p1, "anything.example.com", "/other") == "404"
    assert gw.backend(p2, "anything.example.com") == "404"


def test_virtual_services_on_one_host_merge_in_creation_order(mesh: Mesh, gw: Gateway) -> None:
    """Two VSs for one host on one gateway are merged: routes of both work, older VS first, catch-all last."""
    port = free_port()
    # Named so that name order is the opposite of creation order.
    mesh.apply(
        docs(
            gateway("gw", server(port, "[shop.example.com]")),
            vs("zz-first", "[shop.example.com]", "[gw]", to("alpha", "/x") + to("alpha")),
        )
    )
    until_created_in_the_past(mesh.http, "/apis/networking.istio.io/v1/namespaces/default/virtualservices/zz-first")
    mesh.apply(vs("aa-second", "[shop.example.com]", "[gw]", to("beta", "/x/y") + to("beta", "/only-second")))
    mesh.wait_synced()
    assert gw.backend(port, "shop.example.com", "/only-second") == "beta"  # the first VS's catch-all went last
    assert gw.backend(port, "shop.example.com", "/x/y") == "alpha"  # the older VS's /x comes first
    assert gw.backend(port, "shop.example.com", "/elsewhere") == "alpha"


def test_gateway_binding_by_namespace_and_short_name(mesh: Mesh, gw: Gateway) -> None:
    """`gateways: [ns/name]` and a short name (the VS's own namespace) bind; other VSs do not touch the gateway."""
    port = free_port()
    mesh.apply(
        docs(
            gateway("edge", server(port, "['*']"), namespace="istio-system"),
            vs("qualified", "[q.example.com]", "[istio-system/edge]", to("alpha")),
            vs("short-here", "[s.example.com]", "[edge]", to("beta"), namespace="istio-system"),
            vs("short-elsewhere", "[e.example.com]", "[edge]", to("alpha")),  # means default/edge: no such gateway
            vs("mesh-only", "[m.example.com]", None, to("alpha")),
        )
    )
    mesh.wait_synced()
    assert gw.backend(port, "q.example.com") == "alpha"
    assert gw.backend(port, "s.example.com") == "beta"
    assert gw.backend(port, "e.example.com") == "404"
    assert gw.backend(port, "m.example.com") == "404"


def test_https_redirect_answers_301_to_https(mesh: Mesh, gw: Gateway) -> None:
    """`tls.httpsRedirect: true` on an HTTP server answers 301 with an https:// Location, not the backend."""
    port = free_port()
    mesh.apply(
        docs(
            gateway("gw", server(port, "[a.example.com]", tls="{httpsRedirect: true}")),
            vs("va", "[a.example.com]", "[gw]", to("alpha")),
        )
    )
    mesh.wait_synced()
    r = gw.get(port, "a.example.com", "/some/path?q=1")
    assert r.status_code == 301, r.text
    assert r.headers["location"] == "https://a.example.com/some/path?q=1"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_certificates(tmp_path_factory.mktemp("certs"), ["a.example.com", "b.example.com"])


def _mizzen(cp: RunningControlPlane, *args: str) -> CliResult:
    """`mizzen ARGS` against the module's control plane (in-process, click's runner)."""
    return cli_runner(cp.env())(*args)


def test_https_with_credential_name(mesh: Mesh, gw: Gateway, certs: TlsFiles) -> None:
    """HTTPS SIMPLE with a `mizzen create secret tls` credential terminates TLS (CA-verified, SNI = host);
    a server whose credential is missing is not served until the secret exists, and nothing else breaks."""
    port = free_port()
    created = _mizzen(
        mesh.cp,
        "create",
        "secret",
        "tls",
        "my-cred",
        "--cert",
        str(certs.cert),
        "--key",
        str(certs.key),
        "-n",
        "istio-system",
    )
    assert created.exit_code == 0 and created.stdout.strip() == "secret/my-cred created", created
    tls_a = "{mode: SIMPLE, credentialName: my-cred}"
    tls_b = "{mode: SIMPLE, credentialName: missing-cred}"
    mesh.apply(
        docs(
            gateway(
                "gw",
                server(port, "[a.example.com]", "https-a", "HTTPS", tls_a)
                + server(port, "[b.example.com]", "https-b", "HTTPS", tls_b),
            ),
            vs("va", "[a.example.com]", "[gw]", to("alpha")),
            vs("vb", "[b.example.com]", "[gw]", to("beta")),
        )
    )
    mesh.wait_synced()  # no NACK: the missing credential must not break the gateway's config
    verify = ssl.create_default_context(cafile=str(certs.ca_cert))
    r = gw.get(port, "a.example.com", scheme="https", verify=verify, sni="a.example.com")
    assert r.status_code == 200 and r.json()["workload"] == "alpha"
    with pytest.raises(httpx.ConnectError):  # no filter chain for SNI b.example.com: the handshake fails
        gw.get(port, "b.example.com", scheme="https", verify=verify, sni="b.example.com", retry=False)

    secrets = _mizzen(mesh.cp, "pc", "secret", GATEWAY_ID)
    assert secrets.exit_code == 0, secrets.stderr
    row = next(line.split() for line in secrets.stdout.splitlines() if line.startswith("kubernetes://my-cred"))
    assert row[1:4] == ["Cert", "Chain", "ACTIVE"], secrets.stdout
    assert row[4] == "true" and len(row) == 8, secrets.stdout  # VALID CERT, SERIAL NUMBER, NOT AFTER, NOT BEFORE
    assert "missing-cred" not in secrets.stdout

    assert (
        _mizzen(
            mesh.cp,
            "create",
            "secret",
            "tls",
            "missing-cred",
            "--cert",
            str(certs.cert),
            "--key",
            str(certs.key),
            "-n",
            "istio-system",
        ).exit_code
        == 0
    )
    mesh.wait_synced()
    r = gw.get(port, "b.example.com", scheme="https", verify=verify, sni="b.example.com")
    assert r.status_code == 200 and r.json()["workload"] == "beta"


def test_mutual_tls_requires_a_client_certificate(mesh: Mesh, gw: Gateway, certs: TlsFiles) -> None:
    """MUTUAL with a secret carrying ca.crt (`create secret tls --ca-cert`) admits only clients the CA signed."""
    port = free_port()
    assert (
        _mizzen(
            mesh.cp,
            "create",
            "secret",
            "tls",
            "mtls-cred",
            "--cert",
            str(certs.cert),
            "--key",
            str(certs.key),
            "--ca-cert",
            str(certs.ca_cert),
            "-n",
            "istio-system",
        ).exit_code
        == 0
    )
    mesh.apply(
        docs(
            gateway(
                "gw", server(port, "[a.example.com]", "https", "HTTPS", "{mode: MUTUAL, credentialName: mtls-cred}")
            ),
            vs("va", "[a.example.com]", "[gw]", to("alpha")),
        )
    )
    mesh.wait_synced()
    client_cert, client_key = make_client_certificate(certs, "client")
    with_cert = ssl.create_default_context(cafile=str(certs.ca_cert))
    with_cert.load_cert_chain(str(client_cert), str(client_key))
    r = gw.get(port, "a.example.com", scheme="https", verify=with_cert, sni="a.example.com")
    assert r.status_code == 200 and r.json()["workload"] == "alpha"
    without = ssl.create_default_context(cafile=str(certs.ca_cert))
    with pytest.raises(httpx.TransportError):  # the gateway ends the handshake: no client certificate
        gw.get(port, "a.example.com", scheme="https", verify=without, sni="a.example.com", retry=False)


def test_create_secret_tls_refuses_a_duplicate(mesh: Mesh, certs: TlsFiles) -> None:
    """`create secret tls` stores a kubernetes.io/tls Secret and, like kubectl create, refuses an existing name."""
    args = ("create", "secret", "tls", "dup", "--cert", str(certs.cert), "--key", str(certs.key))
    assert _mizzen(mesh.cp, *args).exit_code == 0
    stored = mesh.http.get("/api/v1/namespaces/default/secrets/dup").json()
    assert stored["type"] == "kubernetes.io/tls" and set(stored["data"]) == {"tls.crt", "tls.key"}
    again = _mizzen(mesh.cp, *args)
    assert again.exit_code == 1 and "already exists" in again.stderr, again
    assert json.loads(_mizzen(mesh.cp, "get", "secret", "dup", "-o", "json").stdout)["metadata"]["name"] == "dup"
