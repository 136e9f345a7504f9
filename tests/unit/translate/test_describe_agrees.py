"""``mizzen describe`` and the translator read the same YAML the same way: which workloads a selector
(absent, empty or set) picks, which DestinationRule and VirtualService apply, which subsets a workload is
in, and which gateway a Gateway binds and on what port."""

from __future__ import annotations

import json
import re

import pytest

from mizzen.cli.describe import (
    GatewayProxy,
    World,
    describe_destination_rule,
    describe_workload,
    destination_rule_for,
    service_workloads,
    virtual_services_for,
)
from mizzen.config.loader import load_text
from mizzen.config.resource import Resource
from mizzen.node import Proxy
from mizzen.testing.simulation import mesh_from_resources
from mizzen.translate import translate
from mizzen.translate.model import ProxyResources

REVIEWS = "reviews.default.svc.cluster.local"

WORKLOADS = """
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v1, namespace: default}
spec: {address: 127.0.0.1, ports: {http: 20001}, labels: {app: reviews, version: v1}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: reviews-v2, namespace: default}
spec: {address: 127.0.0.2, ports: {http: 20002}, labels: {app: reviews, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other-ns, namespace: prod}
spec: {address: 127.0.0.3, labels: {app: reviews, version: v1}}
"""


def service(selector: str) -> str:
    return f"""
apiVersion: v1
kind: Service
metadata: {{name: reviews, namespace: default}}
spec:
  {selector}
  ports: [{{name: http, port: 9080}}]
"""


def resources(*texts: str) -> list[Resource]:
    """The documents in order, with creation times in that order (as the store stamps them)."""
    out: list[Resource] = []
    for text in texts:
        loaded = load_text(text)
        assert loaded.report.ok, loaded.report.errors
        out += loaded.resources
    return [r.with_metadata(uid=f"u{i}", creation_timestamp=f"2024-01-01T00:00:{i:02d}Z") for i, r in enumerate(out)]


def world(items: list[Resource], gateways: tuple[GatewayProxy, ...] = ()) -> World:
    """What describe reads: the API's JSON of every object."""
    objects: dict[str, list[dict[str, object]]] = {}
    for r in items:
        objects.setdefault(r.kind, []).append(r.to_json())
    return World(objects=objects, gateways=gateways)


def sidecar(name: str = "productpage-v1", **labels: str) -> Proxy:
    return Proxy(
        id=f"{name}.default", type="sidecar", name=name, namespace="default", labels=labels, http_proxy_port=15080
    )


def endpoint_workloads(out: ProxyResources, cluster: str) -> list[str]:
    """Workload names behind an EDS cluster (from the endpoint metadata ``workload;namespace``)."""
    return sorted(set(re.findall(r'"workload": "([^;"]+);', json.dumps(out.endpoints.get(cluster, {})))))


def cited(resource: object, kind_path: str) -> set[str]:
    """Names of the ``kind_path`` configs (``destination-rule``...) cited in ``istio.config`` metadata."""
    return set(re.findall(rf"/{kind_path}/([a-z0-9-]+)", json.dumps(resource)))


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("selector: {app: reviews}", ["reviews-v1", "reviews-v2"]),
        ("selector: {app: reviews, version: v2}", ["reviews-v2"]),
        ("selector: {}", []),
        ("", []),
    ],
    ids=["set", "narrow", "empty", "absent"],
)
def test_service_selector(selector: str, selected: list[str]) -> None:
    """A Service's selector picks the same workloads (its own namespace only; empty or absent: none)."""
    items = resources(service(selector), WORKLOADS)
    out = translate(sidecar(), mesh_from_resources(items))
    assert service_workloads(world(items), "reviews", "default") == selected
    assert endpoint_workloads(out, f"outbound|9080||{REVIEWS}") == selected


GATEWAY_SERVICE = """
apiVersion: v1
kind: Service
metadata: {name: istio-ingressgateway, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  ports: [{name: http2, port: 80, targetPort: 8080}]
"""


def gateway(selector: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {{name: gw, namespace: istio-system}}
spec:
  {selector}
  servers: [{{port: {{number: 80, name: http, protocol: HTTP}}, hosts: ["*"]}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: front, namespace: default}}
spec:
  hosts: ["*"]
  gateways: [istio-system/gw]
  http: [{{route: [{{destination: {{host: reviews}}}}]}}]
"""


@pytest.mark.parametrize(
    ("selector", "selected"),
    [
        ("selector: {istio: ingressgateway}", True),
        ("selector: {}", True),
        ("", True),
        ("selector: {istio: egressgateway}", False),
    ],
    ids=["matching", "empty", "absent", "other"],
)
def test_gateway_selector_and_port(selector: str, selected: bool) -> None:
    """A Gateway selects the same gateway (empty or absent: every gateway) and binds the same port:
    server 80 through the gateway's Service targetPort, 8080."""
    items = resources(service("selector: {app: reviews}"), WORKLOADS, GATEWAY_SERVICE, gateway(selector))
    labels = {"istio": "ingressgateway"}
    router = Proxy(id="gw.istio-system", type="router", name="gw", namespace="istio-system", labels=labels)
    listeners = translate(router, mesh_from_resources(items)).listeners
    text = describe_workload(world(items, (GatewayProxy("istio-system", labels),)), "reviews-v1", "default")
    assert ("Exposed on Ingress Gateway http://127.0.0.1:8080" in text) is selected
    assert (list(listeners) == ["0.0.0.0_8080"]) is selected


def rule(name: str, host: str, extra: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: default}}
spec:
  host: {host}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: all, labels: {{}}}}
  - {{name: none, labels: {{version: v9}}}}
{extra}"""


def virtual_service(name: str, host: str, gateways: str = "") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: default}}
spec:
  hosts: [{host}]
  {gateways}
  http: [{{route: [{{destination: {{host: reviews, subset: v1}}}}]}}]
"""


def test_destination_rule_and_virtual_service() -> None:
    """The oldest DestinationRule for the host (short name or FQDN) applies in both, and the oldest
    mesh-bound VirtualService naming the host is the one whose routes the sidecar gets."""
    items = resources(
        service("selector: {app: reviews}"),
        WORKLOADS,
        virtual_service("gateway-only", "reviews", "gateways: [istio-system/gw]"),
        rule("first", REVIEWS),
        rule("second", "reviews"),
        virtual_service("mesh-and-gw", REVIEWS, "gateways: [mesh, istio-system/gw]"),
        virtual_service("plain", "reviews"),
    )
    out = translate(sidecar(), mesh_from_resources(items))
    w = world(items)
    dr = destination_rule_for(w, REVIEWS)
    assert dr is not None and dr["metadata"]["name"] == "first"
    assert cited(out.clusters[f"outbound|9080||{REVIEWS}"], "destination-rule") == {"first"}
    vss = [vs["metadata"]["name"] for vs in virtual_services_for(w, REVIEWS)]
    assert vss == ["mesh-and-gw", "plain"]
    vhosts = json.loads(json.dumps(out.routes["http_proxy"]))["virtual_hosts"]
    assert cited(next(v for v in vhosts if v["name"] == f"{REVIEWS}:9080"), "virtual-service") == {vss[0]}


@pytest.mark.parametrize(("workload", "matching"), [("reviews-v1", ["v1", "all"]), ("reviews-v2", ["all"])])
def test_subsets(workload: str, matching: list[str]) -> None:
    """A workload is in the same subsets (an empty subset selector takes every endpoint)."""
    items = resources(service("selector: {app: reviews}"), WORKLOADS, rule("reviews", "reviews"))
    out = translate(sidecar(), mesh_from_resources(items))
    w = world(items)
    dr = destination_rule_for(w, REVIEWS)
    assert dr is not None
    labels = next(r.to_json()["spec"]["labels"] for r in items if r.name == workload)
    described = describe_destination_rule(dr, labels)
    assert described[1] == f"   Matching subsets: {','.join(matching)}"
    in_subsets = [
        s for s in ("v1", "all", "none") if workload in endpoint_workloads(out, f"outbound|9080|{s}|{REVIEWS}")
    ]
    assert in_subsets == matching
