"""The translator applies each kind's selector rule as Istio does: an absent workload selector is not an
empty one (Sidecar precedence and the mesh default, DestinationRule namespace), and a Gateway's empty
selector takes every gateway."""

from __future__ import annotations

import pytest
from translate_fixtures import bookinfo, gateway_proxy, sidecar

from mizzen.translate import translate
from mizzen.translate.model import MeshConfig
from mizzen.translate.scope import build_scope, select_sidecar

REVIEWS = "reviews.default.svc.cluster.local"


def sidecar_resource(name: str, namespace: str, selector: str, hosts: str) -> str:
    return f"""apiVersion: networking.istio.io/v1
kind: Sidecar
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  {selector}
  egress: [{{hosts: [{hosts}]}}]
"""


@pytest.mark.parametrize(
    ("selector", "chosen"),
    [
        ("workloadSelector: {labels: {app: productpage}}", "selected"),
        ("workloadSelector: {labels: {app: other}}", "namespace-default"),
        ("workloadSelector: {labels: {}}", "selected"),
        ("workloadSelector: {}", "selected"),
    ],
    ids=["matching", "other", "empty-labels", "empty"],
)
def test_sidecar_precedence(selector: str, chosen: str) -> None:
    """A Sidecar with a workload selector, even an empty one, outranks the namespace's selector-less Sidecar."""
    mesh = bookinfo(
        sidecar_resource("namespace-default", "default", "", '"./*"'),
        sidecar_resource("selected", "default", selector, '"./ratings"'),
    )
    found = select_sidecar(sidecar(), mesh)
    assert found is not None and found.name == chosen


@pytest.mark.parametrize(
    ("selector", "is_default"),
    [("", True), ("workloadSelector: {}", False), ("workloadSelector: {labels: {app: productpage}}", False)],
    ids=["absent", "empty", "set"],
)
def test_root_default_needs_no_selector(selector: str, is_default: bool) -> None:
    """Only a root-namespace Sidecar without ``workloadSelector`` is the mesh-wide default."""
    mesh = bookinfo(sidecar_resource("default", "istio-system", selector, '"./*"'))
    found = select_sidecar(sidecar(), mesh)
    assert (found is not None) is is_default


DR = """apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews-lb, namespace: {namespace}}}
spec:
  host: {host}
  {selector}
  trafficPolicy: {{loadBalancer: {{simple: RANDOM}}}}
"""


@pytest.mark.parametrize(
    ("namespace", "selector", "applies"),
    [
        ("default", "", True),
        ("prod", "", True),
        ("default", "workloadSelector: {}", True),
        ("prod", "workloadSelector: {}", False),
        ("default", "workloadSelector: {matchLabels: {app: productpage}}", True),
        ("default", "workloadSelector: {matchLabels: {app: other}}", False),
        ("prod", "workloadSelector: {matchLabels: {app: productpage}}", False),
    ],
)
def test_destination_rule_workload_selector(namespace: str, selector: str, applies: bool) -> None:
    """A DestinationRule without selector applies everywhere it is exported; with one (even empty), only to
    the workloads it selects in its own namespace."""
    mesh = bookinfo(DR.format(namespace=namespace, host=REVIEWS, selector=selector))
    policy = build_scope(sidecar(), mesh).destination_policy(REVIEWS)
    assert (policy.source is not None) is applies
    lb = translate(sidecar(), mesh).clusters[f"outbound|9080||{REVIEWS}"]["lb_policy"]
    assert lb == ("RANDOM" if applies else "LEAST_REQUEST")


GATEWAY = """apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  {selector}
  servers: [{{port: {{number: 8080, name: http, protocol: HTTP}}, hosts: ["*"]}}]
"""


@pytest.mark.parametrize(
    ("selector", "bound"),
    [("selector: {istio: ingressgateway}", True), ("selector: {}", True), ("", True), ("selector: {a: b}", False)],
    ids=["matching", "empty", "absent", "other"],
)
def test_gateway_selector(selector: str, bound: bool) -> None:
    """A Gateway with an empty or absent selector configures every gateway proxy."""
    out = translate(gateway_proxy(), bookinfo(GATEWAY.format(selector=selector), mesh=MeshConfig()))
    assert ("0.0.0.0_8080" in out.listeners) is bound


def test_root_default_dot_is_the_workloads_namespace() -> None:
    """The root namespace's default Sidecar reads ``./*`` as the namespace of each workload it applies to."""
    mesh = bookinfo(sidecar_resource("default", "istio-system", "", '"./*"'))
    scope = build_scope(sidecar(), mesh)
    assert scope.egress == (("default", "*"),)
    assert REVIEWS in {s.hostname for s in scope.services}
