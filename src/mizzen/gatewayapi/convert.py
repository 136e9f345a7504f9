"""The whole conversion: Gateway API resources (plus the Services, ServiceEntries and Secrets they
refer to) in, Istio Gateways and VirtualServices and every object's status out."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from mizzen.config.resource import Resource
from mizzen.gatewayapi.conditions import conditions
from mizzen.gatewayapi.context import Context, GatewayProxy
from mizzen.gatewayapi.gateways import convert_gateway
from mizzen.gatewayapi.model import CONTROLLER, DEFAULT_DOMAIN, Cond, JSONDict, ParentInfo
from mizzen.gatewayapi.routes import convert_route, merge

GATEWAY_API_KINDS = frozenset(
    {"GatewayClass", "KubernetesGateway", "HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute", "ReferenceGrant"}
)
"""The kinds this package converts."""
INPUT_KINDS = GATEWAY_API_KINDS | {"Service", "ServiceEntry", "Secret"}
"""Every kind the conversion reads."""
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute", "TCPRoute", "TLSRoute")

Key = tuple[str, str, str]


@dataclass(frozen=True)
class Conversion:
    """Generated Istio config (Gateways first, then VirtualServices) and status per source object."""

    resources: tuple[Resource, ...] = ()
    statuses: Mapping[Key, JSONDict] = field(default_factory=dict)


def _order(r: Resource) -> tuple[str, str, str]:
    return (r.metadata.creation_timestamp, r.namespace, r.name)


def convert(
    resources: Iterable[Resource], proxies: Iterable[GatewayProxy] = (), domain: str = DEFAULT_DOMAIN
) -> Conversion:
    """Convert the Gateway API objects among ``resources``, as istiod does.

    ``proxies`` are the connected gateway proxies; they only decide the Gateways' ``Programmed``
    condition (a Gateway is programmed once a gateway serving its Service is running).
    """
    inputs = sorted((r for r in resources if r.kind in INPUT_KINDS), key=_order)
    if not any(r.kind in GATEWAY_API_KINDS for r in inputs):
        return Conversion()
    ctx = Context.of(inputs, proxies, domain)
    namespaces = {r.namespace for r in inputs if r.namespace}
    statuses: dict[Key, JSONDict] = {}
    for gc in (r for r in inputs if r.kind == "GatewayClass"):
        statuses[gc.key] = _class_status(gc, ctx.classes.get(gc.name, ""))
    gateways: list[Resource] = []
    parents: dict[tuple[str, str], list[ParentInfo]] = {}
    unavailable: dict[tuple[str, str], str] = {}
    for gw in (r for r in inputs if r.kind == "KubernetesGateway"):
        result = convert_gateway(ctx, gw, namespaces)
        gateways.extend(result.gateways)
        parents[(gw.namespace, gw.name)] = result.parents
        unavailable[(gw.namespace, gw.name)] = result.unavailable
        statuses[gw.key] = result.status
    keyed, virtual_services, attached = [], [], []
    for route in (r for r in inputs if r.kind in ROUTE_KINDS):
        rr = convert_route(ctx, parents, unavailable, route)
        statuses[route.key] = rr.status
        keyed.extend(rr.keyed)
        virtual_services.extend(rr.virtual_services)
        attached.extend(rr.attached)
    for (ns, name), _ in parents.items():
        for listener in statuses[("KubernetesGateway", ns, name)].get("listeners", ()):
            listener["attachedRoutes"] = attached.count((ns, name, listener["name"]))
    return Conversion(tuple(gateways + merge(keyed) + virtual_services), statuses)


class Converter:
    """:func:`convert` that reuses its last result while its inputs are unchanged: a mesh rebuilds its
    snapshot on every change (an endpoint registering, too), and the conversion reads few kinds."""

    def __init__(self) -> None:
        self._last: tuple[tuple[tuple[str, str, str, str], ...], Conversion] | None = None

    def __call__(self, resources: Iterable[Resource]) -> Conversion:
        """The conversion of ``resources`` (the previous one when its inputs are the same versions)."""
        inputs = [r for r in resources if r.kind in INPUT_KINDS]
        versions = tuple(sorted((*r.key, r.metadata.resource_version) for r in inputs))
        if any(not v[3] for v in versions):  # unstored objects (no resourceVersion): nothing to compare by
            return convert(inputs)
        if self._last is None or self._last[0] != versions:
            self._last = (versions, convert(inputs))
        return self._last[1]


def _class_status(gc: Resource, controller: str) -> JSONDict:
    generation = gc.metadata.generation or 1
    if controller == CONTROLLER:
        return {"conditions": conditions(generation, {"Accepted": Cond("Accepted", "Handled by Istio controller")})}
    waiting = Cond("Pending", "Waiting for controller", status="Unknown")
    return {"conditions": conditions(generation, {"Accepted": waiting})}
