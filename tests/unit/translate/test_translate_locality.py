"""Locality load balancing (mizzen.translate.locality) follows Istio's loadbalancer package."""

from __future__ import annotations

from mizzen.config.models.destination_rule import Distribute, Failover, LocalityLoadBalancerSetting
from mizzen.registry.model import Endpoint
from mizzen.translate.locality import Group, apply, locality_matches, proximity

PROXY = "region1/zone1/subzone1"


def _group(locality: str, *labels: dict[str, str]) -> Group:
    eps = tuple(
        Endpoint(address=f"10.0.0.{i}", port=80, service_port=80, labels=tuple(sorted(lab.items())), locality=locality)
        for i, lab in enumerate(labels or ({},))
    )
    return Group(locality, eps, tuple({"endpoint": {"address": ep.address}} for ep in eps))


def _priorities(groups: list[Group]) -> list[tuple[str, int]]:
    return [(g.locality, g.priority) for g in groups]


def test_proximity_and_patterns_as_istio() -> None:
    """LbPriority: 0 same subzone, 1 same zone, 2 same region, 3 else; patterns match part by part, * the rest."""
    assert [proximity(PROXY, x) for x in (PROXY, "region1/zone1/s2", "region1/z2", "r2")] == [0, 1, 2, 3]
    assert locality_matches("region1/zone1/subzone1", "region1/zone1/*")
    assert locality_matches("region1/zone1/subzone1", "region1")
    assert not locality_matches("region1/zone2/subzone1", "region1/zone1/*")


def test_failover_orders_by_proximity_and_failover_region_then_renumbers() -> None:
    """With outlier detection: own zone first, then the region, then the failover region, then the rest
    (the failover rule pushes other regions below it); priorities have no gaps."""
    groups = [_group(PROXY), _group("region1/zone2/subzone2"), _group("region2/zone3"), _group("region3/zone4")]
    setting = LocalityLoadBalancerSetting(failover=(Failover(from_="region1", to="region3"),))
    out = apply(groups, PROXY, {}, setting, outlier_detection=True)
    assert _priorities(out) == [(PROXY, 0), ("region1/zone2/subzone2", 1), ("region2/zone3", 3), ("region3/zone4", 2)]
    assert [g.json().get("priority", 0) for g in out] == [0, 1, 3, 2]


def test_no_outlier_detection_or_disabled_means_no_priorities() -> None:
    """Envoy never fails over without outlier detection, so Istio leaves priorities alone; enabled=false too."""
    groups = [_group(PROXY), _group("region2")]
    assert _priorities(apply(groups, PROXY, {}, None, outlier_detection=False)) == [(PROXY, 0), ("region2", 0)]
    off = LocalityLoadBalancerSetting(enabled=False)
    assert _priorities(apply(groups, PROXY, {}, off, outlier_detection=True)) == [(PROXY, 0), ("region2", 0)]
    assert _priorities(apply(groups, PROXY, {}, None, outlier_detection=True)) == [(PROXY, 0), ("region2", 1)]


def test_distribute_weights_localities_and_empties_the_others() -> None:
    """The first matching `from` sets locality weights (a pattern's share split by the localities' own
    weights, rounded up); localities no `to` names keep no endpoints."""
    groups = [_group(PROXY), _group("region1/zone1/subzone2", {}, {}), _group("region2")]
    rule = Distribute(from_="region1/zone1/*", to={"region1/zone1/*": 80, "region3/*": 20})
    out = apply(groups, PROXY, {}, LocalityLoadBalancerSetting(distribute=(rule,)), outlier_detection=False)
    assert [(g.locality, g.weight, len(g.lb_endpoints)) for g in out] == [
        (PROXY, 27, 1),
        ("region1/zone1/subzone2", 54, 2),
        ("region2", None, 0),
    ]


def test_failover_priority_splits_localities_by_matching_labels() -> None:
    """failoverPriority: endpoints sharing every listed label with the proxy come first, then those sharing
    fewer leading labels; `name=value` compares with that value instead of the proxy's."""
    a, b = {"net": "n1", "cluster": "c1"}, {"net": "n1", "cluster": "c2"}
    groups = [_group(PROXY, a, b, {"net": "n2"})]
    setting = LocalityLoadBalancerSetting(failover_priority=("net", "cluster"))
    out = apply(groups, PROXY, {"net": "n1", "cluster": "c1"}, setting, outlier_detection=True)
    assert [(g.priority, [e.address for e in g.endpoints], g.weight) for g in out] == [
        (0, ["10.0.0.0"], 1),
        (1, ["10.0.0.1"], 1),
        (2, ["10.0.0.2"], 1),
    ]
    pinned = LocalityLoadBalancerSetting(failover_priority=("cluster=c2",))
    out = apply(groups, PROXY, {"cluster": "c1"}, pinned, outlier_detection=True)
    assert [(g.priority, [e.address for e in g.endpoints]) for g in out] == [
        (0, ["10.0.0.1"]),
        (1, ["10.0.0.0", "10.0.0.2"]),
    ]
