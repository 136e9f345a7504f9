"""Kubernetes kinds Mizzen reads: Service, Endpoints, ServiceAccount and (TLS) Secret (``v1``), and
EndpointSlice (``discovery.k8s.io/v1``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mizzen.config.schema import fld

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
"""The label that ties an EndpointSlice to its Service."""


@dataclass(frozen=True)
class ServicePort:
    """A port of a Kubernetes Service."""

    name: str | None = fld()
    port: int = fld(0, required=True)
    target_port: int | str | None = fld()
    protocol: Literal["TCP", "UDP", "SCTP"] | None = fld()
    app_protocol: str | None = fld()
    node_port: int | None = fld()


@dataclass(frozen=True)
class Service:
    """The spec of a Kubernetes Service (fields Mizzen does not use are accepted and kept)."""

    ports: tuple[ServicePort, ...] = fld(())
    selector: Mapping[str, str] = fld(dict)
    type: Literal["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"] | None = fld()
    cluster_ip: str | None = fld(json="clusterIP")
    cluster_ips: tuple[str, ...] = fld((), json="clusterIPs")
    external_name: str | None = fld()
    external_ips: tuple[str, ...] = fld((), json="externalIPs")
    session_affinity: str | None = fld()
    session_affinity_config: Any = fld()
    load_balancer_ip: str | None = fld(json="loadBalancerIP")
    load_balancer_source_ranges: tuple[str, ...] = fld(())
    load_balancer_class: str | None = fld()
    external_traffic_policy: str | None = fld()
    internal_traffic_policy: str | None = fld()
    health_check_node_port: int | None = fld()
    ip_families: tuple[str, ...] = fld(())
    ip_family_policy: str | None = fld()
    publish_not_ready_addresses: bool | None = fld()
    allocate_load_balancer_node_ports: bool | None = fld()
    traffic_distribution: str | None = fld()


@dataclass(frozen=True)
class ServiceAccount:
    """A ServiceAccount: a workload identity; its body fields are accepted and ignored."""

    secrets: tuple[Any, ...] = fld(())
    image_pull_secrets: tuple[Any, ...] = fld(())
    automount_service_account_token: bool | None = fld()


@dataclass(frozen=True)
class Secret:
    """A Secret (top-level ``type``/``data``/``stringData``); Mizzen uses TLS secrets for gateways."""

    type: str | None = fld()
    data: Mapping[str, str] = fld(dict)
    string_data: Mapping[str, str] = fld(dict)
    immutable: bool | None = fld()


@dataclass(frozen=True)
class EndpointAddress:
    """One address of an Endpoints subset."""

    ip: str = fld("", required=True)
    hostname: str | None = fld()
    node_name: str | None = fld()
    target_ref: Any = fld()


@dataclass(frozen=True)
class EndpointPort:
    """A port of an Endpoints subset or an EndpointSlice (matched to the Service's port by name)."""

    name: str | None = fld()
    port: int | None = fld()
    protocol: Literal["TCP", "UDP", "SCTP"] | None = fld()
    app_protocol: str | None = fld()


@dataclass(frozen=True)
class EndpointSubset:
    """Addresses that all serve the same ports."""

    addresses: tuple[EndpointAddress, ...] = fld(())
    not_ready_addresses: tuple[EndpointAddress, ...] = fld(())
    ports: tuple[EndpointPort, ...] = fld(())


@dataclass(frozen=True)
class Endpoints:
    """An Endpoints object (top-level ``subsets``): the endpoints of the Service of the same name."""

    subsets: tuple[EndpointSubset, ...] = fld(())


@dataclass(frozen=True)
class EndpointConditions:
    """The state of one EndpointSlice endpoint; ``ready`` unset means ready (Kubernetes' rule)."""

    ready: bool | None = fld()
    serving: bool | None = fld()
    terminating: bool | None = fld()


@dataclass(frozen=True)
class SliceEndpoint:
    """One endpoint of an EndpointSlice."""

    addresses: tuple[str, ...] = fld((), required=True)
    conditions: EndpointConditions | None = fld()
    hostname: str | None = fld()
    target_ref: Any = fld()
    node_name: str | None = fld()
    zone: str | None = fld()
    hints: Any = fld()
    deprecated_topology: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class EndpointSlice:
    """An EndpointSlice (top-level ``addressType``/``endpoints``/``ports``) of the Service its
    ``kubernetes.io/service-name`` label names."""

    address_type: Literal["IPv4", "IPv6", "FQDN"] | None = fld(required=True)
    endpoints: tuple[SliceEndpoint, ...] = fld(())
    ports: tuple[EndpointPort, ...] = fld(())
