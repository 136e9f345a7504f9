"""The filter of an outbound listener for one service port (and its HCM), shared by the capture mode's per-port
listeners (:mod:`mizzen.translate.capture`) and a Sidecar's bound egress listeners
(:mod:`mizzen.translate.listeners`)."""

from __future__ import annotations

from collections.abc import Sequence

from mizzen.registry.model import Service
from mizzen.translate.common import JSONDict
from mizzen.translate.filters import hcm, http_filters
from mizzen.translate.routes import RouteContext
from mizzen.translate.scope import Scope
from mizzen.translate.tcp import outbound_tcp_proxy, tcp_destinations
from mizzen.translate.vhosts import mesh_virtual_services, select_virtual_service, sidecar_route_config


def outbound_port_filter(
    scope: Scope, number: int, stat: str, services: Sequence[Service], *, http: bool, dynamic_forward: bool
) -> tuple[JSONDict, JSONDict | None]:
    """HTTP: an HCM routing by Host over RDS ``"<number>"``, with that route configuration for ``services``;
    otherwise a TCP proxy to the first of ``services`` on that port (no route configuration)."""
    if http:
        rds = str(number)
        return outbound_hcm(scope, stat, rds, dynamic_forward=dynamic_forward), sidecar_route_config(
            scope, rds, services, only_port=number
        )
    ctx = RouteContext(scope, number)
    host = services[0].hostname
    vs = select_virtual_service(mesh_virtual_services(scope), host)
    return outbound_tcp_proxy(ctx, stat, tcp_destinations(ctx, vs, host)), None


def outbound_hcm(scope: Scope, stat: str, rds: str, *, dynamic_forward: bool) -> JSONDict:
    """An outbound HTTP connection manager with the standard filters, routing over RDS ``rds``."""
    return hcm(
        scope.proxy,
        scope.mesh.mesh,
        stat,
        direction="outbound",
        rds=rds,
        filters=http_filters(dynamic_forward),
        resolved=scope.telemetry,
    )
