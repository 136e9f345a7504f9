"""A gateway's own ProxyConfig ``gatewayTopology.numTrustedProxies`` (``mizzen gateway --proxy-config``, Istio's
``proxy.istio.io/config`` annotation) over the mesh-wide default: two gateways, the same ``remoteIpBlocks``
policy, different verdicts for the same X-Forwarded-For, through real Envoy."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from security_mesh import TASKS, settle

from mizzen.testing.controlplane import controlplane, free_port
from mizzen.testing.mesh import Mesh

pytestmark = pytest.mark.e2e

# One Service per gateway (as two gateway deployments each have theirs), so each binds its own targetPort.
SERVICES = """
apiVersion: v1
kind: Service
metadata: {{name: httpbin, namespace: foo}}
spec:
  ports: [{{name: http, port: 8000}}]
  selector: {{app: httpbin}}
---
apiVersion: v1
kind: Service
metadata: {{name: gw-trusting, namespace: istio-system}}
spec:
  selector: {{gw: trusting}}
  ports: [{{name: http2, port: 80, targetPort: {trusting}}}]
---
apiVersion: v1
kind: Service
metadata: {{name: gw-default, namespace: istio-system}}
spec:
  selector: {{gw: default}}
  ports: [{{name: http2, port: 80, targetPort: {default}}}]
"""
REMOTE_ONLY = """
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ingress-policy, namespace: istio-system}
spec:
  selector:
    matchLabels: {app: istio-ingressgateway}
  action: ALLOW
  rules:
  - from:
    - source:
        remoteIpBlocks: ["10.9.8.7"]
"""


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, int]]:
    home = tmp_path_factory.mktemp("gateway-topology")  # no mesh.yaml: the mesh default trusts no hop
    with controlplane(home) as cp, Mesh(cp) as mesh:
        trusting, default = free_port(), free_port()
        mesh.apply(SERVICES.format(trusting=trusting, default=default), file="services.yaml")
        mesh.apply((TASKS / "httpbin-gateway.yaml").read_text(), file="httpbin-gateway.yaml")
        mesh.run("httpbin", {"app": "httpbin", "version": "v1"}, namespace="foo", ports=("http=8000",))
        base = {"istio": "ingressgateway", "app": "istio-ingressgateway"}
        mesh.run_gateway(
            "gw-trusting",
            labels={**base, "gw": "trusting"},
            extra_args=("--proxy-config", "gatewayTopology: {numTrustedProxies: 1}"),
        )
        mesh.run_gateway("gw-default", labels={**base, "gw": "default"})
        mesh.wait_synced(30)
        mesh.apply(REMOTE_ONLY, file="policy.yaml")
        mesh.wait_synced(30)
        yield trusting, default


def _status(port: int, xff: str | None) -> int:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30.0, trust_env=False) as c:
        return c.get("/headers", headers={"X-Forwarded-For": xff} if xff else {}).status_code


def test_remote_ip_blocks_follow_each_gateways_own_topology(ports: tuple[int, int]) -> None:
    """With numTrustedProxies 1 the X-Forwarded-For client 10.9.8.7 is the remote IP (200) and a request
    without the header is denied; the gateway on the mesh default (0) sees the connection's address (403)."""
    trusting, default = ports
    settle(lambda: _status(trusting, "10.9.8.7") == 200, "the trusting gateway reads X-Forwarded-For")
    assert _status(trusting, None) == 403
    settle(lambda: _status(default, "10.9.8.7") == 403, "the default gateway ignores X-Forwarded-For")
    assert _status(default, None) == 403
