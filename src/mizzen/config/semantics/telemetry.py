"""The effective telemetry of one proxy from the Telemetry resources and the MeshConfig (Istio's
``pilot/pkg/model/telemetry.go`` rules). Pure: plain values in, plain values out.

Theory of operation
-------------------
*Which resources apply* (Istio's ``applicableTelemetries``): the oldest Telemetry of the root namespace
without a selector or targetRef (mesh-wide), then the oldest one of the proxy's namespace without
(namespace-wide; a second one is ignored and IST0160 reports it), then the oldest one of the proxy's
namespace that selects it (``selector.matchLabels``, or ``targetRef(s)`` naming the Gateway API gateway
the proxy is). Later layers override earlier ones: workload > namespace > mesh. A ``targetRef`` to a
Service attaches to waypoints only, so never to a sidecar or gateway.

*Tracing* (``Tracing``): each layer's entries are applied in order to the client and server specs its
``match.mode`` names; a field set overrides, an unset one inherits (``customTags`` replaces the whole map).
The provider is the first of ``providers``, else ``defaultProviders.tracing``, else, in Mizzen, the
control plane's own collector (:data:`BUILTIN_TRACER`) when MeshConfig tracing is on. No provider:
tracing off. ``None`` (no Telemetry tracing, no default provider): the MeshConfig settings apply as before.

*Access logging* (``mergeLogs``): the providers in scope are the last layer's non-empty ``providers``
(else the mesh defaults: ``defaultProviders.accessLogging``, in Mizzen the built-in ``envoy`` when neither
it nor ``accessLogFile`` is set); walking the entries in order, one whose match mode covers the side adds its
providers (an entry without providers inherits the previous entry's, starting from the defaults) with
its filter, ``disabled: true`` removes them. ``None`` (no Telemetry logging, no default providers): the
MeshConfig's ``accessLogFile`` applies.

*Metrics* (``mergeMetrics``): per provider, overrides accumulate per side and metric; ``ALL_METRICS``
expands to every metric; ``ALL_METRICS`` disabled turns the provider off until a later override turns
something back on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from mizzen.config.mesh_telemetry import MeshTelemetry
from mizzen.config.models.common import PolicyTargetReference
from mizzen.config.models.telemetry import (
    AccessLogging,
    CustomTag,
    Metrics,
    MetricSelector,
    MetricsOverride,
    ModeSelector,
    ProviderRef,
    Telemetry,
    Tracing,
)
from mizzen.config.models.typed import Typed
from mizzen.config.semantics import durations
from mizzen.config.semantics.selectors import subset_of

Side = Literal["client", "server"]  # CLIENT: outbound and gateway listeners; SERVER: inbound
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
BUILTIN_TRACER = "mizzen"  # the control plane's own span collector (``mizzen traces``)
ALL_METRICS = (
    "GRPC_REQUEST_MESSAGES",
    "GRPC_RESPONSE_MESSAGES",
    "REQUEST_COUNT",
    "REQUEST_DURATION",
    "REQUEST_SIZE",
    "RESPONSE_SIZE",
    "TCP_CLOSED_CONNECTIONS",
    "TCP_OPENED_CONNECTIONS",
    "TCP_RECEIVED_BYTES",
    "TCP_SENT_BYTES",
)


@dataclass(frozen=True)
class Workload:
    """What the resolution needs of a proxy: where it lives and its labels."""

    namespace: str
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Applicable:
    """The Telemetry resources that apply to one workload: mesh, namespace and workload layer."""

    layers: tuple[Typed[Telemetry], ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """``namespace/name`` of each layer, mesh first."""
        return tuple(f"{t.namespace}/{t.name}" for t in self.layers)


def _refs(spec: Telemetry) -> tuple[PolicyTargetReference, ...]:
    return spec.target_refs or ((spec.target_ref,) if spec.target_ref is not None else ())


def is_namespace_wide(spec: Telemetry) -> bool:
    """No selector labels and no targetRef: the resource covers its whole namespace (or the mesh)."""
    labels = spec.selector.match_labels if spec.selector is not None else {}
    return not labels and not _refs(spec)


def _selects(t: Typed[Telemetry], workload: Workload) -> bool:
    refs = _refs(t.spec)
    if refs:
        gateway = workload.labels.get(GATEWAY_NAME_LABEL)
        return gateway is not None and any(
            (r.group or "") == GATEWAY_API_GROUP
            and r.kind == "Gateway"
            and r.name == gateway
            and (r.namespace or t.namespace) == workload.namespace
            for r in refs
        )
    labels = t.spec.selector.match_labels if t.spec.selector is not None else {}
    return subset_of(labels, workload.labels)


def applicable(telemetries: Iterable[Typed[Telemetry]], workload: Workload, root_namespace: str) -> Applicable:
    """The mesh, namespace and workload Telemetry of ``workload`` (``telemetries`` in creation order)."""
    listed = list(telemetries)

    def oldest_wide(namespace: str) -> Typed[Telemetry] | None:
        return next((t for t in listed if t.namespace == namespace and is_namespace_wide(t.spec)), None)

    layers = [oldest_wide(root_namespace)]
    if workload.namespace != root_namespace:
        layers.append(oldest_wide(workload.namespace))
    own = (t for t in listed if t.namespace == workload.namespace and not is_namespace_wide(t.spec))
    layers.append(next((t for t in own if _selects(t, workload)), None))
    return Applicable(tuple(t for t in layers if t is not None))


def _sides(match: ModeSelector | None) -> tuple[Side, ...]:
    mode = match.mode if match is not None else None
    if mode == "CLIENT":
        return ("client",)
    if mode == "SERVER":
        return ("server",)
    return ("client", "server")


def _names(providers: Sequence[ProviderRef]) -> tuple[str, ...]:
    return tuple(p.name for p in providers)


# --- tracing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TracingSpec:
    """The tracing of one side: its provider (``None``: off) and the Telemetry overrides."""

    provider: str | None = None
    disabled: bool = False
    random_sampling_percentage: float | None = None  # None: MeshConfig's defaultConfig.tracing.sampling
    custom_tags: tuple[tuple[str, CustomTag], ...] = ()
    use_request_id_for_trace_sampling: bool = True
    enable_istio_tags: bool = True

    @property
    def off(self) -> bool:
        """No spans from this side."""
        return self.disabled or self.provider is None


@dataclass(frozen=True)
class TracingConfig:
    """The client-side and server-side tracing of one proxy."""

    client: TracingSpec
    server: TracingSpec

    def side(self, side: Side) -> TracingSpec:
        """The spec of ``side``."""
        return self.client if side == "client" else self.server


def tracing(layers: Applicable, mesh: MeshTelemetry, *, builtin_tracer: bool) -> TracingConfig | None:
    """The proxy's tracing, or ``None`` when no Telemetry and no default provider say anything.

    ``builtin_tracer``: the MeshConfig traces to the control plane's collector, which is then the default
    provider (Mizzen's stand-in for Istio's ``defaultProviders.tracing`` when that is unset)."""
    entries = [e for t in layers.layers for e in t.spec.tracing]
    defaults = mesh.default_tracing or ((BUILTIN_TRACER,) if builtin_tracer and mesh.enable_tracing else ())
    if not entries and not mesh.default_tracing:
        return None
    first = defaults[0] if defaults else None
    specs: dict[Side, TracingSpec] = {"client": TracingSpec(provider=first), "server": TracingSpec(provider=first)}
    for entry in entries:
        for side in _sides(entry.match):
            specs[side] = _apply_tracing(specs[side], entry)
    return TracingConfig(client=specs["client"], server=specs["server"])


def _apply_tracing(spec: TracingSpec, entry: Tracing) -> TracingSpec:
    provider = entry.providers[0].name if entry.providers else spec.provider
    return TracingSpec(
        provider=provider,
        disabled=entry.disable_span_reporting if entry.disable_span_reporting is not None else spec.disabled,
        random_sampling_percentage=(
            entry.random_sampling_percentage
            if entry.random_sampling_percentage is not None
            else spec.random_sampling_percentage
        ),
        custom_tags=tuple(sorted(entry.custom_tags.items())) if entry.custom_tags else spec.custom_tags,
        use_request_id_for_trace_sampling=(
            entry.use_request_id_for_trace_sampling
            if entry.use_request_id_for_trace_sampling is not None
            else spec.use_request_id_for_trace_sampling
        ),
        enable_istio_tags=entry.enable_istio_tags if entry.enable_istio_tags is not None else spec.enable_istio_tags,
    )


# --- access logging --------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogProvider:
    """One access-log provider on one side, with its CEL filter (``None``: every request)."""

    name: str
    filter: str | None = None


def access_logging(layers: Applicable, mesh: MeshTelemetry, side: Side) -> tuple[LogProvider, ...] | None:
    """The access-log providers of ``side`` (sorted by name), or ``None`` when neither a Telemetry nor a
    default provider (:attr:`MeshTelemetry.access_logging_defaults`) configures logging (the MeshConfig's
    ``accessLogFile`` applies)."""
    logs: list[tuple[AccessLogging, ...]] = [t.spec.access_logging for t in layers.layers if t.spec.access_logging]
    defaults = mesh.access_logging_defaults
    if not logs:
        return tuple(LogProvider(p) for p in sorted(defaults)) or None
    in_scope, filters = _log_scope(logs, defaults)
    chosen: dict[str, str | None] = {}
    parent = defaults
    for entries in logs:
        for entry in entries:
            names = _names(entry.providers) or parent
            parent = names
            if side not in _sides(entry.match):
                continue
            for name in names:
                if name not in in_scope:
                    continue  # a lower layer named other providers: this one is out of scope
                if entry.disabled:
                    chosen.pop(name, None)
                else:
                    chosen[name] = filters.get(name)
    return tuple(LogProvider(n, f) for n, f in sorted(chosen.items()))


def _log_scope(
    logs: Sequence[tuple[AccessLogging, ...]], defaults: tuple[str, ...]
) -> tuple[tuple[str, ...], dict[str, str | None]]:
    """The providers in scope (the last layer naming any, else the defaults) and each one's last filter."""
    in_scope = defaults
    filters: dict[str, str | None] = {}
    for entries in logs:
        named: list[str] = []
        for entry in entries:
            for name in _names(entry.providers):
                named.append(name)
                filters[name] = entry.filter.expression if entry.filter is not None else None
        if named:
            in_scope = tuple(named)
    return in_scope, filters


# --- metrics ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricChange:
    """The merged override of one metric on one side (``tags``: name -> CEL value, ``None`` = REMOVE)."""

    disabled: bool | None = None
    tags: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class ProviderMetrics:
    """One metrics provider's merged overrides, per side then metric (both sorted by name)."""

    name: str
    client: tuple[tuple[str, MetricChange], ...] = ()
    server: tuple[tuple[str, MetricChange], ...] = ()


@dataclass(frozen=True)
class MetricsConfig:
    """The metrics providers that stay on for a proxy, and the ``reportingInterval`` last set (seconds)."""

    providers: tuple[ProviderMetrics, ...] = ()
    reporting_interval_s: float | None = None

    def provider(self, name: str) -> ProviderMetrics | None:
        """The merged config of ``name`` when it is on."""
        return next((p for p in self.providers if p.name == name), None)


def _metric_names(match: MetricSelector | None) -> tuple[str, ...]:
    if match is not None and match.custom_metric:
        return (match.custom_metric,)
    if match is not None and match.metric is not None and match.metric != "ALL_METRICS":
        return (match.metric,)
    return ALL_METRICS


def _is_all_metrics(match: MetricSelector | None) -> bool:
    return match is not None and match.metric == "ALL_METRICS" and not match.custom_metric


def _override(sides: dict[Side, dict[str, MetricChange]], o: MetricsOverride) -> None:
    """Fold one override into the per-side, per-metric changes (later ones win per field and tag)."""
    for side in _sides(ModeSelector(o.match.mode) if o.match is not None else None):
        for metric in _metric_names(o.match):
            old = sides[side].get(metric, MetricChange())
            tags = dict(old.tags)
            for tag, change in o.tag_overrides.items():
                tags[tag] = None if change.operation == "REMOVE" else (change.value or "")
            disabled = o.disabled if o.disabled is not None else old.disabled
            sides[side][metric] = MetricChange(disabled, tuple(sorted(tags.items())))


def metrics(layers: Applicable, mesh: MeshTelemetry) -> MetricsConfig:
    """The proxy's metrics, merged per provider as Istio's ``mergeMetrics``."""
    entries: list[Metrics] = [m for t in layers.layers for m in t.spec.metrics]
    defaults = mesh.default_metrics
    state: dict[str, dict[Side, dict[str, MetricChange]]] = {}
    if not entries:
        state = {p: {"client": {}, "server": {}} for p in defaults}
    in_scope = defaults
    for m in entries:
        in_scope = _names(m.providers) or in_scope
    parent = defaults
    disabled_all: set[str] = set()
    interval: float | None = None
    for m in entries:
        if m.reporting_interval is not None:
            ns = durations.nanos(m.reporting_interval)
            interval = ns / 1e9 if ns is not None else interval
        names = _names(m.providers) or parent
        parent = names
        for name in (n for n in names if n in in_scope):
            sides = state.setdefault(name, {"client": {}, "server": {}})
            for o in m.overrides:
                if _is_all_metrics(o.match) and o.disabled:
                    disabled_all.add(name)
                    continue
                disabled_all.discard(name)  # a lower layer turning metrics back on
                _override(sides, o)
    out = [
        ProviderMetrics(name, tuple(sorted(s["client"].items())), tuple(sorted(s["server"].items())))
        for name, s in sorted(state.items())
        if name not in disabled_all
    ]
    return MetricsConfig(tuple(out), interval)
