"""Locality load balancing: EDS priorities and locality weights per proxy, as Istio's pilot computes them.

Istio (``pilot/pkg/networking/core/loadbalancer``) changes each proxy's load assignment by the proxy's
own locality (``region/zone/subzone``):

- ``distribute``: the first rule whose ``from`` matches the proxy's locality sets each locality's
  ``load_balancing_weight`` (a ``to`` pattern matching several localities splits its share by their
  own weights, rounded up); localities no ``to`` matches get no endpoints. The cluster then balances by
  locality weight (:func:`locality_weighted`).
- otherwise, when the cluster has outlier detection (without it Envoy never leaves priority 0):
  ``failoverPriority`` labels split each locality by how many of those labels an endpoint shares with
  the proxy (in order), then the locality failover below refines them (when ``failover`` is given too);
  without ``failoverPriority``, each locality gets a priority by proximity: 0 same region, zone and
  subzone, 1 same zone, 2 same region, 3 another region, 4 another region that ``failover`` does not
  name for the proxy's region. Priorities are then renumbered 0..N without gaps.

The setting comes from the DestinationRule (``enabled: false`` turns it off); without one the mesh
default applies, which Istio enables (failover by proximity). Locality strings are parsed with
:func:`split_locality`; an endpoint without a locality is in the empty locality.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from mizzen.config.models.destination_rule import Distribute, Failover, LocalityLoadBalancerSetting
from mizzen.registry.model import Endpoint
from mizzen.translate.common import JSONDict

DEFAULT_SETTING = LocalityLoadBalancerSetting(enabled=True)
"""The mesh's default: Istio's ``meshConfig.localityLbSetting`` is enabled unless turned off."""


@dataclass(frozen=True)
class Group:
    """One ``LocalityLbEndpoints`` of a load assignment: its locality, endpoints and their JSON."""

    locality: str
    endpoints: tuple[Endpoint, ...]
    lb_endpoints: tuple[JSONDict, ...]
    priority: int = 0
    weight: int | None = None  # the locality's load_balancing_weight (set by distribute/failoverPriority)

    @property
    def own_weight(self) -> int:
        """The sum of its endpoints' weights (Istio's locality weight)."""
        return sum(max(1, ep.weight) for ep in self.endpoints)

    def json(self) -> JSONDict:
        """The ``LocalityLbEndpoints``."""
        entry: JSONDict = {"lb_endpoints": list(self.lb_endpoints)}
        if self.locality:
            keys = ("region", "zone", "sub_zone")
            entry["locality"] = {k: v for k, v in zip(keys, self.locality.split("/"), strict=False) if v}
        if self.weight is not None:
            entry["load_balancing_weight"] = self.weight
        if self.priority:
            entry["priority"] = self.priority
        return entry


def split_locality(locality: str) -> tuple[str, str, str]:
    """``region/zone/subzone`` -> its three parts (missing ones empty)."""
    parts = [*locality.split("/"), "", "", ""]
    return parts[0], parts[1], parts[2]


def effective_setting(setting: LocalityLoadBalancerSetting | None) -> LocalityLoadBalancerSetting | None:
    """The DestinationRule's setting (``None`` when it disables locality LB), else the mesh default."""
    if setting is None:
        return DEFAULT_SETTING
    return None if setting.enabled is False else setting


def locality_matches(locality: str, pattern: str) -> bool:
    """Istio's ``LocalityMatch``: each ``/`` part of ``pattern`` equals the locality's, ``*`` matches
    the rest."""
    have = split_locality(locality)
    for i, part in enumerate(pattern.split("/")[:3]):
        if part == "*":
            return True
        if part != have[i]:
            return False
    return True


def proximity(proxy: str, endpoint: str) -> int:
    """Istio's ``LbPriority``: 0 same region/zone/subzone, 1 same region/zone, 2 same region, 3 else."""
    (pr, pz, ps), (er, ez, es) = split_locality(proxy), split_locality(endpoint)
    if pr != er:
        return 3
    if pz != ez:
        return 2
    return 0 if ps == es else 1


def apply(
    groups: Sequence[Group],
    proxy_locality: str,
    proxy_labels: Mapping[str, str],
    setting: LocalityLoadBalancerSetting | None,
    *,
    outlier_detection: bool,
) -> list[Group]:
    """The load assignment's localities after locality load balancing (``groups`` unchanged when the
    setting is off or does not apply)."""
    chosen = effective_setting(setting)
    out = list(groups)
    if chosen is None:
        return out
    if chosen.distribute:
        return _distribute(out, proxy_locality, chosen.distribute)
    if not outlier_detection:
        return out
    if chosen.failover_priority:
        split = _failover_priorities(out, proxy_labels, chosen.failover_priority)
        return _failover(split, proxy_locality, chosen.failover) if chosen.failover else split
    return _failover(out, proxy_locality, chosen.failover)


def _distribute(groups: list[Group], proxy_locality: str, rules: Sequence[Distribute]) -> list[Group]:
    rule = next((r for r in rules if r.from_ and locality_matches(proxy_locality, r.from_)), None)
    if rule is None:
        return groups
    out = list(groups)
    unmatched = set(range(len(out)))
    for pattern, share in rule.to.items():
        own = {i: out[i].own_weight for i in sorted(unmatched) if locality_matches(out[i].locality, pattern)}
        unmatched -= set(own)
        total = sum(own.values())
        for i, weight in own.items():
            if total and weight * share > 0:
                out[i] = replace(out[i], weight=math.ceil(weight * share / total))
    for i in unmatched:  # a locality no rule sends traffic to keeps no endpoints
        out[i] = replace(out[i], endpoints=(), lb_endpoints=())
    return out


def _failover(groups: list[Group], proxy_locality: str, failover: Sequence[Failover]) -> list[Group]:
    region = split_locality(proxy_locality)[0]
    raw: list[int] = []
    for group in groups:
        priority = proximity(proxy_locality, group.locality)
        if priority == 3:
            rule = next((f for f in failover if f.from_ == region), None)
            if rule is not None and split_locality(group.locality)[0] != rule.to:
                priority = 4
        # Priorities from failoverPriority (if any) stay the major order: at most 5 locality levels.
        raw.append(group.priority * 5 + priority)
    return _renumbered(groups, raw)


def _renumbered(groups: Sequence[Group], raw: Sequence[int]) -> list[Group]:
    """Priorities 0..N without gaps, in the order of ``raw``."""
    rank = {p: i for i, p in enumerate(sorted(set(raw)))}
    return [replace(g, priority=rank[p]) for g, p in zip(groups, raw, strict=True)]


def _failover_priorities(
    groups: Sequence[Group], proxy_labels: Mapping[str, str], labels: Sequence[str]
) -> list[Group]:
    """Each locality split by how many leading ``labels`` its endpoints share with the proxy (a label
    written ``name=value`` compares with that value instead of the proxy's)."""
    if not proxy_labels or not groups:
        return list(groups)
    wanted = [(n, v if sep else proxy_labels.get(n, "")) for n, sep, v in (x.partition("=") for x in labels)]
    split: list[Group] = []
    raw: list[int] = []
    for group in groups:
        by_priority: dict[int, list[tuple[Endpoint, JSONDict]]] = {}
        for ep, lb in zip(group.endpoints, group.lb_endpoints, strict=True):
            miss = next((j for j, (name, value) in enumerate(wanted) if ep.label_map.get(name, "") != value), None)
            by_priority.setdefault(0 if miss is None else len(wanted) - miss, []).append((ep, lb))
        for priority in sorted(by_priority):
            members = by_priority[priority]
            part = replace(group, endpoints=tuple(e for e, _ in members), lb_endpoints=tuple(lb for _, lb in members))
            split.append(replace(part, weight=part.own_weight))
            raw.append(priority)
    return _renumbered(split, raw)


def locality_weighted(setting: LocalityLoadBalancerSetting | None) -> bool:
    """Whether the cluster balances by locality weight (``distribute`` is in effect)."""
    chosen = effective_setting(setting)
    return chosen is not None and bool(chosen.distribute)
