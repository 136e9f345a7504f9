"""Sidecar: limits and shapes what one workload's proxy sees and listens on (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import Destination, WorkloadSelector
from mizzen.config.models.destination_rule import ConnectionPoolSettings
from mizzen.config.models.gateway import ServerTLSSettings
from mizzen.config.schema import UInt32, fld

CaptureMode = Literal["DEFAULT", "IPTABLES", "NONE"]


@dataclass(frozen=True)
class SidecarPort:
    """A listener port of a Sidecar ingress/egress listener."""

    number: UInt32 = fld(0, required=True)
    protocol: str | None = fld()
    name: str | None = fld()
    target_port: UInt32 | None = fld()


@dataclass(frozen=True)
class IstioEgressListener:
    """Outbound scope: which hosts (``namespace/host``) the proxy may reach, optionally on one port."""

    port: SidecarPort | None = fld()
    bind: str | None = fld()
    capture_mode: CaptureMode | None = fld()
    hosts: tuple[str, ...] = fld((), required=True)


@dataclass(frozen=True)
class IstioIngressListener:
    """An explicit inbound listener forwarding to the application."""

    port: SidecarPort | None = fld(required=True)
    bind: str | None = fld()
    capture_mode: CaptureMode | None = fld()
    default_endpoint: str | None = fld()
    tls: ServerTLSSettings | None = fld()
    connection_pool: ConnectionPoolSettings | None = fld()


@dataclass(frozen=True)
class OutboundTrafficPolicy:
    """What happens to traffic for unknown destinations."""

    mode: Literal["REGISTRY_ONLY", "ALLOW_ANY"] | None = fld()
    egress_proxy: Destination | None = fld()


@dataclass(frozen=True)
class Sidecar:
    """The spec of a Sidecar."""

    workload_selector: WorkloadSelector | None = fld()
    ingress: tuple[IstioIngressListener, ...] = fld(())
    egress: tuple[IstioEgressListener, ...] = fld(())
    inbound_connection_pool: ConnectionPoolSettings | None = fld()
    outbound_traffic_policy: OutboundTrafficPolicy | None = fld()
