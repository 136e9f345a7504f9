"""EDS: one ClusterLoadAssignment per EDS cluster, subsets filtered by labels server-side (as Istio)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence

from mizzen import meshstats
from mizzen.config.models.destination_rule import Subset
from mizzen.config.semantics.selectors import SUBSET, selects
from mizzen.registry.model import Endpoint, Service
from mizzen.translate import locality, names, stats_logger
from mizzen.translate.common import JSONDict
from mizzen.translate.policies.traffic import effective_policy
from mizzen.translate.scope import DestinationPolicy, Scope
from mizzen.translate.security.wiring import EndpointLabeller

Balance = Callable[[Sequence[locality.Group]], list[locality.Group]]
EndpointMetadata = Callable[[Endpoint], JSONDict]
"""Extra ``filter_metadata`` entries of one endpoint (auto mTLS's transport-socket match)."""


def cluster_kind(service: Service) -> str:
    """How a service's clusters discover endpoints: ``EDS``, ``STRICT_DNS``, ``LOGICAL_DNS`` or
    ``DYNAMIC`` (resolution NONE: forward to whatever the request names, Istio's passthrough)."""
    if service.source_kind == "ServiceEntry":
        return {"DNS": "STRICT_DNS", "DNS_ROUND_ROBIN": "LOGICAL_DNS", "NONE": "DYNAMIC"}.get(service.resolution, "EDS")
    # A Kubernetes ExternalName Service: DNS to its external name, as Istio resolves it.
    return "STRICT_DNS" if service.resolution == "DNS" else "EDS"


def subset_endpoints(endpoints: Iterable[Endpoint], subset: Subset | None) -> list[Endpoint]:
    """Endpoints whose labels include every label of ``subset`` (all of them for no subset)."""
    selector = subset.labels if subset is not None else None
    return sorted(e for e in endpoints if selects(SUBSET, selector, e.label_map))


def load_assignment(
    cluster: str, endpoints: Iterable[Endpoint], balance: Balance | None = None, extra: EndpointMetadata | None = None
) -> JSONDict:
    """A ClusterLoadAssignment grouping endpoints by locality (``region/zone/subzone``); ``balance``
    sets the localities' priorities and weights (:mod:`.locality`), ``extra`` adds filter metadata per
    endpoint."""
    groups: dict[str, list[tuple[Endpoint, JSONDict]]] = {}
    for ep in sorted(endpoints):
        lb: JSONDict = {
            "endpoint": {"address": socket_address(ep.address, ep.port)},
            "health_status": "HEALTHY" if ep.healthy else "UNHEALTHY",
            "load_balancing_weight": max(1, ep.weight),
        }
        meta: JSONDict = dict(extra(ep)) if extra is not None else {}
        if ep.workload:
            meta["istio"] = {"workload": f"{ep.workload};{ep.namespace}"}
            # Who is there, for the client side's metrics (translate/stats_logger.py ENDPOINT_TAGS).
            meta[stats_logger.METADATA_KEY] = meshstats.peer_fields(ep.workload, ep.namespace, ep.label_map)
        if meta:
            lb["metadata"] = {"filter_metadata": dict(sorted(meta.items()))}
        groups.setdefault(ep.locality, []).append((ep, lb))
    out = [
        locality.Group(loc, tuple(e for e, _ in members), tuple(lb for _, lb in members))
        for loc, members in sorted(groups.items())
    ]
    if balance is not None:
        out = balance(out)
    return {"cluster_name": cluster, "endpoints": [g.json() for g in out]}


def socket_address(address: str, port: int) -> JSONDict:
    """``{"socket_address": {...}}``."""
    return {"socket_address": {"address": address, "port_value": port}}


def build_endpoints_for_scope(scope: Scope) -> dict[str, JSONDict]:
    """Every EDS cluster's load assignment in the proxy's scope, keyed by cluster name (sorted)."""
    out: dict[str, JSONDict] = {}
    labeller = EndpointLabeller(scope.mesh)
    for svc in scope.services:
        out.update(service_endpoints(scope, svc, labeller))
    return dict(sorted(out.items()))


def service_endpoints(scope: Scope, svc: Service, labeller: EndpointLabeller | None = None) -> dict[str, JSONDict]:
    """The load assignments of one service's EDS clusters (none for DNS or passthrough services), with
    auto mTLS's ``tlsMode`` on the endpoints that run a sidecar."""
    out: dict[str, JSONDict] = {}
    if cluster_kind(svc) != "EDS":
        return out
    labeller = labeller or EndpointLabeller(scope.mesh)
    policy = scope.destination_policy(svc.hostname)
    for port in svc.ports:
        eps = scope.endpoints_of(svc.hostname, port.number)
        for subset in (None, *policy.subsets):
            name = names.outbound_cluster(port.number, subset.name if subset else "", svc.hostname)
            balance = _balance(scope, policy, subset, port.number)
            tls = effective_policy(policy.traffic_policy, subset, port.number).tls
            out[name] = load_assignment(name, subset_endpoints(eps, subset), balance, labeller.for_cluster(tls))
    return out


def _balance(scope: Scope, policy: DestinationPolicy, subset: Subset | None, port: int) -> Balance:
    """Locality load balancing of one cluster for this proxy (its locality and labels)."""
    block = effective_policy(policy.traffic_policy, subset, port)
    setting = block.load_balancer.locality_lb_setting if block.load_balancer is not None else None
    return functools.partial(
        locality.apply,
        proxy_locality=scope.proxy.locality,
        proxy_labels=scope.proxy.labels,
        setting=setting,
        outlier_detection=block.outlier_detection is not None,
    )
