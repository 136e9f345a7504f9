"""Route parents: which listeners (or the mesh) a route's parentRefs reach, and whether each admits it
(Istio's ``extractParentReferenceInfo`` and ``referenceAllowed``).

Where istiod says nothing (a parentRef to a Gateway that does not exist, or to a kind it does not
handle, may belong to another controller), Mizzen reports ``Accepted=False``: it is the only
controller, so silence would only hide a typo.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from mizzen.config.models.gateway_api_routes import ParentReference
from mizzen.gatewayapi.conditions import not_found
from mizzen.gatewayapi.context import Context, kind_of
from mizzen.gatewayapi.hosts import matches
from mizzen.gatewayapi.model import (
    GROUP,
    MESH,
    NO_MATCHING_LISTENER_HOSTNAME,
    NO_MATCHING_PARENT,
    NOT_ALLOWED_BY_LISTENERS,
    UNSUPPORTED_VALUE,
    ConfigError,
    ParentInfo,
    RouteParent,
    parent_ref_key,
)

NOTE = " (docs/istio-differences.md#parents-that-resolve-to-nothing-are-reported)"
"""Appended to what Mizzen reports where istiod stays silent."""
Parents = Mapping[tuple[str, str], Sequence[ParentInfo]]
"""Listeners of each converted Gateway, by (namespace, name)."""


def route_parents(
    ctx: Context,
    parents: Parents,
    gateways: Mapping[tuple[str, str], str],
    route_kind: str,
    refs: Sequence[ParentReference],
    hostnames: Sequence[str],
    namespace: str,
) -> list[RouteParent]:
    """Every (parentRef, parent) pair of one route, with the reason when the parent refuses it.

    ``gateways`` maps every Gateway in the store to why it has no listeners here (``""`` when it has).
    """
    out: list[RouteParent] = []
    for ref in refs:
        kind = kind_of(ref.group, ref.kind)
        ns = ref.namespace or namespace
        if kind in ("Service", "ServiceEntry"):
            out.append(_mesh_parent(ctx, ref, kind, ns))
            continue
        if kind != "KubernetesGateway":
            hint = ' (a Service parent is written with group: "")' if ref.kind == "Service" else ""
            out.append(
                _refused(
                    ref, kind, ConfigError(UNSUPPORTED_VALUE, f"unsupported parent: {ref.group}/{ref.kind}{hint}{NOTE}")
                )
            )
            continue
        listeners = parents.get((ns, ref.name), ())
        if not listeners:
            why = gateways.get((ns, ref.name), f"Gateway {ns}/{ref.name} not found")
            why = why or f"Gateway {ns}/{ref.name} has no listeners"
            out.append(not_found(RouteParent(ref, kind, None), why + NOTE))
            continue
        for info in listeners:
            banned = frozenset(
                other.original_hostname
                for other in listeners
                if other is not info and other.port == info.port and other.protocol == info.protocol
            ) - {info.original_hostname}
            denied = _gateway_denied(info, route_kind, ref, hostnames, namespace)
            out.append(RouteParent(ref, kind, info, denied, banned))
    out.sort(key=lambda p: parent_ref_key(p.original, namespace))
    return out


def _refused(ref: ParentReference, kind: str, error: ConfigError) -> RouteParent:
    return RouteParent(ref, kind, None, error)


def _mesh_parent(ctx: Context, ref: ParentReference, kind: str, ns: str) -> RouteParent:
    exists = (ns, ref.name) in (ctx.services if kind == "Service" else ctx.service_entries)
    if not exists:
        what = "service" if kind == "Service" else "service entry"
        return RouteParent(ref, kind, MESH, ConfigError(NO_MATCHING_PARENT, f'parent {what}: "{ref.name}" not found'))
    return RouteParent(ref, kind, MESH)


def _gateway_denied(
    info: ParentInfo, route_kind: str, ref: ParentReference, hostnames: Sequence[str], namespace: str
) -> ConfigError | None:
    if ref.port and ref.port != info.port:
        return ConfigError(NO_MATCHING_PARENT, f"port {ref.port} not found")
    if ref.section_name and ref.section_name != info.section_name:
        return ConfigError(NO_MATCHING_PARENT, f'sectionName "{ref.section_name}" not found')
    error = _hostname_denied(info, hostnames or ("*",), namespace)
    if error is not None:
        return error
    if (GROUP, route_kind) not in info.allowed_kinds:
        return ConfigError(NOT_ALLOWED_BY_LISTENERS, f"kind {GROUP}/v1/{route_kind} is not allowed")
    return None


def _hostname_denied(info: ParentInfo, hostnames: Sequence[str], namespace: str) -> ConfigError | None:
    """A bidirectional wildcard match of route and listener hostnames, in an allowed namespace."""
    if not info.hostnames:
        return None
    host_matched = False
    for route_host in hostnames:
        for server_host in info.hostnames:
            server_ns, _, host = server_host.rpartition("/")
            server_ns = server_ns or "*"
            matched = matches(host, route_host)
            host_matched = host_matched or matched
            if matched and server_ns in ("*", namespace):
                return None
    if host_matched:
        return ConfigError(
            NOT_ALLOWED_BY_LISTENERS,
            f'hostnames matched parent hostname "{info.original_hostname}", but namespace "{namespace}" is not '
            "allowed by the parent",
        )
    return ConfigError(
        NO_MATCHING_LISTENER_HOSTNAME, f'no hostnames matched parent hostname "{info.original_hostname}"'
    )
