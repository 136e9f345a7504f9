"""Istio's task "Ingress Sidecar TLS Termination" through real Envoy: the task's YAML
(``traffic_tasks/ingress-sidecar-tls-termination.yaml``) applied with ``mizzen apply -n test`` as the task's
``kubectl -n test apply``; only the certificate folders (``/etc/istio/tls-certs``, ``/etc/istio/tls-ca-certs``,
mounted into the pod in Kubernetes) are a temporary folder here.

httpbin is the echo backend (it answers ``/status/200`` with 200) listening on the Sidecar's
``defaultEndpoint`` port 80 (and on its agent-given port, which the agent's readiness probe checks). The
internal client ``sleep`` in namespace test has a sidecar; the external client is this test, with no sidecar,
holding the task's client certificate, as the task's ``sleep`` in namespace default does. The certificates are
the task's: a CA ``example.com``, a server certificate for ``httpbin.test.svc.cluster.local`` and a client one,
made with :mod:`mizzen.security.x509` instead of openssl.
"""

from __future__ import annotations

import datetime
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mizzen.security import x509
from mizzen.testing.controlplane import controlplane
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

TASK = Path(__file__).resolve().parent / "traffic_tasks" / "ingress-sidecar-tls-termination.yaml"
SERVER_NAME = "httpbin.test.svc.cluster.local"
SLEEP = """apiVersion: v1
kind: Service
metadata: {name: sleep, namespace: test, labels: {app: sleep, service: sleep}}
spec:
  ports: [{name: http, port: 80}]
  selector: {app: sleep}
"""


@dataclass(frozen=True)
class Files:
    """The task's certificates: the CA, httpbin's server pair (the Sidecar's files) and the client pair."""

    ca: Path
    ca_key: Path
    server_cert: Path
    client_cert: Path
    client_key: Path


@dataclass
class Task:
    """The running task: the mesh, the internal client, httpbin's two sidecar ports, the files."""

    mesh: Mesh
    sleep: Workload
    https_port: int  # the sidecar's listener for workload port 9080 (Service port 8443)
    http_port: int  # ... for 9081 (Service port 8080)
    files: Files
    apply_output: str


def _certificates(root: Path) -> tuple[Files, Path]:
    """Write the task's certificates; returns them and the folder standing in for ``/etc/istio``."""
    etc = root / "etc-istio"
    (etc / "tls-certs").mkdir(parents=True)
    (etc / "tls-ca-certs").mkdir()
    ca_key = x509.generate_key()
    ca = x509.create_root("example Inc.", ca_key)
    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_before": now - datetime.timedelta(minutes=5), "not_after": now + datetime.timedelta(days=1)}
    server_key, client_key = x509.generate_key(), x509.generate_key()
    server = x509.sign_leaf(ca, ca_key, server_key, dns_names=[SERVER_NAME], **valid)
    client = x509.sign_leaf(ca, ca_key, client_key, dns_names=["client.test.svc.cluster.local"], **valid)
    (etc / "tls-certs" / "tls.crt").write_bytes(server)
    (etc / "tls-certs" / "tls.key").write_bytes(server_key)
    (etc / "tls-ca-certs" / "ca.crt").write_bytes(ca)
    (root / "client.crt").write_bytes(client)
    (root / "client.key").write_bytes(client_key)
    (root / "example.com.crt").write_bytes(ca)
    (root / "example.com.key").write_bytes(ca_key)
    files = Files(
        root / "example.com.crt",
        root / "example.com.key",
        etc / "tls-certs" / "tls.crt",
        root / "client.crt",
        root / "client.key",
    )
    return files, etc


def _apply_task(mesh: Mesh, task_file: Path, namespace: str = "test") -> str:
    """``mizzen apply -n test -f <task>`` (the task's ``kubectl -n test apply``); its output."""
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", "apply", "-n", namespace, "-f", str(task_file)],
        env={**os.environ, **mesh.cp.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def task(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Task]:
    home = tmp_path_factory.mktemp("sidecar-tls")
    with socket.socket() as probe:  # the Sidecar's defaultEndpoint 0.0.0.0:80: httpbin must listen on 80
        if probe.connect_ex(("127.0.0.1", 80)) == 0:
            pytest.fail("127.0.0.1:80 is in use; this test's httpbin listens there (the task's defaultEndpoint)")
    files, etc = _certificates(home / "certs")
    task_file = home / "task.yaml"
    task_file.write_text(TASK.read_text().replace("/etc/istio/", f"{etc}/"))
    with controlplane(home) as cp, Mesh(cp) as mesh:
        output = _apply_task(mesh, task_file)
        mesh.apply(SLEEP, file="sleep.yaml")
        echo = [
            sys.executable,
            "-m",
            "mizzen.testing.echo",
            "--port",
            "{port}",
            "--also-port",
            "80",
            "--name",
            "httpbin",
        ]
        httpbin = mesh.run(
            "httpbin",
            {"app": "httpbin", "version": "v1"},
            namespace="test",
            service_account="httpbin",
            ports=("https=9080", "http=9081"),
            command=echo,
            wait=False,
        )
        sleep = mesh.run("sleep", {"app": "sleep"}, namespace="test", service_account="sleep", ports=("http=80",))
        mesh.wait_running(httpbin, sleep)
        mesh.wait_synced(30)
        inbound = httpbin.state()["ports"]["inbound"]
        yield Task(mesh, sleep, int(inbound["https"]), int(inbound["http"]), files, output)


def _client_context(files: Files, *, with_cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(files.ca))
    if with_cert:
        ctx.load_cert_chain(str(files.client_cert), str(files.client_key))
    return ctx


def _https_get(task: Task, path: str, *, with_cert: bool = True) -> tuple[bytes, bytes]:
    """(the server's certificate, DER; the raw HTTP/1.1 response) of one request to the https port, as the
    task's ``curl --cacert ... --key ... --cert ... -HHost:httpbin.test.svc.cluster.local``."""
    ctx = _client_context(task.files, with_cert=with_cert)
    with (
        socket.create_connection(("127.0.0.1", task.https_port), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname=SERVER_NAME) as tls,
    ):
        peer = tls.getpeercert(binary_form=True) or b""
        tls.sendall(f"GET {path} HTTP/1.1\r\nHost: {SERVER_NAME}\r\nConnection: close\r\n\r\n".encode())
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    return peer, b"".join(chunks)


def _plain_get(port: int) -> bytes:
    """A plaintext HTTP request to a sidecar port: what came back before the peer closed ("" when nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET /status/200 HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n".encode())
        try:
            return s.recv(65536)
        except ConnectionResetError:
            return b""


def test_the_tasks_yaml_applies_without_a_not_applied_warning(task: Task) -> None:
    """Sidecar ingress tls is acted on now: no MZ2013 for it; the Deployment is reported skipped."""
    assert "MZ2013" not in task.apply_output and "MZ2785" not in task.apply_output
    assert "Deployment" in task.apply_output


def test_a_sidecar_tls_left_under_mesh_mtls_is_warned_at_apply(task: Task, tmp_path: Path) -> None:
    """The same Sidecar in a namespace without the port-level DISABLE: applied, with MZ2785 at its tls (Istio
    would keep mesh mTLS on the port and never use the certificate, silently)."""
    other = TASK.read_text().split("kind: Sidecar\n", 1)[1].replace("namespace: test", "namespace: other")
    path = tmp_path / "other.yaml"
    path.write_text("apiVersion: networking.istio.io/v1alpha3\nkind: Sidecar\n" + other)
    output = _apply_task(task.mesh, path, "other")
    assert "MZ2785" in output and "spec.ingress[0].tls" in output, output


def test_internal_client_reaches_httpbin_on_8080_over_mesh_mtls(task: Task) -> None:
    """The task's ``curl http://httpbin:8080/status/200`` from sleep (with a sidecar): 200."""
    assert task.sleep.get("http://httpbin:8080/status/200").status_code == 200


def test_external_client_with_the_client_certificate_gets_200_from_the_sidecars_certificate(task: Task) -> None:
    """https to port 8443's workload port 9080 with the client certificate: 200 from the app, and the server
    certificate is the Sidecar's ``serverCertificate`` file (checked against the task's CA and host name)."""
    peer, response = _https_get(task, "/status/200")
    assert response.startswith(b"HTTP/1.1 200"), response[:200]
    assert peer == ssl.PEM_cert_to_DER_cert(task.files.server_cert.read_text())
    assert b'"workload": "httpbin"' in response  # answered by the app behind the sidecar


def test_external_client_without_a_client_certificate_is_refused(task: Task) -> None:
    """MUTUAL: a client that presents no certificate gets no response (TLS 1.3: the alert comes after the
    handshake, as an error or an empty read)."""
    try:
        _, response = _https_get(task, "/status/200", with_cert=False)
    except (ssl.SSLError, ConnectionError):
        return
    assert response == b"", response[:200]


def test_plain_http_is_refused_on_both_ports(task: Task) -> None:
    """The task's external ``curl http://...:8080`` is reset (STRICT mTLS), and 9080 takes TLS only."""
    assert _plain_get(task.http_port) == b""
    assert _plain_get(task.https_port) == b""


def test_proxy_config_secret_lists_the_file_certificate_and_ca(task: Task) -> None:
    """``proxy-config secret`` shows the task's file-cert:<crt>~<key> and file-root:<ca> beside default/ROOTCA."""
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", "pc", "secret", "httpbin.test"],
        env={**os.environ, **task.mesh.cp.env()},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    etc = task.files.server_cert.parent.parent
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line.strip()}
    cert = f"file-cert:{etc}/tls-certs/tls.crt~{etc}/tls-certs/tls.key"
    root = f"file-root:{etc}/tls-ca-certs/ca.crt"
    assert {cert, root, "default", "ROOTCA"} <= set(rows), done.stdout
    assert "ACTIVE" in rows[cert] and "ACTIVE" in rows[root]


def test_a_rotated_server_certificate_is_served_without_a_restart(task: Task) -> None:
    """New files at the Sidecar's paths (a renewed Secret in Kubernetes): the agent reads them again and the
    next connections get the new certificate (runs last: the module's other tests use the first one)."""
    ca_key = task.files.ca_key.read_bytes()
    key = x509.generate_key()
    now = datetime.datetime.now(datetime.UTC)
    cert = x509.sign_leaf(
        task.files.ca.read_bytes(),
        ca_key,
        key,
        dns_names=[SERVER_NAME],
        not_before=now - datetime.timedelta(minutes=5),
        not_after=now + datetime.timedelta(days=1),
    )
    for path, data in ((task.files.server_cert.with_name("tls.key"), key), (task.files.server_cert, cert)):
        tmp = path.with_suffix(".new")
        tmp.write_bytes(data)
        tmp.replace(path)
    wanted = ssl.PEM_cert_to_DER_cert(cert.decode())
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        peer, response = _https_get(task, "/status/200")
        if peer == wanted:
            assert response.startswith(b"HTTP/1.1 200"), response[:200]
            return
        time.sleep(0.2)
    pytest.fail("the rotated server certificate was not served within 30 s")
