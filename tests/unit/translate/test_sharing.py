"""Shared + local resources equal the full translation, and equal keys mean equal shared output."""

from __future__ import annotations

import pytest

from mizzen.config import load_text
from mizzen.node import InboundPort, Proxy, Upstream
from mizzen.samples.bookinfo.paths import networking_file, platform_file
from mizzen.testing.simulation import mesh_from_resources
from mizzen.translate import translate
from mizzen.translate.model import MeshSnapshot
from mizzen.translate.sharing import local_resources, merge, shared_resources, sharing_key

WORKLOADS = "\n---\n".join(
    f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {app}-{v}}}
spec: {{address: 127.0.0.1, ports: {{http: {port}}}, labels: {{app: {app}, version: {v}}}}}"""
    for port, (app, v) in enumerate(
        [
            ("productpage", "v1"),
            ("details", "v1"),
            ("reviews", "v1"),
            ("reviews", "v2"),
            ("reviews", "v3"),
            ("ratings", "v1"),
        ],
        start=41000,
    )
)

SELECTORS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings}
spec:
  hosts: [ratings]
  http:
  - match: [{sourceLabels: {app: reviews, version: v2}}]
    fault: {abort: {httpStatus: 500, percentage: {value: 100}}}
    route: [{destination: {host: ratings, subset: v1}}]
  - route: [{destination: {host: ratings, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {name: reviews-v3-scope}
spec:
  workloadSelector: {labels: {app: reviews, version: v3}}
  egress: [{hosts: ["./ratings"]}]
"""


def _mesh(*extra: str) -> MeshSnapshot:
    text = platform_file().read_text() + "\n---\n" + WORKLOADS
    for name in ("destination-rule-all", "virtual-service-reviews-test-v2"):
        text += "\n---\n" + networking_file(name).read_text()
    for e in extra:
        text += "\n---\n" + e
    return mesh_from_resources(load_text(text).resources)


def _proxy(name: str, app: str, version: str, port: int, *, namespace: str = "default") -> Proxy:
    return Proxy(
        id=f"{name}.{namespace}",
        type="sidecar",
        name=name,
        namespace=namespace,
        labels={"app": app, "version": version},
        http_proxy_port=port,
        inbound=(InboundPort(9080, "http", "HTTP", port + 1, port + 2),),
        upstreams=(Upstream("ratings", 9080, port + 3),),
    )


PROXIES = [
    _proxy("productpage-v1", "productpage", "v1", 30000),
    _proxy("reviews-v2", "reviews", "v2", 30010),
    _proxy("reviews-v3", "reviews", "v3", 30020),
    _proxy("other", "x", "v1", 30030, namespace="other"),
]


@pytest.mark.parametrize("proxy", PROXIES, ids=lambda p: p.id)
@pytest.mark.parametrize("extra", [(), (SELECTORS,)], ids=["plain", "selectors"])
def test_shared_plus_local_is_the_full_translation(proxy: Proxy, extra: tuple[str, ...]) -> None:
    """Merging the shared and the per-proxy parts gives exactly translate()'s output."""
    mesh = _mesh(*extra)
    assert merge(shared_resources(proxy, mesh), local_resources(proxy, mesh)) == translate(proxy, mesh)


def test_equal_keys_give_equal_shared_output() -> None:
    """Two proxies that differ only in name, labels no selector uses, and ports share their outbound config."""
    mesh = _mesh()
    a, b = PROXIES[0], _proxy("details-v1", "details", "v1", 31000)
    assert sharing_key(a, mesh) == sharing_key(b, mesh)
    assert shared_resources(a, mesh) == shared_resources(b, mesh)
    assert local_resources(a, mesh) != local_resources(b, mesh)


def test_a_selector_that_picks_a_proxy_changes_its_key() -> None:
    """sourceLabels and Sidecar workloadSelector make the selected proxies' keys (and outputs) differ."""
    mesh = _mesh(SELECTORS)
    keys = {p.id: sharing_key(p, mesh) for p in PROXIES[:3]}
    assert len(set(keys.values())) == 3
    assert shared_resources(PROXIES[1], mesh) != shared_resources(PROXIES[0], mesh)


def test_namespace_is_part_of_the_key_and_gateways_share_nothing() -> None:
    """Domains and visibility depend on the namespace; gateways are never shared."""
    mesh = _mesh()
    assert sharing_key(PROXIES[0], mesh) != sharing_key(PROXIES[3], mesh)
    gw = Proxy(
        id="gw.istio-system", type="router", name="gw", namespace="istio-system", labels={"istio": "ingressgateway"}
    )
    assert sharing_key(gw, mesh) is None


def test_sharing_holds_with_telemetry_on() -> None:
    """With the access-log service on (as the control plane runs), the peer header stays per proxy."""
    import dataclasses

    mesh = _mesh(SELECTORS)
    mesh = dataclasses.replace(
        mesh,
        mesh=dataclasses.replace(mesh.mesh, access_log_service=True, zipkin_address="127.0.0.1:1"),
    )
    a, b = PROXIES[0], _proxy("details-v1", "details", "v1", 31000)
    for p in (a, b):
        assert merge(shared_resources(p, mesh), local_resources(p, mesh)) == translate(p, mesh)
    assert shared_resources(a, mesh) == shared_resources(b, mesh)
    listener = translate(b, mesh).listeners["127.0.0.1_31000"]
    assert "details-v1.default" in str(listener)  # its own identity, in its own listener
