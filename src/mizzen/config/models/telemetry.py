"""Telemetry (``telemetry.istio.io``): tracing, access logging and metrics settings for workloads.

The fields follow Istio's ``telemetry/v1alpha1/telemetry.proto`` (served as v1 and v1alpha1).
"""

# fld() returns a dataclasses.field(); ruff cannot see through the wrapper.
# ruff: noqa: RUF009

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from mizzen.config.models.common import LabelSelector, PolicyTargetReference
from mizzen.config.schema import Duration, fld

WorkloadMode = Literal["CLIENT_AND_SERVER", "CLIENT", "SERVER"]
IstioMetric = Literal[
    "ALL_METRICS",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_OPENED_CONNECTIONS",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_SENT_BYTES",
    "TCP_RECEIVED_BYTES",
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
]


@dataclass(frozen=True)
class ProviderRef:
    """A provider named in the mesh config's ``extensionProviders``."""

    name: str = fld("")


@dataclass(frozen=True)
class ModeSelector:
    """Which side of the traffic (client, server or both) a setting applies to."""

    mode: WorkloadMode | None = fld()


@dataclass(frozen=True)
class LiteralTag:
    """A fixed tag value (a formatter tag has the same shape: an Envoy format string)."""

    value: str = fld("")


@dataclass(frozen=True)
class NamedTag:
    """A tag read from an environment variable or a request header, with a default."""

    name: str = fld("")
    default_value: str = fld("")


@dataclass(frozen=True)
class CustomTag:
    """One custom tracing tag: exactly one of its sources."""

    literal: LiteralTag | None = fld(oneof="type")
    environment: NamedTag | None = fld(oneof="type")
    header: NamedTag | None = fld(oneof="type")
    formatter: LiteralTag | None = fld(oneof="type")


@dataclass(frozen=True)
class Tracing:
    """Tracing settings for the selected workloads."""

    match: ModeSelector | None = fld()
    providers: tuple[ProviderRef, ...] = fld(())
    random_sampling_percentage: float | None = fld()
    disable_span_reporting: bool | None = fld()
    custom_tags: Mapping[str, CustomTag] = fld(dict)
    use_request_id_for_trace_sampling: bool | None = fld()
    enable_istio_tags: bool | None = fld()
    disable_context_propagation: bool | None = fld()


@dataclass(frozen=True)
class MetricSelector:
    """The metrics an override applies to: one Istio metric or a custom one."""

    metric: IstioMetric | None = fld(oneof="metric_match")
    custom_metric: str | None = fld(oneof="metric_match")
    mode: WorkloadMode | None = fld()


@dataclass(frozen=True)
class TagOverride:
    """Set (UPSERT, with a CEL value) or remove one metric dimension."""

    operation: Literal["UPSERT", "REMOVE"] | None = fld()
    value: str | None = fld()


@dataclass(frozen=True)
class MetricsOverride:
    """Changes to the selected metrics."""

    match: MetricSelector | None = fld()
    disabled: bool | None = fld()
    tag_overrides: Mapping[str, TagOverride] = fld(dict)


@dataclass(frozen=True)
class Metrics:
    """Metrics settings for the selected workloads."""

    providers: tuple[ProviderRef, ...] = fld(())
    overrides: tuple[MetricsOverride, ...] = fld(())
    reporting_interval: Duration | None = fld()


@dataclass(frozen=True)
class LogFilter:
    """A CEL expression selecting the requests to log."""

    expression: str = fld("")


@dataclass(frozen=True)
class AccessLogging:
    """Access-log settings for the selected workloads."""

    match: ModeSelector | None = fld()
    providers: tuple[ProviderRef, ...] = fld(())
    disabled: bool | None = fld()
    filter: LogFilter | None = fld()


@dataclass(frozen=True)
class Telemetry:
    """The spec of a Telemetry."""

    selector: LabelSelector | None = fld()
    target_ref: PolicyTargetReference | None = fld()
    target_refs: tuple[PolicyTargetReference, ...] = fld(())
    tracing: tuple[Tracing, ...] = fld(())
    metrics: tuple[Metrics, ...] = fld(())
    access_logging: tuple[AccessLogging, ...] = fld(())
