"""EDS: one ClusterLoadAssignment per EDS cluster, subsets filtered by labels server-side (as Istio)."""

from __future__ import annotations

from collections.abc import Iterable

from mizzen.config.models.destination_rule import Subset
from mizzen.config.semantics.selectors import SUBSET, selects
from mizzen.registry.model import Endpoint, Service
from mizzen.translate import names
from mizzen.translate.common import JSONDict
from mizzen.translate.scope import Scope


def cluster_kind(service: Service) -> str:
    """How a service's clusters discover endpoints: ``EDS``, ``STRICT_DNS``, ``LOGICAL_DNS`` or
    ``DYNAMIC`` (resolution NONE: forward to whatever the request names, Istio's passthrough)."""
    if service.source_kind == "ServiceEntry":
        return {"DNS": "STRICT_DNS", "DNS_ROUND_ROBIN": "LOGICAL_DNS", "NONE": "DYNAMIC"}.get(service.resolution, "EDS")
    return "EDS"


def subset_endpoints(endpoints: Iterable[Endpoint], subset: Subset | None) -> list[Endpoint]:
    """Endpoints whose labels include every label of ``subset`` (all of them for no subset)."""
    selector = subset.labels if subset is not None else None
    return sorted(e for e in endpoints if selects(SUBSET, selector, e.label_map))


def load_assignment(cluster: str, endpoints: Iterable[Endpoint]) -> JSONDict:
    """A ClusterLoadAssignment grouping endpoints by locality (``region/zone/subzone``)."""
    groups: dict[str, list[JSONDict]] = {}
    for ep in sorted(endpoints):
        lb: JSONDict = {
            "endpoint": {"address": socket_address(ep.address, ep.port)},
            "health_status": "HEALTHY" if ep.healthy else "UNHEALTHY",
            "load_balancing_weight": max(1, ep.weight),
        }
        if ep.workload:
            lb["metadata"] = names.istio_metadata(workload=f"{ep.workload};{ep.namespace}")
        groups.setdefault(ep.locality, []).append(lb)
    out: list[JSONDict] = []
    for locality in sorted(groups):
        entry: JSONDict = {"lb_endpoints": groups[locality]}
        if locality:
            parts = locality.split("/")
            entry["locality"] = {k: v for k, v in zip(("region", "zone", "sub_zone"), parts, strict=False) if v}
        out.append(entry)
    return {"cluster_name": cluster, "endpoints": out}


def socket_address(address: str, port: int) -> JSONDict:
    """``{"socket_address": {...}}``."""
    return {"socket_address": {"address": address, "port_value": port}}


def build_endpoints_for_scope(scope: Scope) -> dict[str, JSONDict]:
    """Every EDS cluster's load assignment in the proxy's scope, keyed by cluster name (sorted)."""
    out: dict[str, JSONDict] = {}
    for svc in scope.services:
        if cluster_kind(svc) != "EDS":
            continue
        policy = scope.destination_policy(svc.hostname)
        for port in svc.ports:
            eps = scope.endpoints_of(svc.hostname, port.number)
            name = names.outbound_cluster(port.number, "", svc.hostname)
            out[name] = load_assignment(name, subset_endpoints(eps, None))
            for subset in policy.subsets:
                sname = names.outbound_cluster(port.number, subset.name, svc.hostname)
                out[sname] = load_assignment(sname, subset_endpoints(eps, subset))
    return dict(sorted(out.items()))
