"""The security builders' fragments loaded into real Envoy 1.40 and exercised over loopback.

Two Envoys from static bootstraps assembled here: a *server* sidecar with STRICT, PERMISSIVE and
plaintext-with-policies listeners built by the builders, and a *client* sidecar whose clusters carry
the builders' DestinationRule / auto-mTLS transport sockets. Certificates come from a mesh CA made in
the test (SPIFFE URI SANs) and are served as static secrets under the SDS names the builders reference
(``default``, ``ROOTCA``); the agent's SDS server itself is not part of this test.
"""

from __future__ import annotations

import copy
import http.client
import http.server
import json
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from security_certs import CA, Credential, Signer
from security_fixtures import authz, request_authns

from mizzen.agent.envoy import find_envoy
from mizzen.config.models.destination_rule import ClientTLSSettings
from mizzen.testing.controlplane import free_port
from mizzen.testing.tcpecho import TcpEchoServer
from mizzen.translate.security.authz import http_rbac_filters, tcp_rbac_filters
from mizzen.translate.security.endpoints import endpoint_filter_metadata
from mizzen.translate.security.inbound import INBOUND_HCM_CLIENT_CERT, inbound_filter_chains, inbound_listener_fields
from mizzen.translate.security.jwt import inbound_http_security_filters, jwt_authn_filter
from mizzen.translate.security.policy import JSON, Workload
from mizzen.translate.security.rbac_rules import Context
from mizzen.translate.security.selection import authorization_policies_for, request_authentications_for
from mizzen.translate.security.upstream import UpstreamTarget, upstream_transport

pytestmark = pytest.mark.e2e

HTTPBIN_ID = "spiffe://cluster.local/ns/foo/sa/httpbin"
SLEEP_ID = "spiffe://cluster.local/ns/default/sa/sleep"
HTTPBIN = Workload("foo", {"app": "httpbin"})
ISS_A, ISS_B = "issuer-a@example.com", "issuer-b@example.com"
T_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ROUTER = {
    "name": "envoy.filters.http.router",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
}

STRICT_POLICY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-sleep, namespace: foo}
spec:
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]
"""

HTTP_POLICIES = """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  jwtRules:
  - issuer: %(iss_a)s
    jwks: '%(jwks_a)s'
  - issuer: %(iss_b)s
    jwksUri: http://127.0.0.1:%(jwks_port)d/jwks.json
  - issuer: no-keys@example.com
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: foo}
spec:
  action: DENY
  rules: [{to: [{operation: {paths: ["/admin*"]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: access, namespace: foo}
spec:
  rules:
  - to: [{operation: {paths: ["/public*"]}}]
  - from: [{source: {requestPrincipals: ["*"]}}]
    to: [{operation: {paths: ["/secure*"]}}]
  - to: [{operation: {paths: ["/group"]}}]
    when: [{key: "request.auth.claims[groups]", values: [admins]}]
"""

DENY_ALL = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-all, namespace: foo}
spec:
  action: DENY
  rules: [{}]
"""

TCP_POLICY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: tcp, namespace: foo}
spec:
  rules:
  - from: [{source: {principals: [cluster.local/ns/default/sa/sleep]}}]
  - to: [{operation: {methods: [GET]}}]
"""


def static_sds(value: object) -> object:
    """Point SDS references at static secrets (drop ``sds_config``): same names, no agent needed."""
    if isinstance(value, dict):
        if "name" in value and "sds_config" in value:
            return {"name": value["name"]}
        return {k: static_sds(v) for k, v in value.items()}
    if isinstance(value, list):
        return [static_sds(v) for v in value]
    return value


def secrets(cred: Credential, root: str) -> list[JSON]:
    return [
        {
            "name": "default",
            "tls_certificate": {
                "certificate_chain": {"inline_string": cred.cert},
                "private_key": {"inline_string": cred.key},
            },
        },
        {"name": "ROOTCA", "validation_context": {"trusted_ca": {"inline_string": root}}},
    ]


def hcm(filters: list[JSON]) -> JSON:
    route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    config = {
        "@type": T_HCM,
        "stat_prefix": "inbound",
        "route_config": {"virtual_hosts": [{"name": "inbound", "domains": ["*"], "routes": [route]}]},
        "http_filters": [*filters, ROUTER],
        **INBOUND_HCM_CLIENT_CERT,
    }
    return {"name": "envoy.filters.network.http_connection_manager", "typed_config": config}


def listener(name: str, port: int, chains: list[JSON]) -> JSON:
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        **inbound_listener_fields(chains),
    }


def cluster(name: str, port: int, fields: JSON, metadata: JSON | None = None) -> JSON:
    endpoint: JSON = {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": port}}}}
    if metadata:
        endpoint["metadata"] = {"filter_metadata": metadata}
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "2s",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [endpoint]}]},
        **fields,
    }


def proxy_listener(name: str, port: int, target: str) -> JSON:
    route = {"match": {"prefix": "/"}, "route": {"cluster": target}}
    config = {
        "@type": T_HCM,
        "stat_prefix": name,
        "route_config": {"virtual_hosts": [{"name": name, "domains": ["*"], "routes": [route]}]},
        "http_filters": [ROUTER],
    }
    chain = {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": config}]}
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
        "filter_chains": [chain],
    }


@dataclass
class Ports:
    strict: int
    permissive: int
    policies: int
    strict_tcp: int
    plain_tcp: int
    via_dr: int
    via_auto_sidecar: int
    via_auto_plain: int
    via_wrong_san: int
    permissive_authn: int
    via_permissive: int


def server_bootstrap(ports: Ports, server: Credential, ca: CA, jwks_port: int, signer: Signer, echo: int) -> JSON:
    ctx = Context("foo", port_map={8000: ports.policies, 9000: ports.strict_tcp})
    strict = authorization_policies_for(authz(STRICT_POLICY), HTTPBIN, "istio-system")
    text = HTTP_POLICIES % {"iss_a": ISS_A, "iss_b": ISS_B, "jwks_a": signer.jwks(), "jwks_port": jwks_port}
    lookup = {("127.0.0.1", jwks_port): "jwks"}
    jwt = jwt_authn_filter(
        request_authentications_for(request_authns(text), HTTPBIN, "istio-system"), lambda h, p: lookup.get((h, p))
    )
    policies = inbound_http_security_filters(
        http_rbac_filters(authorization_policies_for(authz(text), HTTPBIN, "istio-system"), ctx), jwt
    )
    tcp_rbac = list(
        tcp_rbac_filters(authorization_policies_for(authz(TCP_POLICY), HTTPBIN, "istio-system"), ctx).filters
    )
    deny_all = list(tcp_rbac_filters(authorization_policies_for(authz(DENY_ALL), HTTPBIN, "istio-system"), ctx).filters)
    tcp_proxy = {
        "name": "envoy.filters.network.tcp_proxy",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "stat_prefix": "tcp",
            "cluster": "echo",
        },
    }
    td = ["cluster.local"]
    listeners = [
        listener(
            "strict",
            ports.strict,
            inbound_filter_chains(
                "STRICT", "HTTP", [hcm(list(http_rbac_filters(strict, ctx).filters))], name="strict", trust_domains=td
            ),
        ),
        listener(
            "permissive",
            ports.permissive,
            inbound_filter_chains("PERMISSIVE", "HTTP", [hcm([])], name="permissive", trust_domains=td),
        ),
        listener(
            "permissive_authn",
            ports.permissive_authn,
            inbound_filter_chains(
                "PERMISSIVE", "HTTP", [hcm(list(http_rbac_filters(strict, ctx).filters))], name="pa", trust_domains=td
            ),
        ),
        listener(
            "policies",
            ports.policies,
            inbound_filter_chains("DISABLE", "HTTP", [hcm(policies)], name="policies", trust_domains=td),
        ),
        listener(
            "strict_tcp",
            ports.strict_tcp,
            inbound_filter_chains("STRICT", "TCP", [*tcp_rbac, tcp_proxy], name="strict_tcp", trust_domains=td),
        ),
        listener(
            "plain_tcp",
            ports.plain_tcp,
            inbound_filter_chains("DISABLE", "TCP", [*deny_all, tcp_proxy], name="plain_tcp", trust_domains=td),
        ),
    ]
    clusters = [cluster("jwks", jwks_port, {}), cluster("echo", echo, {})]
    return static_sds(
        {"static_resources": {"listeners": listeners, "clusters": clusters, "secrets": secrets(server, ca.pem)}}
    )  # type: ignore[return-value]


def client_bootstrap(ports: Ports, client: Credential, ca: CA) -> JSON:
    sni = "outbound_.8000_._.httpbin.foo.svc.cluster.local"
    name = "outbound|8000||httpbin.foo.svc.cluster.local"
    target = UpstreamTarget(name, sni, service_accounts=(HTTPBIN_ID,))
    dr = upstream_transport(ClientTLSSettings(mode="ISTIO_MUTUAL"), target, service_mode="PERMISSIVE").cluster_fields()
    auto = upstream_transport(None, target, service_mode="PERMISSIVE").cluster_fields()
    wrong = upstream_transport(
        ClientTLSSettings(mode="ISTIO_MUTUAL", subject_alt_names=(SLEEP_ID,)), target, service_mode="PERMISSIVE"
    ).cluster_fields()
    sidecar = endpoint_filter_metadata("istio", True)
    clusters = [
        cluster("dr", ports.strict, dr),
        cluster("auto_sidecar", ports.strict, auto, sidecar),
        cluster("auto_plain", ports.strict, auto),
        cluster("wrong_san", ports.strict, wrong),
        cluster("dr_permissive", ports.permissive_authn, dr),
    ]
    listeners = [
        proxy_listener("via_dr", ports.via_dr, "dr"),
        proxy_listener("via_auto_sidecar", ports.via_auto_sidecar, "auto_sidecar"),
        proxy_listener("via_auto_plain", ports.via_auto_plain, "auto_plain"),
        proxy_listener("via_wrong_san", ports.via_wrong_san, "wrong_san"),
        proxy_listener("via_permissive", ports.via_permissive, "dr_permissive"),
    ]
    return static_sds(
        {"static_resources": {"listeners": listeners, "clusters": clusters, "secrets": secrets(client, ca.pem)}}
    )  # type: ignore[return-value]


def start_envoy(bootstrap: JSON, tmp: Path, name: str) -> subprocess.Popen[bytes]:
    config = copy.deepcopy(bootstrap)
    config["admin"] = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": free_port()}}}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps(config))
    args = [
        str(find_envoy()),
        "-c",
        str(path),
        "--base-id",
        str(free_port()),
        "--log-level",
        "warn",
        "--log-path",
        str(tmp / f"{name}.log"),
    ]
    return subprocess.Popen(args)


def wait_listening(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"envoy exited: {log.read_text()[-3000:] if log.exists() else ''}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listening on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class _Jwks(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Mesh:
    ports: Ports
    ca: CA
    foreign: CA
    signer_a: Signer
    signer_b: Signer
    tmp: Path


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """Both Envoys, a JWKS server and a TCP echo, all on free loopback ports; stopped by pid afterwards."""
    tmp = tmp_path_factory.mktemp("security-e2e")
    ca, foreign = CA.create("mesh"), CA.create("foreign")
    signer_a, signer_b = Signer.create("a"), Signer.create("b")
    _Jwks.body = signer_b.jwks().encode()
    jwks = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Jwks)
    echo = TcpEchoServer(("127.0.0.1", free_port()), "echo")
    for srv in (jwks, echo):
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    ports = Ports(*(free_port() for _ in range(11)))
    server = start_envoy(
        server_bootstrap(ports, ca.workload(HTTPBIN_ID), ca, jwks.server_address[1], signer_a, echo.server_address[1]),
        tmp,
        "server",
    )
    client = start_envoy(client_bootstrap(ports, ca.workload(SLEEP_ID), ca), tmp, "client")
    try:
        for port in (
            ports.strict,
            ports.permissive,
            ports.permissive_authn,
            ports.policies,
            ports.strict_tcp,
            ports.plain_tcp,
        ):
            wait_listening(port, server, tmp / "server.log")
        for port in (
            ports.via_dr,
            ports.via_auto_sidecar,
            ports.via_auto_plain,
            ports.via_wrong_san,
            ports.via_permissive,
        ):
            wait_listening(port, client, tmp / "client.log")
        yield Mesh(ports, ca, foreign, signer_a, signer_b, tmp)
    finally:
        stop(client)
        stop(server)
        for srv in (jwks, echo):
            srv.shutdown()
            srv.server_close()


def tls_context(ca: CA, cred: Credential | None, tmp: Path) -> ssl.SSLContext:
    """A client TLS context trusting ``ca`` and presenting ``cred`` (SPIFFE certs have no DNS name)."""
    ctx = ssl.create_default_context(cadata=ca.pem)
    ctx.check_hostname = False
    ctx.set_alpn_protocols(["istio-peer-exchange", "istio"])
    if cred is not None:
        cert, key = tmp / f"c{id(cred)}.pem", tmp / f"k{id(cred)}.pem"
        cert.write_text(cred.cert)
        key.write_text(cred.key)
        ctx.load_cert_chain(cert, key)
    return ctx


@dataclass(frozen=True)
class Reply:
    status_code: int
    text: str


def get(
    port: int, path: str = "/", *, verify: ssl.SSLContext | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """One request; over TLS with ``verify`` as given (http.client keeps the context's ALPN, as a
    sidecar's ``istio`` ALPN must reach the server's filter-chain match)."""
    if verify is None:
        conn: http.client.HTTPConnection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    else:
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=verify)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return Reply(response.status, response.read().decode())
    finally:
        conn.close()


def test_strict_refuses_a_plaintext_client(mesh: Mesh) -> None:
    """STRICT: a client without TLS matches no filter chain and is disconnected."""
    with pytest.raises(OSError):
        get(mesh.ports.strict)


def test_strict_refuses_a_certificate_from_another_ca(mesh: Mesh) -> None:
    """A client certificate not signed by the mesh root fails the handshake; so does no certificate."""
    with pytest.raises(OSError):
        get(mesh.ports.strict, verify=tls_context(mesh.ca, mesh.foreign.workload(SLEEP_ID), mesh.tmp))
    with pytest.raises(OSError):
        get(mesh.ports.strict, verify=tls_context(mesh.ca, None, mesh.tmp))


def test_strict_passes_the_peer_identity_to_rbac(mesh: Mesh) -> None:
    """A mesh certificate is accepted; RBAC then allows the sleep identity and denies another one."""
    ok = get(mesh.ports.strict, verify=tls_context(mesh.ca, mesh.ca.workload(SLEEP_ID), mesh.tmp))
    assert ok.status_code == 200
    other = get(
        mesh.ports.strict,
        verify=tls_context(mesh.ca, mesh.ca.workload("spiffe://cluster.local/ns/default/sa/other"), mesh.tmp),
    )
    assert (other.status_code, other.text) == (403, "RBAC: access denied")


def test_permissive_accepts_plaintext_and_mtls(mesh: Mesh) -> None:
    """PERMISSIVE: both a plaintext client and an mTLS client get through."""
    assert get(mesh.ports.permissive).status_code == 200
    assert (
        get(mesh.ports.permissive, verify=tls_context(mesh.ca, mesh.ca.workload(SLEEP_ID), mesh.tmp)).status_code == 200
    )


def test_sidecar_to_permissive_uses_the_mtls_chain(mesh: Mesh) -> None:
    """A client sidecar's ISTIO_MUTUAL ALPN selects PERMISSIVE's mTLS chain (its identity passes RBAC);
    a plaintext client is accepted there too but, without an identity, denied by the same RBAC."""
    assert get(mesh.ports.via_permissive).status_code == 200
    assert get(mesh.ports.permissive_authn).status_code == 403


def test_client_sidecar_originates_istio_mtls(mesh: Mesh) -> None:
    """DR ISTIO_MUTUAL and auto mTLS (endpoint tlsMode=istio) reach the STRICT server as sleep; an
    endpoint without the label gets plaintext (refused: 503); a wrong SAN fails verification (503)."""
    assert get(mesh.ports.via_dr).status_code == 200
    assert get(mesh.ports.via_auto_sidecar).status_code == 200
    assert get(mesh.ports.via_auto_plain).status_code == 503
    assert get(mesh.ports.via_wrong_san).status_code == 503


def test_rbac_and_jwt_verdicts(mesh: Mesh) -> None:
    """403 `RBAC: access denied` for a DENY or no ALLOW match; 401 for a bad, expired or unverifiable
    token; a missing token passes until a rule requires a principal; jwksUri keys are fetched by Envoy."""
    port = mesh.ports.policies
    bearer = lambda t: {"authorization": f"Bearer {t}"}  # noqa: E731
    a = mesh.signer_a.token({"iss": ISS_A, "sub": "alice", "groups": ["admins"]})
    assert get(port, "/public").status_code == 200
    denied = get(port, "/admin")
    assert (denied.status_code, denied.text) == (403, "RBAC: access denied")
    assert get(port, "/elsewhere").status_code == 403
    assert get(port, "/secure").status_code == 403
    assert get(port, "/secure", headers=bearer(a)).status_code == 200
    assert get(port, "/group", headers=bearer(a)).status_code == 200
    assert get(port, "/group", headers=bearer(mesh.signer_a.token({"iss": ISS_A, "sub": "bob"}))).status_code == 403
    forged = Signer.create("a").token({"iss": ISS_A, "sub": "alice"})
    assert get(port, "/public", headers=bearer(forged)).status_code == 401
    expired = mesh.signer_a.token({"iss": ISS_A, "sub": "alice"}, expires_in=-120)
    assert get(port, "/secure", headers=bearer(expired)).status_code == 401
    remote = mesh.signer_b.token({"iss": ISS_B, "sub": "carol"})
    assert get(port, "/secure", headers=bearer(remote)).status_code == 200
    no_keys = mesh.signer_a.token({"iss": "no-keys@example.com", "sub": "x"})
    assert get(port, "/public", headers=bearer(no_keys)).status_code == 401


def _tcp_exchange(port: int, ctx: ssl.SSLContext | None) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock = ctx.wrap_socket(raw) if ctx is not None else raw
    try:
        sock.sendall(b"ping\n")
        data = b""
        while b"ping" not in data:
            chunk = sock.recv(100)
            if not chunk:
                break
            data += chunk
        return data
    finally:
        sock.close()


def _tcp_reply_or_refusal(port: int, ctx: ssl.SSLContext | None) -> bytes:
    """What the server sent back, or nothing when it closed the connection during the exchange."""
    try:
        return _tcp_exchange(port, ctx)
    except OSError:
        return b""


def test_tcp_rbac(mesh: Mesh) -> None:
    """STRICT TCP with network RBAC: sleep's connection is proxied; another identity is closed (the
    HTTP-only ALLOW rule was dropped); a DENY-all plaintext port closes every connection."""
    assert b"ping" in _tcp_exchange(mesh.ports.strict_tcp, tls_context(mesh.ca, mesh.ca.workload(SLEEP_ID), mesh.tmp))
    other = tls_context(mesh.ca, mesh.ca.workload("spiffe://cluster.local/ns/default/sa/other"), mesh.tmp)
    assert b"ping" not in _tcp_reply_or_refusal(mesh.ports.strict_tcp, other)
    assert b"ping" not in _tcp_reply_or_refusal(mesh.ports.plain_tcp, None)
