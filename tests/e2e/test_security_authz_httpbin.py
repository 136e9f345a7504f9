"""Istio's authorization tasks that use httpbin and a curl client in namespace ``foo``, through real sidecars:

- "Explicit deny": DENY by method, ``notValues`` on a header, then an ALLOW by path beside it;
- "Authorization with JWT": invalid token 401, missing token 200 then 403 once a request principal is
  required, a claim rule; the task's ``jwksUri`` form, the keys fetched by Envoy from a mesh service;
- "Authorization for TCP traffic": ports on the network RBAC filter, HTTP-only fields on a TCP port;
- "Authorization on Ingress Gateway": ``ipBlocks`` on the connection's address, ``remoteIpBlocks`` on the
  X-Forwarded-For client with MeshConfig ``gatewayTopology.numTrustedProxies: 1``, a deny list;
- the ``istio.io/dry-run`` annotation (logged, not enforced).

httpbin is the echo backend (it answers every path 200, as httpbin's /get, /post, /ip do) behind Service
``httpbin`` port 8000 as in Istio's sample; ``curl`` sends through its own sidecar exactly as the task's
``kubectl exec ... curl`` does (TCP through its explicit upstream ports, as ``nc tcp-echo 9000``). The
policies are the task's YAML (``security_tasks/``), applied one at a time.
"""

from __future__ import annotations

import re
import socket
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from security_mesh import DEMO, GROUPS, TASKS, path_of, settle, task_documents

from mizzen.testing.controlplane import controlplane, free_port
from mizzen.testing.mesh import Mesh, Workload

pytestmark = pytest.mark.e2e

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: httpbin, namespace: foo, labels: {app: httpbin, service: httpbin}}
spec:
  ports: [{name: http, port: 8000}]
  selector: {app: httpbin}
---
apiVersion: v1
kind: Service
metadata: {name: tcp-echo, namespace: foo, labels: {app: tcp-echo, service: tcp-echo}}
spec:
  ports: [{name: tcp, port: 9000}, {name: tcp-other, port: 9001}]
  selector: {app: tcp-echo}
---
apiVersion: v1
kind: Service
metadata: {name: curl, namespace: foo, labels: {app: curl, service: curl}}
spec:
  ports: [{name: http, port: 80}]
  selector: {app: curl}
---
apiVersion: v1
kind: Service
metadata: {name: jwks, namespace: foo, labels: {app: jwks, service: jwks}}
spec:
  ports: [{name: http, port: 8000}]
  selector: {app: jwks}
"""
URL = "http://httpbin.foo:8000"
# The task's jwksUri names a mesh-external host; here a mesh workload serves the same JWKS, and Envoy fetches it
# through its own outbound cluster for that host, as it fetches Istio's from GitHub through a ServiceEntry's.
JWKS_URI = "http://jwks.foo.svc.cluster.local:8000/jwks.json"
TCP_PORTS = ("--port", "{port_tcp}", "--port", "{port_tcp-other}", "--port", "{port_tcp-third}")
DRY_RUN = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-path-headers
  namespace: foo
  annotations:
    "istio.io/dry-run": "true"
spec:
  selector:
    matchLabels:
      app: httpbin
  action: DENY
  rules:
  - to:
    - operation:
        paths: ["/headers"]
"""


class Foo:
    """httpbin and curl in namespace foo; requests as the task's curl sends them."""

    def __init__(self, mesh: Mesh, curl: Workload, gateway_port: int) -> None:
        self.mesh, self.curl = mesh, curl
        self.ingress = httpx.Client(base_url=f"http://127.0.0.1:{gateway_port}", timeout=30.0, trust_env=False)
        self.applied: dict[tuple[str, str], None] = {}

    def apply(self, doc: str, kind: str, name: str) -> list[dict[str, Any]]:
        """Apply one task document and wait for the proxies; the API's warnings are returned."""
        answer = self.mesh.apply(doc, file="task.yaml")
        self.applied[(kind, name)] = None
        self.mesh.wait_synced(30)
        return list(answer.get("report", []))

    def clear(self) -> None:
        """Delete every policy a test applied, and wait until the proxies have it."""
        for kind, name in list(self.applied):
            self.mesh.delete(path_of(kind, "istio-system" if name == "ingress-policy" else "foo", name))
        self.applied.clear()
        self.mesh.wait_synced(30)

    def status(self, path: str, method: str = "GET", headers: dict[str, str] | None = None) -> int:
        with self.curl.client() as c:
            return c.request(method, URL + path, headers=headers or {}).status_code

    def response(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.curl.get(URL + path, headers=headers or {})


def _gateway_service(listen_port: int) -> str:
    """The installation's gateway Service: the Gateway's port 80 binds ``listen_port`` (Istio's targetPort)."""
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: istio-ingressgateway, namespace: istio-system}}
spec:
  selector: {{istio: ingressgateway}}
  ports: [{{name: http2, port: 80, targetPort: {listen_port}}}]
"""


@pytest.fixture(scope="module")
def foo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Foo]:
    home = tmp_path_factory.mktemp("authz-foo")
    # The ingress task's HTTP load balancer: trust one X-Forwarded-For hop at the gateway.
    (home / "mesh.yaml").write_text("defaultConfig:\n  gatewayTopology:\n    numTrustedProxies: 1\n")
    with controlplane(home) as cp, Mesh(cp) as mesh:
        gateway_port = free_port()
        mesh.apply(SERVICES + "---\n" + _gateway_service(gateway_port), file="httpbin.yaml")
        mesh.apply((TASKS / "httpbin-gateway.yaml").read_text(), file="httpbin-gateway.yaml")
        mesh.run("httpbin", {"app": "httpbin", "version": "v1"}, namespace="foo", ports=("http=8000",), wait=False)
        # tcp-echo listens on 9000, 9001 and 9002; its Service declares only 9000 and 9001 (Istio's sample).
        mesh.run(
            "tcp-echo",
            {"app": "tcp-echo", "version": "v1"},
            namespace="foo",
            ports=("tcp=9000", "tcp-other=9001", "tcp-third=9002"),
            ready_path=None,
            wait=False,
            command=[sys.executable, "-m", "mizzen.testing.tcpecho", "--name", "hello", *TCP_PORTS],
        )
        jwks_dir = home / "jwks"
        jwks_dir.mkdir()
        (jwks_dir / "jwks.json").write_text(_inline_jwks())
        mesh.run(
            "jwks",
            {"app": "jwks", "version": "v1"},
            namespace="foo",
            ports=("http=8000",),
            ready_path="/jwks.json",
            wait=False,
            command=[sys.executable, "-m", "http.server", "{port_http}", "--bind", "127.0.0.1", "-d", str(jwks_dir)],
        )
        upstreams = ("--upstream", "tcp-echo:9000", "--upstream", "tcp-echo:9001")
        curl = mesh.run("curl", {"app": "curl"}, namespace="foo", ports=("http=80",), wait=False, extra_args=upstreams)
        mesh.wait_running(*mesh.workloads)
        mesh.run_gateway(labels={"istio": "ingressgateway", "app": "istio-ingressgateway"})
        mesh.wait_synced(30)
        yield Foo(mesh, curl, gateway_port)


@pytest.fixture
def clean(foo: Foo) -> Iterator[Foo]:
    foo.clear()
    settle(lambda: foo.status("/ip") == 200, "httpbin reachable without policies")
    yield foo
    foo.clear()


def test_explicit_deny_by_method_then_not_values_then_allow_path(clean: Foo) -> None:
    """deny-method-get: GET 403, POST 200; with ``notValues: [admin]`` on x-token only admins GET; with
    allow-path-ip beside it, /ip needs x-token admin and /get is denied even for admins."""
    deny_get, deny_not_admin, allow_ip = task_documents("authz-deny.yaml")
    clean.apply(deny_get, "AuthorizationPolicy", "deny-method-get")
    settle(lambda: clean.status("/get") == 403, "GET /get denied")
    assert clean.status("/post", "POST") == 200
    assert clean.response("/get").text == "RBAC: access denied"

    clean.apply(deny_not_admin, "AuthorizationPolicy", "deny-method-get")
    settle(lambda: clean.status("/get", headers={"x-token": "admin"}) == 200, "GET /get as admin")
    assert clean.status("/get", headers={"x-token": "guest"}) == 403

    clean.apply(allow_ip, "AuthorizationPolicy", "allow-path-ip")
    settle(lambda: clean.status("/get", headers={"x-token": "admin"}) == 403, "GET /get outside allow-path-ip")
    assert clean.status("/ip", headers={"x-token": "guest"}) == 403
    assert clean.status("/ip", headers={"x-token": "admin"}) == 200


def test_jwt_invalid_is_401_missing_passes_until_a_principal_is_required(clean: Foo) -> None:
    """RequestAuthentication alone: a bad token is 401, a missing one passes; require-jwt: the valid
    token is 200 and no token is 403; the groups rule admits only the token with group1."""
    jwt_example, require_jwt, require_group = task_documents("authz-jwt.yaml")
    clean.apply(jwt_example, "RequestAuthentication", "jwt-example")
    bad = {"Authorization": "Bearer invalidToken"}
    settle(lambda: clean.status("/headers", headers=bad) == 401, "an invalid token refused")
    assert clean.status("/headers") == 200
    assert clean.status("/headers", headers={"Authorization": f"Bearer {DEMO}"}) == 200

    clean.apply(require_jwt, "AuthorizationPolicy", "require-jwt")
    settle(lambda: clean.status("/headers") == 403, "no token denied")
    assert clean.status("/headers", headers={"Authorization": f"Bearer {DEMO}"}) == 200
    assert clean.status("/headers", headers=bad) == 401

    clean.apply(require_group, "AuthorizationPolicy", "require-jwt")
    settle(lambda: clean.status("/headers", headers={"Authorization": f"Bearer {DEMO}"}) == 403, "no group1 claim")
    assert clean.status("/headers", headers={"Authorization": f"Bearer {GROUPS}"}) == 200


def _inline_jwks() -> str:
    """The JWKS the task's RequestAuthentication carries inline (Istio's public test key)."""
    match = re.search(r"^    jwks: '(.*)'$", task_documents("authz-jwt.yaml")[0], re.M)
    assert match, "authz-jwt.yaml's first document has an inline jwks"
    return match.group(1)


def _with_jwks_uri(uri: str) -> str:
    """The task's RequestAuthentication with ``jwksUri: uri`` in place of the inline keys (as the task has it)."""
    doc = task_documents("authz-jwt.yaml")[0]
    return re.sub(r"^    jwks: '.*'$", f'    jwksUri: "{uri}"', doc, flags=re.M)


def test_jwks_uri_is_fetched_through_the_mesh_and_an_unserved_one_fails_closed(clean: Foo) -> None:
    """RequestAuthentication with ``jwksUri``: Envoy fetches the keys from the mesh service serving them, so the
    valid token is 200 and a bad one 401; a jwksUri no service answers leaves even the valid token 401, and a
    host no Service or ServiceEntry defines draws the MZ2783 warning at apply (file:line, field path)."""
    valid = {"Authorization": f"Bearer {DEMO}"}
    assert clean.apply(_with_jwks_uri(JWKS_URI), "RequestAuthentication", "jwt-example") == []
    settle(lambda: clean.status("/headers", headers={"Authorization": "Bearer invalidToken"}) == 401, "bad token 401")
    settle(lambda: clean.status("/headers", headers=valid) == 200, "the valid token verified with the fetched keys")
    assert clean.status("/headers") == 200  # no token: passes without an AuthorizationPolicy

    missing = _with_jwks_uri("http://jwks.foo.svc.cluster.local:8000/missing.json")
    assert clean.apply(missing, "RequestAuthentication", "jwt-example") == []  # the host is served, the path is not
    settle(lambda: clean.status("/headers", headers=valid) == 401, "no keys: the valid token is refused")

    unserved = _with_jwks_uri("http://keys.nowhere.example:8000/jwks.json")
    (warning,) = clean.apply(unserved, "RequestAuthentication", "jwt-example")
    assert (warning["code"], warning["level"], warning["path"]) == ("MZ2783", "warning", "spec.jwtRules[0].jwksUri")
    assert warning["file"] == "task.yaml" and isinstance(warning["line"], int)
    assert "keys.nowhere.example:8000" in warning["message"] and "rejected with 401" in warning["message"]
    assert clean.status("/headers", headers={"Authorization": "Bearer invalidToken"}) == 401
    settle(lambda: clean.status("/headers", headers=valid) == 401, "unserved host: the valid token is refused")


def test_dry_run_policy_is_not_enforced(clean: Foo) -> None:
    """An ``istio.io/dry-run: "true"`` DENY policy leaves /headers at 200 (shadow rules only), and the
    sidecar counts the request it would have denied (``istio_dry_run_deny_`` shadow stats)."""
    clean.apply(DRY_RUN, "AuthorizationPolicy", "deny-path-headers")
    stats_path = "/api/mizzen/v1/proxies/httpbin.foo/admin/stats"

    def shadow_denied() -> int:
        text = clean.mesh.http.get(stats_path, params={"filter": "shadow_denied"}).text
        return sum(int(line.rsplit(":", 1)[1]) for line in text.splitlines() if "shadow_denied" in line)

    settle(lambda: "shadow_rules" in _rbac_config(clean), "the shadow rules on httpbin's sidecar")
    before = shadow_denied()
    statuses: list[int] = []

    def counted() -> bool:
        # Connections opened before the update keep their old filter chain until drained, and Envoy
        # merges its workers' counters into the admin's view periodically: keep sending until counted.
        statuses.append(clean.status("/headers"))
        return shadow_denied() >= before + 3

    settle(counted, "requests counted as dry-run denials", 30, in_a_row=1)
    assert set(statuses) == {200}, statuses


def _rbac_config(foo: Foo) -> str:
    return foo.mesh.http.get("/api/mizzen/v1/proxies/httpbin.foo/admin/config_dump").text


def test_ingress_ip_blocks_remote_ip_blocks_and_deny_list(clean: Foo) -> None:
    """At the ingress gateway: ipBlocks without the client's address 403, with it 200; remoteIpBlocks match
    the X-Forwarded-For client the one trusted proxy reports, not the connection; a DENY on the client's
    address 403."""
    only_others, with_client, remote, deny_client = (
        d.replace("$CLIENT_IP", "127.0.0.1") for d in task_documents("authz-ingress.yaml")
    )

    def status(xff: str | None = None) -> int:
        # A new connection each time, as each curl of the task opens one: connections opened before a
        # policy update keep the gateway's previous filter chain until they drain.
        with httpx.Client(base_url=clean.ingress.base_url, timeout=30.0, trust_env=False) as c:
            return c.get("/headers", headers={"X-Forwarded-For": xff} if xff else {}).status_code

    settle(lambda: status() == 200, "httpbin through the gateway")
    clean.apply(only_others, "AuthorizationPolicy", "ingress-policy")
    settle(lambda: status() == 403, "ipBlocks without the client: denied")
    assert clean.ingress.get("/headers").text == "RBAC: access denied"
    assert status(xff="1.2.3.4") == 403  # ipBlocks look at the connection, not at X-Forwarded-For

    clean.apply(with_client, "AuthorizationPolicy", "ingress-policy")
    settle(lambda: status() == 200, "ipBlocks with the client: allowed")

    clean.apply(remote, "AuthorizationPolicy", "ingress-policy")
    settle(lambda: status(xff="9.9.9.9") == 403, "remoteIpBlocks: a forwarded client outside them denied")
    assert status(xff="1.2.3.4") == 200
    assert status(xff="5.6.7.8") == 200
    assert status() == 403  # no proxy in front: the client is the connection's 127.0.0.1

    clean.apply(deny_client, "AuthorizationPolicy", "ingress-policy")
    settle(lambda: status() == 403, "the deny list holds the client")


def _echo(port: int) -> bool:
    """``echo "port N" | nc HOST N | grep hello``: the greeting and the echo came back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
            conn.settimeout(5)
            conn.sendall(b"port %d\n" % port)
            got = b""
            while b"port" not in got:
                chunk = conn.recv(4096)
                if not chunk:
                    return False
                got += chunk
            return got.startswith(b"hello")
    except OSError:
        return False


def test_tcp_ports_and_http_only_fields(clean: Foo) -> None:
    """tcp-policy: 9000 and 9001 connect, 9002 (not in the policy, reached at the workload) is closed; an
    ALLOW rule with ``methods`` cannot match TCP, so 9000 is closed too; a DENY rule with ``methods``
    keeps its port and closes 9000 only."""
    allow_ports, allow_get, deny_get = task_documents("authz-tcp.yaml")
    ups = {u["port"]: int(u["listenPort"]) for u in clean.curl.state()["ports"]["upstreams"]}
    echo = next(w for w in clean.mesh.workloads if w.name == "tcp-echo")
    direct_9002 = int(echo.state()["ports"]["inbound"]["tcp-third"])  # the task's nc $TCP_ECHO_IP 9002
    settle(lambda: _echo(ups[9000]) and _echo(ups[9001]) and _echo(direct_9002), "tcp-echo without policies")

    clean.apply(allow_ports, "AuthorizationPolicy", "tcp-policy")
    settle(lambda: not _echo(direct_9002), "port 9002 rejected")
    assert _echo(ups[9000]) and _echo(ups[9001])

    clean.apply(allow_get, "AuthorizationPolicy", "tcp-policy")
    settle(lambda: not _echo(ups[9000]), "9000 rejected: methods never match TCP in an ALLOW rule")
    assert not _echo(ups[9001])

    clean.apply(deny_get, "AuthorizationPolicy", "tcp-policy")
    settle(lambda: _echo(ups[9001]), "9001 allowed under the DENY rule")
    assert not _echo(ups[9000])
