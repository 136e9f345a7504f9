"""Scoped credentials against a real control-plane process: tokens, the API's scopes, certificates,
dashboard sessions, the agent channel, and TLS on the API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from mizzen import channel as proto
from mizzen.security import x509
from mizzen.testing.controlplane import MizzenCli, RunningControlPlane, restart, start_controlplane
from mizzen.xds import types as xt
from mizzen.xds.testing import AdsClient, FakeEnvoy

WE = "/apis/networking.istio.io/v1/namespaces/{}/workloadentries/{}"
VS = "/apis/networking.istio.io/v1/namespaces/default/virtualservices"


def mint(cp: RunningControlPlane, kind: str, name: str, namespace: str = "default", sa: str = "sa") -> dict[str, Any]:
    body = {"type": kind, "name": name, "namespace": namespace, "serviceAccount": sa}
    resp = httpx.post(f"{cp.address}/api/mizzen/v1/tokens", json=body, headers=cp.headers(), timeout=10)
    assert resp.status_code == 201, resp.text
    return dict(resp.json())


def entry(name: str, sa: str, namespace: str = "default") -> dict[str, Any]:
    return {
        "apiVersion": "networking.istio.io/v1",
        "kind": "WorkloadEntry",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"address": "127.0.0.1", "serviceAccount": sa, "labels": {"app": name}},
    }


def test_token_commands_create_list_revoke(cp: RunningControlPlane, mizzen: MizzenCli) -> None:
    """`token create` prints only the token on stdout; `token list` shows scope and state, never the token;
    `token revoke` makes it unusable at once."""
    made = mizzen("token", "create", "workload", "reviews-v1", "-n", "default", "--service-account", "reviews")
    assert made.exit_code == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("mzt.") and "spiffe://cluster.local/ns/default/sa/reviews" in made.stderr
    cred_id = token.split(".")[1]
    listed = mizzen("token", "list")
    assert cred_id in listed.stdout and "reviews-v1" in listed.stdout and token not in listed.stdout
    who = httpx.get(f"{cp.address}/api/mizzen/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert who.json()["identity"] == "spiffe://cluster.local/ns/default/sa/reviews"
    assert mizzen("token", "revoke", cred_id).exit_code == 0
    again = httpx.get(f"{cp.address}/api/mizzen/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert again.status_code == 401 and "revoked" in again.json()["message"]
    assert "revoked" in mizzen("token", "list").stdout
    assert mizzen("token", "create", "workload", "x", "--service-account", "sa", "--ttl", "soon").exit_code == 2


def test_workload_credential_scope(cp: RunningControlPlane) -> None:
    """A workload credential registers only its own WorkloadEntry with its own service account (stamped with
    its identity), and may not read config, touch other entries, or manage credentials (403 with reasons)."""
    token = mint(cp, "workload", "ratings-v1", sa="bookinfo-ratings")["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=cp.address, headers=auth, timeout=10) as api:
        own = api.put(WE.format("default", "ratings-v1"), json=entry("ratings-v1", "bookinfo-ratings"))
        assert own.status_code == 201, own.text
        annotations = own.json()["metadata"]["annotations"]
        assert annotations["mizzen.io/identity"] == "spiffe://cluster.local/ns/default/sa/bookinfo-ratings"
        for resp, reason in (
            (
                api.put(WE.format("default", "reviews-v1"), json=entry("reviews-v1", "bookinfo-ratings")),
                "not default/reviews-v1",
            ),
            (
                api.put(WE.format("prod", "ratings-v1"), json=entry("ratings-v1", "bookinfo-ratings", "prod")),
                "not prod/ratings-v1",
            ),
            (api.put(WE.format("default", "ratings-v1"), json=entry("ratings-v1", "admin")), "service account 'admin'"),
            (api.get(VS), "may not GET"),
            (api.get("/api/v1/namespaces/default/secrets"), "may not GET"),
            (api.post("/api/mizzen/v1/apply", json={"documents": []}), "may not POST"),
            (api.get("/api/mizzen/v1/tokens"), "may not GET"),
            (api.delete(WE.format("default", "reviews-v1")), "not default/reviews-v1"),
        ):
            assert resp.status_code == 403, (resp.request.url, resp.text)
            assert reason in resp.json()["message"], resp.json()["message"]
        assert api.delete(WE.format("default", "ratings-v1")).status_code == 200


def test_certificates_are_signed_for_the_callers_identity_only(cp: RunningControlPlane) -> None:
    """The CA signs the caller's own SPIFFE ID (chaining to the published root) and refuses a CSR for another."""
    token = mint(cp, "workload", "details-v1", sa="bookinfo-details")["token"]
    auth = {"Authorization": f"Bearer {token}"}
    key = x509.generate_key()
    resp = httpx.post(
        f"{cp.address}/api/mizzen/v1/certificates",
        json={"csr": x509.make_csr(key).decode(), "validitySeconds": 600},
        headers=auth,
    )
    assert resp.status_code == 200, resp.text
    chain = [c.encode() for c in resp.json()["certChain"]]
    leaf = x509.cert_info(chain[0])
    assert leaf.uris == ("spiffe://cluster.local/ns/default/sa/bookinfo-details",)
    x509.verify_chain(chain[0], chain[1:], (cp.home / "root-cert.pem").read_bytes())
    other = x509.make_csr(key, ["spiffe://cluster.local/ns/default/sa/bookinfo-productpage"]).decode()
    refused = httpx.post(f"{cp.address}/api/mizzen/v1/certificates", json={"csr": other}, headers=auth)
    assert refused.status_code == 403 and "bookinfo-productpage" in refused.json()["message"]


def test_dashboard_session_is_not_the_token_and_logout_revokes_it(cp: RunningControlPlane, mizzen: MizzenCli) -> None:
    """Sign-in by form gives a random session cookie; logout revokes it server-side; `mizzen dashboard`
    prints a single-use link without the token."""
    with httpx.Client(base_url=cp.address, timeout=10) as browser:
        assert browser.post("/login", json={"token": cp.token}).status_code == 204
        session = browser.cookies["mizzen_session"]
        assert session != cp.token and cp.token not in session
        assert browser.get("/api/mizzen/v1/proxies").status_code == 200
        assert browser.post("/logout").status_code == 204
        replay = httpx.get(f"{cp.address}/api/mizzen/v1/proxies", cookies={"mizzen_session": session})
        assert replay.status_code == 401
    printed = mizzen("dashboard", "--no-browser")
    assert printed.exit_code == 0 and cp.token not in printed.stdout
    url = next(w for w in printed.stdout.split() if "?code=" in w)
    with httpx.Client(timeout=10) as browser:
        first = browser.get(url, follow_redirects=False)
        assert first.status_code == 302 and first.headers["location"] == "/"
        assert browser.get(url, follow_redirects=False).headers["location"] == "/#/login?error=invalid"


def test_sessions_end_with_the_control_plane_and_a_revoked_admin_token_is_replaced(tmp_path: Path) -> None:
    """A control-plane restart signs browsers out; revoking the admin credential makes the next start write a
    new $MIZZEN_HOME/token."""
    cp = start_controlplane(tmp_path / "home")
    try:
        with httpx.Client(base_url=cp.address, timeout=10) as browser:
            browser.post("/login", json={"token": cp.token})
            session = browser.cookies["mizzen_session"]
        admin_id = cp.token.split(".")[1]
        httpx.delete(f"{cp.address}/api/mizzen/v1/tokens/{admin_id}", headers=cp.headers()).raise_for_status()
        old = cp.token
        cp.stop()
        cp = restart(cp)
        assert cp.token != old
        assert (
            httpx.get(f"{cp.address}/api/mizzen/v1/proxies", headers={"Authorization": f"Bearer {old}"}).status_code
            == 401
        )
        assert httpx.get(f"{cp.address}/api/mizzen/v1/proxies", cookies={"mizzen_session": session}).status_code == 401
        assert httpx.get(f"{cp.address}/api/mizzen/v1/proxies", headers=cp.headers()).status_code == 200
    finally:
        cp.stop()


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[int]:
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.hits.clear()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()


def test_admin_relay_cannot_be_aimed_at_an_address(cp: RunningControlPlane, recorder: int) -> None:
    """A proxy whose node metadata names some host:port as its admin gets no relayed call there: without its
    agent's channel the relay answers 503, and the named server sees nothing."""
    token = mint(cp, "workload", "rogue", sa="rogue")["token"]
    meta = {
        "NAME": "rogue",
        "NAMESPACE": "default",
        "SERVICE_ACCOUNT": "rogue",
        "MIZZEN_ADMIN": f"127.0.0.1:{recorder}",
    }
    envoy = FakeEnvoy("sidecar~127.0.0.1~rogue.default~default.svc.cluster.local", meta)

    async def scenario() -> httpx.Response:
        client = AdsClient(cp.xds_address, token=token, envoy=envoy)
        client.subscribe(xt.CLUSTER)
        await client.receive(10)
        try:
            async with httpx.AsyncClient(base_url=cp.address, headers=cp.headers(), timeout=10) as api:
                return await api.get("/api/mizzen/v1/proxies/rogue.default/admin/config_dump")
        finally:
            await client.close()

    resp = asyncio.run(scenario())
    assert resp.status_code == 503 and "no channel" in resp.json()["message"]
    assert _Recorder.hits == []


def test_agent_channel_only_for_the_credentials_own_proxy(cp: RunningControlPlane) -> None:
    """Opening the agent channel of another proxy with a workload credential is PERMISSION_DENIED."""
    token = mint(cp, "workload", "a", sa="sa-a")["token"]

    async def scenario() -> grpc.aio.AioRpcError:
        async with grpc.aio.insecure_channel(cp.xds_address) as channel:

            async def frames() -> Any:
                yield proto.hello("b.default").encode()
                await asyncio.sleep(5)

            call = channel.stream_stream(proto.METHOD)(frames(), metadata=(("authorization", f"Bearer {token}"),))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                async for _ in call:
                    pass
            return refused.value

    refused = asyncio.run(scenario())
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED and "not b.default" in (refused.details() or "")


def test_span_batches_up_the_agent_channel_reach_the_trace_store(cp: RunningControlPlane) -> None:
    """The control plane's first frame on an accepted channel is ``ready``; a span frame is stored as the
    HTTP receiver would store it, and one that is not a Zipkin v2 batch is dropped, counted and logged
    without ending the stream (a valid batch after it still lands)."""
    token = mint(cp, "workload", "a", sa="sa-a")["token"]
    trace = "5a" * 16

    async def scenario() -> str:
        async with grpc.aio.insecure_channel(cp.xds_address) as channel:
            sent = asyncio.Event()

            async def frames() -> Any:
                yield proto.hello("a.default").encode()
                yield proto.spans("application/json", b"{not a batch").encode()
                yield proto.spans("application/json", f'[{{"traceId":"{trace}","id":"1"}}]'.encode()).encode()
                sent.set()
                await asyncio.sleep(30)

            call = channel.stream_stream(proto.METHOD)(frames(), metadata=(("authorization", f"Bearer {token}"),))
            first = proto.decode(await call.read())
            await sent.wait()
            async with httpx.AsyncClient(base_url=cp.address, headers=cp.headers(), timeout=10) as api:
                for _ in range(100):
                    if (await api.get(f"/api/mizzen/v1/traces/{trace}")).status_code == 200:
                        break
                    await asyncio.sleep(0.05)
                metrics = (await api.get("/metrics")).text
            call.cancel()
            return first.type + "\n" + metrics

    first, _, metrics = asyncio.run(scenario()).partition("\n")
    assert first == "ready"
    resp = httpx.get(f"{cp.address}/api/mizzen/v1/traces/{trace}", headers=cp.headers(), timeout=10)
    assert resp.status_code == 200 and resp.json()["summary"]["spanCount"] == 1
    assert 'mizzen_telemetry_span_batches_total{result="ok",via="channel"} 1' in metrics, metrics
    assert 'mizzen_telemetry_span_batches_total{result="invalid",via="channel"} 1' in metrics, metrics


def test_tls_control_plane_is_verified_against_the_mesh_root(tmp_path: Path) -> None:
    """With --tls the API is https only; the CLI verifies it against $MIZZEN_HOME/root-cert.pem, and a client
    trusting another root is refused with a clear message."""
    cp = start_controlplane(tmp_path / "home", extra_args=("--tls",))
    try:
        assert cp.address.startswith("https://")
        env = {"MIZZEN_HOME": str(cp.home), "MIZZEN_TOKEN": cp.token, "MIZZEN_ADDRESS": cp.address}
        ok = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "get", "vs", "-A"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ok.returncode == 0, ok.stderr
        with pytest.raises(httpx.HTTPError):
            httpx.get(cp.address.replace("https://", "http://") + "/readyz", timeout=5)
        other = tmp_path / "other-root.pem"
        other.write_bytes(x509.create_root("Someone Else", x509.generate_key()))
        bad = subprocess.run(
            [sys.executable, "-m", "mizzen.cli.main", "get", "vs", "-A"],
            env={**env, "MIZZEN_ROOT_CERT": str(other)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 1 and "does not trust" in bad.stderr
    finally:
        cp.stop()
