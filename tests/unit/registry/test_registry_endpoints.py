"""Registry: Endpoints and EndpointSlices give a selector-less Service its endpoints, ports matched by name."""

from __future__ import annotations

import random
from typing import Any

from mizzen.config.models import Typed, parse
from mizzen.config.resource import Metadata, Resource
from mizzen.registry import Registry, build_registry

WIKI = "my-wikipedia.default.svc.cluster.local"


def svc(name: str, ports: list[dict[str, Any]], ns: str = "default", **spec: Any) -> Typed[object]:
    """A Kubernetes Service (no selector unless given)."""
    return parse(Resource("v1", "Service", Metadata(name=name, namespace=ns), {"ports": ports, **spec}))


def endpoints(name: str, subsets: list[dict[str, Any]], ns: str = "default") -> Typed[object]:
    """An Endpoints object (its ``subsets`` are stored in the spec, as the loader does)."""
    return parse(Resource("v1", "Endpoints", Metadata(name=name, namespace=ns), {"subsets": subsets}))


def endpoint_slice(
    name: str, service: str | None, endpoints: list[dict[str, Any]], ports: list[dict[str, Any]], **spec: Any
) -> Typed[object]:
    """An EndpointSlice labelled for ``service`` (no label when ``None``)."""
    labels = {"kubernetes.io/service-name": service} if service else {}
    body = {"addressType": "IPv4", "endpoints": endpoints, "ports": ports, **spec}
    return parse(Resource("discovery.k8s.io/v1", "EndpointSlice", Metadata(name, "default", labels=labels), body))


MY_WIKIPEDIA = svc("my-wikipedia", [{"protocol": "TCP", "port": 443, "name": "tls"}])
TASK_ENDPOINTS = endpoints(
    "my-wikipedia",
    [{"addresses": [{"ip": "198.35.26.96"}, {"ip": "208.80.153.224"}], "ports": [{"port": 443, "name": "tls"}]}],
)


def test_the_tasks_endpoints_become_the_services_endpoints() -> None:
    """Istio's task: both addresses of Endpoints my-wikipedia serve my-wikipedia's port 443, plaintext."""
    eps = build_registry([MY_WIKIPEDIA, TASK_ENDPOINTS]).endpoints_of(WIKI, 443)
    assert [(e.address, e.port, e.healthy, e.tls_mode) for e in eps] == [
        ("198.35.26.96", 443, True, ""),
        ("208.80.153.224", 443, True, ""),
    ]


def test_ports_match_by_name_not_number_or_target_port() -> None:
    """A Service port takes the endpoint port of its name (its targetPort plays no part); an endpoint port
    whose name no Service port has serves nothing, and a Service port no subset names has no endpoints."""
    service = svc(
        "web", [{"name": "http", "port": 80, "targetPort": 9999}, {"name": "admin", "port": 9000}], clusterIP="10.9.0.1"
    )
    eps = endpoints("web", [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "http", "port": 8080}]}])
    snap = build_registry([service, eps])
    assert [(e.address, e.port) for e in snap.endpoints_of("web.default.svc.cluster.local", 80)] == [("10.0.0.1", 8080)]
    assert snap.endpoints_of("web.default.svc.cluster.local", 9000) == ()


def test_unnamed_single_ports_match_each_other() -> None:
    """A Service with one unnamed port takes the subset's unnamed port."""
    service = svc("db", [{"port": 5432}])
    eps = endpoints("db", [{"addresses": [{"ip": "10.0.0.5"}], "ports": [{"port": 15432}]}])
    snap = build_registry([service, eps])
    assert [(e.address, e.port) for e in snap.endpoints_of("db.default.svc.cluster.local", 5432)] == [
        ("10.0.0.5", 15432)
    ]


def test_not_ready_addresses_and_unready_slice_endpoints_are_unhealthy() -> None:
    """``notReadyAddresses`` and a slice endpoint with ``ready: false`` are unhealthy; ``ready`` unset is ready."""
    eps = endpoints(
        "my-wikipedia",
        [
            {
                "addresses": [{"ip": "10.0.0.1"}],
                "notReadyAddresses": [{"ip": "10.0.0.2"}],
                "ports": [{"name": "tls", "port": 443}],
            }
        ],
    )
    sl = endpoint_slice(
        "my-wikipedia-x",
        "my-wikipedia",
        [{"addresses": ["10.0.0.3"], "conditions": {"ready": False}}, {"addresses": ["10.0.0.4"]}],
        [{"name": "tls", "port": 443}],
    )
    found = {(e.address, e.healthy) for e in build_registry([MY_WIKIPEDIA, eps, sl]).endpoints_of(WIKI, 443)}
    assert found == {("10.0.0.1", True), ("10.0.0.2", False), ("10.0.0.3", False), ("10.0.0.4", True)}


def test_slices_join_their_service_by_label_and_fqdn_or_unlabelled_slices_do_nothing() -> None:
    """A slice serves the Service its kubernetes.io/service-name label names (its own name does not count);
    an FQDN slice and a slice without the label give no endpoints (Istio ignores them)."""
    ports = [{"name": "tls", "port": 443}]
    labelled = endpoint_slice("anything", "my-wikipedia", [{"addresses": ["10.0.0.7"]}], ports)
    unlabelled = endpoint_slice("my-wikipedia", None, [{"addresses": ["10.0.0.8"]}], ports)
    fqdn = endpoint_slice("f", "my-wikipedia", [{"addresses": ["en.wikipedia.org"]}], ports, addressType="FQDN")
    eps = build_registry([MY_WIKIPEDIA, labelled, unlabelled, fqdn]).endpoints_of(WIKI, 443)
    assert [e.address for e in eps] == ["10.0.0.7"]


def test_a_service_with_a_selector_or_external_name_ignores_endpoints() -> None:
    """Kubernetes' endpoints controller owns the Endpoints of a Service with a selector, and an ExternalName
    Service resolves its name: a user's Endpoints of the same name change neither."""
    selected = svc("web", [{"name": "http", "port": 80}], selector={"app": "web"})
    external = svc("ext", [{"name": "http", "port": 80}], type="ExternalName", externalName="example.org")
    subset = [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "http", "port": 80}]}]
    snap = build_registry([selected, external, endpoints("web", subset), endpoints("ext", subset)])
    assert snap.endpoints_of("web.default.svc.cluster.local", 80) == ()
    assert [e.address for e in snap.endpoints_of("ext.default.svc.cluster.local", 80)] == ["example.org"]


def test_endpoints_of_another_namespace_do_not_count() -> None:
    """Endpoints serve the Service of their own namespace only."""
    other = endpoints(
        "my-wikipedia", [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"name": "tls", "port": 443}]}], ns="web"
    )
    assert build_registry([MY_WIKIPEDIA, other]).endpoints_of(WIKI, 443) == ()


def test_incremental_endpoints_change_reports_the_services_host() -> None:
    """Adding, changing and deleting Endpoints reports the Service's hostname each time; Endpoints before
    their Service count once the Service arrives; a change that alters nothing reports nothing."""
    reg = Registry()
    assert reg.apply("ADDED", TASK_ENDPOINTS) == set()  # no Service yet
    assert reg.apply("ADDED", MY_WIKIPEDIA) == {WIKI}
    assert len(reg.snapshot().endpoints_of(WIKI, 443)) == 2
    assert reg.apply("MODIFIED", TASK_ENDPOINTS) == set()
    one = endpoints("my-wikipedia", [{"addresses": [{"ip": "198.35.26.96"}], "ports": [{"name": "tls", "port": 443}]}])
    assert reg.apply("MODIFIED", one) == {WIKI}
    assert [e.address for e in reg.snapshot().endpoints_of(WIKI, 443)] == ["198.35.26.96"]
    assert reg.apply("DELETED", one) == {WIKI}
    assert reg.snapshot().endpoints_of(WIKI, 443) == ()


def test_a_slice_relabelled_to_another_service_moves_its_endpoints() -> None:
    """Changing a slice's service-name label takes its endpoints from the old Service to the new one."""
    other = svc("other", [{"name": "tls", "port": 443}])
    ports = [{"name": "tls", "port": 443}]
    reg = Registry()
    for r in (MY_WIKIPEDIA, other, endpoint_slice("s", "my-wikipedia", [{"addresses": ["10.0.0.1"]}], ports)):
        reg.apply("ADDED", r)
    moved = endpoint_slice("s", "other", [{"addresses": ["10.0.0.1"]}], ports)
    assert reg.apply("MODIFIED", moved) == {WIKI, "other.default.svc.cluster.local"}
    snap = reg.snapshot()
    assert snap.endpoints_of(WIKI, 443) == ()
    assert [e.address for e in snap.endpoints_of("other.default.svc.cluster.local", 443)] == ["10.0.0.1"]


def test_random_endpoint_event_sequences_match_full_rebuild() -> None:
    """Any sequence of Service, Endpoints and EndpointSlice changes leaves the incremental registry equal
    to a full build."""
    rng = random.Random(11)
    reg, live = Registry(), {}
    for step in range(300):
        kind = rng.choice(["svc", "ep", "slice"])
        name = rng.choice(["a", "b"])
        ports = [{"name": rng.choice(["tls", "http"]), "port": rng.choice([443, 8443])}]
        ip = f"10.0.0.{rng.randrange(4)}"
        if kind == "svc":
            resource = svc(name, [{"name": "tls", "port": 443}], **rng.choice([{}, {"selector": {"app": name}}]))
        elif kind == "ep":
            resource = endpoints(name, [{"addresses": [{"ip": ip}], "ports": ports}])
        else:
            resource = endpoint_slice(
                f"{name}-{rng.randrange(2)}", rng.choice(["a", "b", None]), [{"addresses": [ip]}], ports
            )
        if rng.random() < 0.25:
            reg.apply("DELETED", resource)
            live.pop(resource.key, None)
        else:
            reg.apply("MODIFIED", resource)
            live[resource.key] = resource
        if step % 15 == 0:
            assert reg.snapshot() == build_registry(live.values())
    assert reg.snapshot() == build_registry(live.values())
