"""Registry: services from Service/ServiceEntry, endpoints from WorkloadEntry and inline endpoints."""

from __future__ import annotations

from typing import Any

from mizzen.config.models import Typed, parse
from mizzen.config.resource import Metadata, Resource
from mizzen.registry import Registry, build_registry
from mizzen.registry.model import Endpoint

NET = "networking.istio.io/v1"


def res(
    kind: str, name: str, spec: dict[str, Any], ns: str = "default", annotations: dict[str, str] | None = None
) -> Typed[object]:
    """A resource as the registry receives it: parsed once into its typed model."""
    api = "v1" if kind == "Service" else NET
    return parse(Resource(api, kind, Metadata(name=name, namespace=ns, annotations=annotations or {}), spec))


def kube_svc(
    name: str, ports: list[dict[str, Any]], selector: dict[str, str] | None = None, ns: str = "default", **extra: Any
) -> Typed[object]:
    spec: dict[str, Any] = {"ports": ports, **extra}
    if selector is not None:
        spec["selector"] = selector
    return res("Service", name, spec, ns)


def we(
    name: str,
    labels: dict[str, str],
    address: str = "127.0.0.1",
    ports: dict[str, int] | None = None,
    ns: str = "default",
    **extra: Any,
) -> Typed[object]:
    spec: dict[str, Any] = {"address": address, "labels": labels, **extra}
    if ports is not None:
        spec["ports"] = ports
    return res("WorkloadEntry", name, spec, ns)


REVIEWS = kube_svc("reviews", [{"name": "http", "port": 9080}], {"app": "reviews"})


def addrs(eps: tuple[Endpoint, ...]) -> list[tuple[str, int]]:
    return [(e.address, e.port) for e in eps]


def test_kube_service_hostname_and_port_protocol() -> None:
    """A Service becomes <name>.<ns>.svc.cluster.local with its ports' protocols from their names."""
    snap = build_registry(
        [kube_svc("ratings", [{"name": "http", "port": 9080}, {"port": 5000}], {"app": "ratings"}, ns="shop")]
    )
    (svc,) = snap.services
    assert svc.hostname == "ratings.shop.svc.cluster.local"
    assert (svc.namespace, svc.name, svc.source_kind, svc.resolution) == ("shop", "ratings", "Service", "STATIC")
    assert [(p.number, p.name, p.protocol) for p in svc.ports] == [(5000, "", "UNSUPPORTED"), (9080, "http", "HTTP")]
    assert svc.selector == (("app", "ratings"),)


def test_service_selects_workload_entries_by_labels() -> None:
    """Only WorkloadEntries whose labels include the selector become endpoints."""
    snap = build_registry(
        [
            REVIEWS,
            we("r1", {"app": "reviews", "version": "v1"}, "10.0.0.1"),
            we("r2", {"app": "reviews", "version": "v2"}, "10.0.0.2"),
            we("x", {"app": "ratings"}, "10.0.0.3"),
        ]
    )
    eps = snap.endpoints_of("reviews.default.svc.cluster.local", 9080)
    assert addrs(eps) == [("10.0.0.1", 9080), ("10.0.0.2", 9080)]
    assert eps[1].label_map == {"app": "reviews", "version": "v2"}
    assert eps[1].workload == "r2" and eps[1].namespace == "default" and eps[1].service_port == 9080


def test_service_selects_only_same_namespace() -> None:
    """A Service selector never reaches WorkloadEntries in other namespaces."""
    snap = build_registry([REVIEWS, we("r1", {"app": "reviews"}, ns="other")])
    assert snap.endpoints_of("reviews.default.svc.cluster.local", 9080) == ()


def test_service_without_selector_has_no_endpoints() -> None:
    """A Service with no selector selects nothing, even workloads with matching labels."""
    bare = kube_svc("reviews", [{"name": "http", "port": 9080}])
    snap = build_registry([bare, we("r1", {"app": "reviews"})])
    assert snap.services[0].selector is None
    assert snap.endpoints_of("reviews.default.svc.cluster.local", 9080) == ()


def test_endpoint_port_prefers_workload_port_by_name() -> None:
    """WorkloadEntry ports[<service port name>] beats targetPort and the service port."""
    svc = kube_svc("reviews", [{"name": "http", "port": 9080, "targetPort": 8000}], {"app": "reviews"})
    snap = build_registry([svc, we("r1", {"app": "reviews"}, ports={"http": 15123})])
    assert addrs(snap.endpoints_of("reviews.default.svc.cluster.local", 9080)) == [("127.0.0.1", 15123)]


def test_endpoint_port_falls_back_to_target_port_then_port() -> None:
    """Without a port mapping the numeric targetPort is used, and without one the service port."""
    with_target = kube_svc("a", [{"name": "http", "port": 80, "targetPort": 8080}], {"app": "a"})
    without = kube_svc("b", [{"name": "http", "port": 81}], {"app": "b"})
    snap = build_registry([with_target, without, we("wa", {"app": "a"}), we("wb", {"app": "b"})])
    assert addrs(snap.endpoints_of("a.default.svc.cluster.local", 80)) == [("127.0.0.1", 8080)]
    assert addrs(snap.endpoints_of("b.default.svc.cluster.local", 81)) == [("127.0.0.1", 81)]


def test_named_target_port_resolves_through_workload_ports() -> None:
    """A named targetPort is looked up in the workload's ports; workloads without it are skipped."""
    svc = kube_svc("a", [{"name": "web", "port": 80, "targetPort": "api"}], {"app": "a"})
    snap = build_registry(
        [
            svc,
            we("w1", {"app": "a"}, "10.0.0.1", ports={"api": 7000}),
            we("w2", {"app": "a"}, "10.0.0.2", ports={"other": 7001}),
        ]
    )
    assert snap.services[0].ports[0].target_port_name == "api"
    assert addrs(snap.endpoints_of("a.default.svc.cluster.local", 80)) == [("10.0.0.1", 7000)]


def test_workload_entry_fields_carry_to_endpoint() -> None:
    """serviceAccount, weight, locality and the agent's tlsMode reach the endpoint."""
    entry = res(
        "WorkloadEntry",
        "r1",
        {
            "address": "10.1.1.1",
            "labels": {"app": "reviews"},
            "serviceAccount": "bookinfo-reviews",
            "weight": 3,
            "locality": "us/east/a",
            "ports": {"http": 15001},
        },
        annotations={"mizzen.io/registered-by": "agent"},
    )
    (ep,) = build_registry([REVIEWS, entry]).endpoints_of("reviews.default.svc.cluster.local", 9080)
    assert (ep.service_account, ep.weight, ep.locality, ep.tls_mode) == ("bookinfo-reviews", 3, "us/east/a", "istio")


def test_zero_weight_means_one_and_tls_label_wins() -> None:
    """Weight 0 (unset) is 1, and the security.istio.io/tlsMode label decides tlsMode."""
    entry = we("r1", {"app": "reviews", "security.istio.io/tlsMode": "disabled"}, weight=0)
    (ep,) = build_registry([REVIEWS, entry]).endpoints_of("reviews.default.svc.cluster.local", 9080)
    assert (ep.weight, ep.tls_mode) == (1, "disabled")


def test_workload_entry_without_address_is_not_an_endpoint() -> None:
    """A WorkloadEntry with no address cannot receive traffic and is left out."""
    snap = build_registry([REVIEWS, we("r1", {"app": "reviews"}, address="")])
    assert snap.endpoints_of("reviews.default.svc.cluster.local", 9080) == ()


def test_service_entry_one_service_per_host_with_defaults() -> None:
    """Each ServiceEntry host is a service; location and resolution default as in Istio."""
    se = res(
        "ServiceEntry",
        "ext",
        {"hosts": ["b.example.com", "a.example.com"], "ports": [{"number": 443, "name": "tls", "protocol": "TLS"}]},
    )
    snap = build_registry([se])
    assert [s.hostname for s in snap.services] == ["a.example.com", "b.example.com"]
    svc = snap.services[0]
    assert (svc.source_kind, svc.location, svc.resolution, svc.export_to) == (
        "ServiceEntry",
        "MESH_EXTERNAL",
        "NONE",
        ("*",),
    )
    assert svc.ports[0].protocol == "TLS"
    assert snap.endpoints_of("a.example.com", 443) == ()


def test_service_entry_inline_endpoints_and_target_port() -> None:
    """Inline endpoints use ports[<name>], else the port's targetPort, else its number."""
    se = res(
        "ServiceEntry",
        "db",
        {
            "hosts": ["db.internal"],
            "location": "MESH_INTERNAL",
            "resolution": "STATIC",
            "addresses": ["240.0.0.1"],
            "exportTo": ["."],
            "ports": [{"number": 5432, "name": "tcp", "protocol": "TCP", "targetPort": 6432}],
            "endpoints": [
                {"address": "10.0.0.9", "ports": {"tcp": 7000}, "labels": {"v": "1"}},
                {"address": "10.0.0.8"},
            ],
        },
    )
    snap = build_registry([se])
    svc = snap.services[0]
    assert (svc.location, svc.resolution, svc.addresses, svc.export_to) == (
        "MESH_INTERNAL",
        "STATIC",
        ("240.0.0.1",),
        (".",),
    )
    assert addrs(snap.endpoints_of("db.internal", 5432)) == [("10.0.0.8", 6432), ("10.0.0.9", 7000)]


def test_service_entry_workload_selector() -> None:
    """A ServiceEntry workloadSelector picks WorkloadEntries in its namespace."""
    se = res(
        "ServiceEntry",
        "vm",
        {
            "hosts": ["vm.svc"],
            "resolution": "STATIC",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
            "workloadSelector": {"labels": {"app": "vm"}},
        },
    )
    snap = build_registry(
        [
            se,
            we("w1", {"app": "vm"}, "10.0.0.5", ports={"http": 8080}),
            we("w2", {"app": "vm"}, "10.0.0.6", ns="elsewhere"),
        ]
    )
    assert addrs(snap.endpoints_of("vm.svc", 80)) == [("10.0.0.5", 8080)]


def test_dns_service_entry_without_endpoints_resolves_its_host() -> None:
    """A DNS ServiceEntry without endpoints gets its own host as the endpoint address (not wildcards)."""
    se = res(
        "ServiceEntry",
        "g",
        {
            "hosts": ["www.googleapis.com", "*.wild.com"],
            "resolution": "DNS",
            "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
        },
    )
    snap = build_registry([se])
    assert addrs(snap.endpoints_of("www.googleapis.com", 80)) == [("www.googleapis.com", 80)]
    assert snap.endpoints_of("*.wild.com", 80) == ()


def test_external_name_service_is_dns_to_external_name() -> None:
    """An ExternalName Service resolves by DNS to its externalName."""
    svc = kube_svc("ext", [{"name": "http", "port": 80}], type="ExternalName", externalName="api.example.com")
    snap = build_registry([svc])
    assert snap.services[0].resolution == "DNS"
    assert addrs(snap.endpoints_of("ext.default.svc.cluster.local", 80)) == [("api.example.com", 80)]


def test_cluster_ip_and_export_to_annotation() -> None:
    """clusterIP becomes the service address; the exportTo annotation scopes a Service."""
    svc = res(
        "Service",
        "a",
        {"ports": [{"name": "http", "port": 80}], "clusterIP": "10.96.0.7"},
        annotations={"networking.istio.io/exportTo": ".,istio-system"},
    )
    (s,) = build_registry([svc]).services
    assert s.addresses == ("10.96.0.7",)
    assert s.export_to == (".", "istio-system")


def test_other_kinds_are_ignored() -> None:
    """Kinds the registry does not read do not produce services."""
    assert build_registry([res("VirtualService", "vs", {"hosts": ["reviews"]})]).services == ()


def test_build_registry_is_deterministic() -> None:
    """The same resources in any order give an identical snapshot."""
    items = [
        REVIEWS,
        we("r2", {"app": "reviews"}, "10.0.0.2"),
        we("r1", {"app": "reviews"}, "10.0.0.1"),
        kube_svc("details", [{"name": "http", "port": 9080}], {"app": "details"}),
    ]
    assert build_registry(items) == build_registry(list(reversed(items)))
    assert [s.hostname for s in build_registry(items).services] == [
        "details.default.svc.cluster.local",
        "reviews.default.svc.cluster.local",
    ]


def test_incremental_workload_change_reports_selected_hosts() -> None:
    """Adding a WorkloadEntry reports only the hostnames whose endpoints it changed."""
    reg = Registry()
    assert reg.apply("ADDED", REVIEWS) == {"reviews.default.svc.cluster.local"}
    reg.apply("ADDED", kube_svc("details", [{"name": "http", "port": 9080}], {"app": "details"}))
    assert reg.apply("ADDED", we("r1", {"app": "reviews"})) == {"reviews.default.svc.cluster.local"}
    assert reg.apply("MODIFIED", we("r1", {"app": "reviews"})) == set()
    assert reg.apply("ADDED", we("lonely", {"app": "none"})) == set()


def test_incremental_relabel_moves_endpoint() -> None:
    """Relabelling a workload moves its endpoint from one service to the other and reports both."""
    reg = Registry()
    reg.apply("ADDED", REVIEWS)
    reg.apply("ADDED", kube_svc("details", [{"name": "http", "port": 9080}], {"app": "details"}))
    reg.apply("ADDED", we("w", {"app": "reviews"}))
    changed = reg.apply("MODIFIED", we("w", {"app": "details"}))
    assert changed == {"reviews.default.svc.cluster.local", "details.default.svc.cluster.local"}
    snap = reg.snapshot()
    assert snap.endpoints_of("reviews.default.svc.cluster.local", 9080) == ()
    assert len(snap.endpoints_of("details.default.svc.cluster.local", 9080)) == 1


def test_incremental_delete_and_snapshot_matches_full_build() -> None:
    """After deletes, the incremental snapshot equals a full rebuild of the remaining resources."""
    r1, r2 = we("r1", {"app": "reviews"}, "10.0.0.1"), we("r2", {"app": "reviews"}, "10.0.0.2")
    reg = Registry()
    for r in (REVIEWS, r1, r2):
        reg.apply("ADDED", r)
    assert reg.apply("DELETED", r1) == {"reviews.default.svc.cluster.local"}
    assert reg.snapshot() == build_registry([REVIEWS, r2])
    assert reg.apply("DELETED", REVIEWS) == {"reviews.default.svc.cluster.local"}
    assert reg.snapshot().services == ()


def test_service_update_without_change_reports_nothing() -> None:
    """Re-applying an identical Service reports no change and keeps the cached snapshot."""
    reg = Registry()
    reg.apply("ADDED", REVIEWS)
    snap = reg.snapshot()
    assert reg.apply("MODIFIED", REVIEWS) == set()
    assert reg.snapshot() is snap


def test_service_entry_host_change_reports_old_and_new() -> None:
    """Changing a ServiceEntry's hosts reports both the removed and the added hostname."""
    reg = Registry()
    spec = {"ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}
    reg.apply("ADDED", res("ServiceEntry", "e", {**spec, "hosts": ["a.com"]}))
    assert reg.apply("MODIFIED", res("ServiceEntry", "e", {**spec, "hosts": ["b.com"]})) == {"a.com", "b.com"}
    assert [s.hostname for s in reg.snapshot().services] == ["b.com"]


def test_random_event_sequences_match_full_rebuild() -> None:
    """Any sequence of adds, relabels and deletes leaves the incremental registry equal to a full build."""
    import random

    rng = random.Random(7)
    apps = ["a", "b", "c"]
    reg, live = Registry(), {}
    for step in range(400):
        kind = rng.choice(["svc", "se", "we", "we", "we"])
        name = f"{kind}{rng.randrange(4)}"
        ns = rng.choice(["default", "other"])
        if kind == "svc":
            resource = kube_svc(
                name,
                [{"name": "http", "port": 9080}, {"name": "tcp", "port": rng.choice([1, 2])}],
                rng.choice([{"app": rng.choice(apps)}, {"app": "a", "v": "1"}, None]),
                ns=ns,
            )
        elif kind == "se":
            resource = res(
                "ServiceEntry",
                name,
                {
                    "hosts": [rng.choice(["x.com", "y.com", f"{name}.com"])],
                    "resolution": "STATIC",
                    "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}],
                    "workloadSelector": {"labels": rng.choice([{}, {"app": rng.choice(apps)}])},
                },
                ns=ns,
            )
        else:
            resource = we(
                name,
                {"app": rng.choice(apps), "v": rng.choice(["1", "2"])},
                f"10.0.0.{rng.randrange(3)}",
                ports=rng.choice([None, {"http": 7000}]),
                ns=ns,
            )
        if rng.random() < 0.25:
            reg.apply("DELETED", resource)
            live.pop(resource.key, None)
        else:
            reg.apply("MODIFIED", resource)
            live[resource.key] = resource
        if step % 20 == 0:
            assert reg.snapshot() == build_registry(live.values())
    assert reg.snapshot() == build_registry(live.values())


def test_an_entry_marked_unhealthy_by_its_agent_gives_an_unhealthy_endpoint() -> None:
    """``mizzen.io/healthy: "false"`` (a failed readiness probe) makes that endpoint unhealthy, the rest stay."""
    sick = res(
        "WorkloadEntry",
        "r2",
        {"address": "10.0.0.2", "labels": {"app": "reviews"}},
        annotations={"mizzen.io/healthy": "false"},
    )
    snap = build_registry([REVIEWS, we("r1", {"app": "reviews"}, "10.0.0.1"), sick])
    eps = snap.endpoints_of("reviews.default.svc.cluster.local", 9080)
    assert {(e.address, e.healthy) for e in eps} == {("10.0.0.1", True), ("10.0.0.2", False)}
