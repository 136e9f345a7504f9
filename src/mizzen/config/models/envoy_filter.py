"""EnvoyFilter: an Istio kind Mizzen reads and validates but does not apply.

The fields follow Istio's ``networking/v1alpha3/envoy_filter.proto`` and its CRD; a patch's ``value`` is
free-form here (it is Envoy configuration, decoded by :mod:`mizzen.config.rules.envoy_api`).
"""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mizzen.config.models.common import PolicyTargetReference, WorkloadSelector
from mizzen.config.schema import UInt32, fld

ApplyTo = Literal[
    "INVALID",
    "LISTENER",
    "FILTER_CHAIN",
    "NETWORK_FILTER",
    "HTTP_FILTER",
    "ROUTE_CONFIGURATION",
    "VIRTUAL_HOST",
    "HTTP_ROUTE",
    "CLUSTER",
    "EXTENSION_CONFIG",
    "BOOTSTRAP",
    "LISTENER_FILTER",
]
Operation = Literal[
    "INVALID",
    "MERGE",
    "ADD",
    "REMOVE",
    "INSERT_BEFORE",
    "INSERT_AFTER",
    "INSERT_FIRST",
    "REPLACE",
    "MERGE_AND_REPLACE_LIST",
]


@dataclass(frozen=True)
class SubFilterMatch:
    """The HTTP filter inside the matched network filter."""

    name: str = fld("")


@dataclass(frozen=True)
class FilterMatch:
    """A network filter, by name, and optionally one of its HTTP filters."""

    name: str = fld("")
    sub_filter: SubFilterMatch | None = fld()


@dataclass(frozen=True)
class FilterChainMatch:
    """Which filter chain of a listener."""

    name: str = fld("")
    sni: str = fld("")
    transport_protocol: str = fld("")
    application_protocols: str = fld("")
    filter: FilterMatch | None = fld()
    destination_port: UInt32 | None = fld()
    transport_socket: str = fld("")


@dataclass(frozen=True)
class ListenerMatch:
    """Which listener (and filter chain, filter) a patch is about."""

    port_number: UInt32 | None = fld()
    port_name: str = fld("")
    filter_chain: FilterChainMatch | None = fld()
    listener_filter: str = fld("")
    name: str = fld("")


@dataclass(frozen=True)
class RouteMatch:
    """A route of a virtual host."""

    name: str = fld("")
    action: Literal["ANY", "ROUTE", "REDIRECT", "DIRECT_RESPONSE"] | None = fld()


@dataclass(frozen=True)
class VirtualHostMatch:
    """A virtual host of a route configuration."""

    name: str = fld("")
    route: RouteMatch | None = fld()
    domain_name: str = fld("")


@dataclass(frozen=True)
class RouteConfigurationMatch:
    """Which route configuration (and virtual host, route)."""

    port_number: UInt32 | None = fld()
    port_name: str = fld("")
    gateway: str = fld("")
    vhost: VirtualHostMatch | None = fld()
    name: str = fld("")


@dataclass(frozen=True)
class ClusterMatch:
    """Which cluster."""

    port_number: UInt32 | None = fld()
    service: str = fld("")
    subset: str = fld("")
    name: str = fld("")


@dataclass(frozen=True)
class WaypointRouteMatch:
    """A route of a waypoint."""

    name: str = fld("")


@dataclass(frozen=True)
class WaypointMatch:
    """What of a waypoint proxy (filter, route, port)."""

    filter: FilterMatch | None = fld()
    route: WaypointRouteMatch | None = fld()
    port_number: UInt32 | None = fld()


@dataclass(frozen=True)
class ProxyMatch:
    """Which proxies, by version (an RE2 pattern) and node metadata."""

    proxy_version: str = fld("")
    metadata: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class ObjectMatch:
    """Where in the generated configuration a patch applies."""

    context: Literal["ANY", "SIDECAR_INBOUND", "SIDECAR_OUTBOUND", "GATEWAY", "WAYPOINT"] | None = fld()
    proxy: ProxyMatch | None = fld()
    listener: ListenerMatch | None = fld(oneof="object_types")
    route_configuration: RouteConfigurationMatch | None = fld(oneof="object_types")
    cluster: ClusterMatch | None = fld(oneof="object_types")
    waypoint: WaypointMatch | None = fld(oneof="object_types")


@dataclass(frozen=True)
class Patch:
    """How to patch: the operation, the Envoy configuration and (for filters) the insertion class."""

    operation: Operation | None = fld()
    value: Mapping[str, Any] | None = fld()
    filter_class: Literal["UNSPECIFIED", "AUTHN", "AUTHZ", "STATS"] | None = fld()


@dataclass(frozen=True)
class ConfigPatch:
    """One patch: what it applies to, where, and how."""

    apply_to: ApplyTo | None = fld()
    match: ObjectMatch | None = fld()
    patch: Patch | None = fld()


@dataclass(frozen=True)
class EnvoyFilter:
    """The spec of an EnvoyFilter."""

    workload_selector: WorkloadSelector | None = fld()
    target_refs: tuple[PolicyTargetReference, ...] = fld(())
    config_patches: tuple[ConfigPatch, ...] = fld(())
    priority: int | None = fld()
