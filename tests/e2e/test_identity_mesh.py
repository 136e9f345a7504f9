"""Workload identity with real Envoy, real agents and a real control plane: no credential in Envoy or in
apps, one node per credential, secrets only to their gateway, certificates that rotate under load, revocation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from mizzen.security import sds, x509
from mizzen.testing.controlplane import RunningControlPlane, free_port, start_controlplane
from mizzen.testing.mesh import Mesh, Workload
from mizzen.testing.tls import make_certificates
from mizzen.xds import types as xt
from mizzen.xds.testing import AdsClient, FakeEnvoy

pytestmark = pytest.mark.e2e

SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: ident-echo}
spec: {selector: {app: ident-echo}, ports: [{name: http, port: 9080}]}
"""


def _config_dump(w: Workload) -> str:
    return w.admin_get("/config_dump", params={"include_eds": "true"}).text


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw if item)


def _mint(cp: RunningControlPlane, kind: str, name: str, namespace: str, sa: str) -> dict[str, Any]:
    body = {"type": kind, "name": name, "namespace": namespace, "serviceAccount": sa}
    with cp.client(timeout=10) as api:
        resp = api.post("/api/mizzen/v1/tokens", json=body)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def test_no_credential_in_envoy_or_in_the_app(cp: RunningControlPlane) -> None:
    """A sidecar's full config_dump and bootstrap hold no credential, no authorization header and no private
    key; the app's and Envoy's environments hold no credential and no MIZZEN_HOME."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        w = mesh.run("ident-a", {"app": "ident-echo"}, service_account="ident-a")
        mesh.wait_synced()
        state = w.state()
        dump = _config_dump(w)
        bootstrap = (cp.home / "workloads" / "default.ident-a.envoy.json").read_text()
        assert '"dynamic_active_clusters"' in dump  # a real, configured Envoy
        for text in (dump, bootstrap, w.admin_get("/config_dump", params={"resource": "bootstrap"}).text):
            assert "mzt." not in text and cp.token not in text
            assert "PRIVATE KEY" not in text and "authorization" not in text.lower()
        for pid in (state["appPid"], state["envoyPid"]):
            env = _environ(pid)
            assert not {"MIZZEN_HOME", "MIZZEN_TOKEN", "MIZZEN_ADDRESS"} & set(env), sorted(env)
            assert not any("mzt." in v or cp.token in v for v in env.values())
        assert os.stat(state["adminSocket"]).st_mode & 0o777 == 0o600
        assert os.stat(Path(state["adminSocket"]).parent).st_mode & 0o777 == 0o700


def test_another_credential_cannot_take_a_node_and_the_real_envoy_is_undisturbed(cp: RunningControlPlane) -> None:
    """With workload A's credential, an xDS client claiming B's node id, another namespace or the router type
    is refused; B's real Envoy keeps its stream (same connection, still connected to the control plane)."""
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        b = mesh.run("ident-b", {"app": "ident-echo"}, service_account="ident-b")
        mesh.wait_synced()
        b_id = "sidecar~127.0.0.1~ident-b.default~default.svc.cluster.local"
        before = mesh.proxy("ident-b.default")
        assert before is not None
        token = _mint(cp, "workload", "ident-a", "default", "ident-a")["token"]
        meta = {
            "NAME": "ident-b",
            "NAMESPACE": "default",
            "SERVICE_ACCOUNT": "ident-b",
            "LABELS": {"app": "ident-echo"},
        }
        claims = [
            FakeEnvoy(b_id, meta),
            FakeEnvoy(b_id.replace("default", "prod"), {**meta, "NAMESPACE": "prod"}),
            FakeEnvoy(
                b_id.replace("sidecar", "router").replace("ident-b", "ident-a"),
                {**meta, "NAME": "ident-a", "MIZZEN_PROXY_TYPE": "router"},
            ),
        ]

        async def claim(envoy: FakeEnvoy) -> grpc.aio.AioRpcError:
            client = AdsClient(cp.xds_address, token=token, envoy=envoy)
            client.subscribe(xt.CLUSTER)
            try:
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await client.receive(10)
                return refused.value
            finally:
                await client.close()

        for envoy in claims:
            refused = asyncio.run(claim(envoy))
            assert refused.code() == grpc.StatusCode.PERMISSION_DENIED, refused.details()
        after = mesh.proxy("ident-b.default")
        assert after is not None and after["connectedSince"] == before["connectedSince"]
        assert "control_plane.connected_state: 1" in b.admin_get("/stats", params={"filter": "connected_state"}).text


SECRET_GATEWAY = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: secure, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  servers:
  - port: {{number: {port}, name: https, protocol: HTTPS}}
    hosts: [secure.example.com]
    tls: {{mode: SIMPLE, credentialName: secure-cert}}
---
apiVersion: v1
kind: Secret
metadata: {{name: secure-cert, namespace: istio-system}}
type: kubernetes.io/tls
data: {{tls.crt: {crt}, tls.key: {key}}}
"""


def test_gateway_tls_secret_reaches_the_gateway_and_no_sidecar(cp: RunningControlPlane, tmp_path: Path) -> None:
    """The credentialName secret is active in the selected gateway's Envoy, and absent from a sidecar in the
    same namespace carrying the gateway's labels."""
    files = make_certificates(tmp_path, ["secure.example.com"])
    crt, key = (base64.b64encode(p.read_bytes()).decode() for p in (files.cert, files.key))
    with Mesh(cp) as mesh:
        mesh.apply(SECRET_GATEWAY.format(port=free_port(), crt=crt, key=key))
        gw = mesh.run_gateway()
        lookalike = mesh.run("lookalike", {"istio": "ingressgateway"}, namespace="istio-system", service_account="gw")
        mesh.wait_synced()
        deadline = time.monotonic() + 20
        while "kubernetes://secure-cert" not in _config_dump(gw) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert "kubernetes://secure-cert" in _config_dump(gw)
        assert "kubernetes://secure-cert" not in _config_dump(lookalike)
        assert "PRIVATE KEY" not in _config_dump(gw)  # Envoy redacts; the key never shows in a dump


def _override(listener: dict[str, Any], cluster: dict[str, Any], tmp: Path, name: str) -> Path:
    path = tmp / f"{name}.bootstrap.json"
    path.write_text(json.dumps({"static_resources": {"listeners": [listener], "clusters": [cluster]}}))
    return path


def _static_cluster(name: str, port: int, **extra: Any) -> dict[str, Any]:
    addr = {"socket_address": {"address": "127.0.0.1", "port_value": port}}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": {"address": addr}}]}]},
        **extra,
    }


def _hcm_listener(name: str, port: int, cluster: str, transport: dict[str, Any] | None = None) -> dict[str, Any]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": name,
        "forward_client_cert_details": "SANITIZE_SET",
        "set_current_client_cert_details": {"uri": True, "cert": False},
        "route_config": {
            "virtual_hosts": [
                {"name": "all", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster}}]}
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
            }
        ],
    }
    chain: dict[str, Any] = {
        "filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]
    }
    if transport:
        chain["transport_socket"] = transport
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [chain],
    }


def _tls(kind: str, peer: str, **extra: Any) -> dict[str, Any]:
    """Istio's way: the workload certificate (default) and mesh roots (ROOTCA) from the agent over sds-grpc."""
    common = {
        "tls_certificate_sds_secret_configs": [sds.sds_secret_config(sds.DEFAULT_SECRET)],
        "combined_validation_context": {
            "default_validation_context": {
                "match_typed_subject_alt_names": [{"san_type": "URI", "matcher": {"exact": peer}}]
            },
            "validation_context_sds_secret_config": sds.sds_secret_config(sds.ROOT_SECRET),
        },
    }
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": f"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.{kind}",
            "common_tls_context": common,
            **extra,
        },
    }


def _serials(mesh: Mesh, proxy: str) -> tuple[int, str]:
    """(serial, URI SAN) of the ``default`` certificate in the proxy's Envoy, read with `mizzen pc secret -o json`."""
    done = subprocess.run(
        [sys.executable, "-m", "mizzen.cli.main", "pc", "secret", proxy, "-o", "json"],
        env={**os.environ, **mesh.cp.env()},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    dump = json.loads(done.stdout)
    secret = next(s for s in dump.get("dynamic_active_secrets", []) if s["name"] == sds.DEFAULT_SECRET)
    pem = base64.b64decode(secret["secret"]["tls_certificate"]["certificate_chain"]["inline_bytes"])
    info = x509.cert_info(pem)
    key = secret["secret"]["tls_certificate"]["private_key"]
    assert b"PRIVATE KEY" not in base64.b64decode(key.get("inline_bytes", "")), "Envoy must redact the key"
    return info.serial, info.uris[0]


@pytest.fixture
def backend() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mizzen.testing.echo", "--port", str(port), "--name", "mtls-backend"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)


def test_certificates_carry_the_identity_and_rotate_without_failed_requests(
    cp: RunningControlPlane, tmp_path: Path, backend: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two agents' Envoys talk mutual TLS with the agents' SDS certificates (listener and cluster added by a
    bootstrap override, as Istio's custom bootstrap allows). With a 6 s TTL both rotate several times under
    steady load; every request succeeds, the client's certificate (seen by the server) changes, and
    `mizzen pc secret` shows certificates with each workload's SPIFFE ID."""
    server_id, client_id = (f"spiffe://cluster.local/ns/default/sa/mtls-{n}" for n in ("server", "client"))
    mtls_port, client_port = free_port(), free_port()
    server_override = _override(
        _hcm_listener(
            "mtls_in", mtls_port, "backend", _tls("DownstreamTlsContext", client_id, require_client_certificate=True)
        ),
        _static_cluster("backend", backend),
        tmp_path,
        "server",
    )
    per_connection = {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
            "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
            "common_http_protocol_options": {"max_requests_per_connection": 3},  # many fresh TLS handshakes
            "explicit_http_config": {"http_protocol_options": {}},
        }
    }
    client_override = _override(
        _hcm_listener("mtls_out", client_port, "mtls_upstream"),
        _static_cluster(
            "mtls_upstream",
            mtls_port,
            transport_socket=_tls("UpstreamTlsContext", server_id, sni="mtls-server"),
            typed_extension_protocol_options=per_connection,
        ),
        tmp_path,
        "client",
    )
    monkeypatch.setenv("MIZZEN_SECRET_TTL", "6s")
    with Mesh(cp) as mesh:
        mesh.run(
            "mtls-server",
            {"app": "mtls-server"},
            service_account="mtls-server",
            extra_args=("--bootstrap-override", str(server_override)),
        )
        mesh.run(
            "mtls-client",
            {"app": "mtls-client"},
            service_account="mtls-client",
            extra_args=("--bootstrap-override", str(client_override)),
        )
        first_server, san = _serials(mesh, "mtls-server.default")
        first_client, client_san = _serials(mesh, "mtls-client.default")
        assert (san, client_san) == (server_id, client_id)
        failures, peers, total = 0, set(), 0
        deadline = time.monotonic() + 15  # two and a half lifetimes: at least four rotations at 3 s
        with httpx.Client(timeout=5, trust_env=False) as http:
            while time.monotonic() < deadline:
                total += 1
                try:
                    resp = http.get(f"http://127.0.0.1:{client_port}/hello")
                except httpx.HTTPError:
                    failures += 1
                    continue
                if resp.status_code != 200:
                    failures += 1
                    continue
                xfcc = resp.json()["headers"].get("x-forwarded-client-cert", "")
                assert f"URI={client_id}" in xfcc, xfcc
                peers.add(xfcc.split("Hash=")[1].split(";")[0] if "Hash=" in xfcc else xfcc)
                time.sleep(0.02)
        assert failures == 0, f"{failures} of {total} requests failed during rotation"
        assert total > 200
        assert len(peers) >= 3, peers  # the server saw several different client certificates
        later_server, san = _serials(mesh, "mtls-server.default")
        later_client, _ = _serials(mesh, "mtls-client.default")
        assert san == server_id and later_server != first_server and later_client != first_client


def test_revoking_an_agents_credential_disconnects_its_envoy(cp: RunningControlPlane) -> None:
    """`mizzen token revoke` on a running workload's credential closes its Envoy's stream within seconds and
    keeps it out."""
    with Mesh(cp) as mesh:
        w = mesh.run("ident-r", {"app": "ident-r"}, service_account="ident-r")
        cred = w.state()["credential"]
        done = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "token", "revoke", cred],
            env={**os.environ, **cp.env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        deadline = time.monotonic() + 10
        while mesh.proxy("ident-r.default") is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mesh.proxy("ident-r.default") is None, "the revoked workload is still connected"
        time.sleep(2)  # Envoy retries; it must stay out
        assert mesh.proxy("ident-r.default") is None


@pytest.fixture
def tls_controlplane(tmp_path: Path) -> Iterator[RunningControlPlane]:
    """A control plane bound to every address: it must serve TLS on both ports by itself."""
    cp = start_controlplane(tmp_path / "tls-home", extra_args=("--address", "0.0.0.0"))
    try:
        yield cp
    finally:
        cp.stop()


def test_a_network_bound_control_plane_serves_tls_to_agents_and_the_cli(tls_controlplane: RunningControlPlane) -> None:
    """Bound to 0.0.0.0 the API is https only and xDS refuses plaintext; agents connect over TLS (verifying
    the mesh root), traffic flows, and the CLI's `pc` reaches Envoy through the agent channel."""
    cp = tls_controlplane
    assert cp.address.startswith("https://")

    async def plaintext() -> grpc.aio.AioRpcError:
        client = AdsClient(cp.xds_address, token=cp.token, envoy=FakeEnvoy())
        client.subscribe(xt.CLUSTER)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.receive(10)
            return refused.value
        finally:
            await client.close()

    assert asyncio.run(plaintext()).code() == grpc.StatusCode.UNAVAILABLE
    with Mesh(cp) as mesh:
        mesh.apply(SERVICE)
        client = mesh.run("tls-client", {"app": "tls-client"})
        mesh.run("tls-echo", {"app": "ident-echo"})
        mesh.wait_synced()
        assert client.get("http://ident-echo:9080/hello").json()["workload"] == "tls-echo"
        done = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "pc", "cluster", "tls-client"],
            env={**os.environ, **cp.env()},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0 and "ident-echo.default.svc.cluster.local" in done.stdout, done.stderr
