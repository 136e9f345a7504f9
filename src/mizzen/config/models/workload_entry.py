"""WorkloadEntry and WorkloadGroup: workloads outside Kubernetes (``networking.istio.io``)."""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from mizzen.config.schema import UInt32, fld


@dataclass(frozen=True)
class WorkloadEntry:
    """The spec of a WorkloadEntry (also the inline endpoint form in a ServiceEntry)."""

    address: str | None = fld()
    ports: Mapping[str, UInt32] = fld(dict)
    labels: Mapping[str, str] = fld(dict)
    network: str | None = fld()
    locality: str | None = fld()
    weight: UInt32 | None = fld()
    service_account: str | None = fld()


@dataclass(frozen=True)
class ObjectMeta:
    """Labels and annotations stamped on auto-registered WorkloadEntries."""

    labels: Mapping[str, str] = fld(dict)
    annotations: Mapping[str, str] = fld(dict)


@dataclass(frozen=True)
class HTTPHeader:
    """A header sent by an HTTP readiness probe."""

    name: str = fld("", required=True)
    value: str | None = fld()


@dataclass(frozen=True)
class HTTPHealthCheckConfig:
    """HTTP GET readiness probe."""

    path: str | None = fld()
    port: UInt32 = fld(0, required=True)
    host: str | None = fld()
    scheme: str | None = fld()
    http_headers: tuple[HTTPHeader, ...] = fld(())


@dataclass(frozen=True)
class TCPHealthCheckConfig:
    """TCP connect readiness probe."""

    host: str | None = fld()
    port: UInt32 = fld(0, required=True)


@dataclass(frozen=True)
class ExecHealthCheckConfig:
    """Command readiness probe."""

    command: tuple[str, ...] = fld((), required=True)


@dataclass(frozen=True)
class GrpcHealthCheckConfig:
    """gRPC health-checking-protocol probe."""

    port: UInt32 = fld(0, required=True)
    service: str | None = fld()


@dataclass(frozen=True)
class ReadinessProbe:
    """How the agent decides the workload is ready (like a Kubernetes readiness probe)."""

    initial_delay_seconds: int | None = fld()
    timeout_seconds: int | None = fld()
    period_seconds: int | None = fld()
    success_threshold: int | None = fld()
    failure_threshold: int | None = fld()
    http_get: HTTPHealthCheckConfig | None = fld(oneof="health_check_method")
    tcp_socket: TCPHealthCheckConfig | None = fld(oneof="health_check_method")
    exec: ExecHealthCheckConfig | None = fld(oneof="health_check_method")
    grpc: GrpcHealthCheckConfig | None = fld(oneof="health_check_method")


@dataclass(frozen=True)
class WorkloadGroup:
    """The spec of a WorkloadGroup: a template for auto-registered WorkloadEntries."""

    metadata: ObjectMeta | None = fld()
    template: WorkloadEntry | None = fld(required=True)
    probe: ReadinessProbe | None = fld()
