"""Istio's DestinationRule rules (``ValidateDestinationRule``): host, subsets, export scope, selector;
traffic policies are checked by :mod:`.traffic_policy`."""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.enforceable import upstream_tls_problems
from mizzen.config.models import parse_spec
from mizzen.config.models.destination_rule import DestinationRule
from mizzen.config.resource import Resource
from mizzen.config.rules import common, traffic_policy
from mizzen.config.rules.common import Found


def check(res: Resource, root: str) -> Found:
    """Every rule violation (and Istio warning) of one DestinationRule."""
    dr: DestinationRule = parse_spec(res)
    out: Found = []
    if dr.host:  # a missing host is reported by the schema check
        common.host(dr.host, f"{root}.host", out)
    if dr.traffic_policy is not None:
        traffic_policy.traffic_policy(dr.traffic_policy, res.namespace, f"{root}.trafficPolicy", out)
    names: set[str] = set()
    for i, subset in enumerate(dr.subsets):
        path = f"{root}.subsets[{i}]"
        if subset.name in names:
            out.append(violation("MZ2201", f"duplicate subset names: {subset.name}", f"{path}.name"))
        names.add(subset.name)
        common.subset_name(subset.name, f"{path}.name", out)
        common.labels(subset.labels, f"{path}.labels", out)
        if subset.traffic_policy is not None:
            traffic_policy.traffic_policy(subset.traffic_policy, res.namespace, f"{path}.trafficPolicy", out)
    accepted = common.export_to(res.namespace, dr.export_to, f"{root}.exportTo", out)
    if dr.workload_selector is not None:
        _selector_scope(accepted, res.namespace, f"{root}.exportTo", out)
        if not common.selector(dr.workload_selector.match_labels, f"{root}.workloadSelector.matchLabels", out):
            common.warn("workload selector specified without labels", f"{root}.workloadSelector", out)
    # TLS Istio leaves unapplied is said, never silently plaintext (unless validation already refused it).
    refused = {v.path.rsplit(".", 1)[0] for v in out if v.level == "error"}
    out += [v for v in upstream_tls_problems(dr, root) if v.path.rsplit(".", 1)[0] not in refused]
    return out


def _selector_scope(accepted: set[str], namespace: str, path: str, out: Found) -> None:
    """A DestinationRule that selects workloads applies only in its own namespace."""
    if not accepted:
        return
    if namespace not in accepted:
        message = "destination rule with workload selector cannot have exportTo beyond current namespace"
    elif len(accepted) > 1:
        message = "destination rule with workload selector cannot have multiple entries in exportTo"
    else:
        return
    out.append(violation("MZ2203", message, path))
