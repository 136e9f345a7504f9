"""The Telemetry API and MeshConfig telemetry settings, turned into a proxy's Envoy access loggers and
tracing (the resolution itself is :mod:`mizzen.config.semantics.telemetry`; this module builds Envoy's
proto-JSON from it).

Access logs: a file provider (``envoyFileAccessLog``, Istio's built-in ``envoy`` among them) becomes a
file logger with its text format or JSON labels; ``/dev/stdout`` and ``/dev/stderr`` mean the proxy's own
access-log file (Mizzen's sidecars have no container output). A Telemetry ``filter.expression`` becomes
Envoy's CEL access-log filter. Without any Telemetry logging the MeshConfig decides: ``accessLogFile``
(unset: the proxy's own file), ``accessLogEncoding`` and ``accessLogFormat``.

Tracing: the side's provider (Mizzen's built-in collector or a ``zipkin`` extension provider) with the
Telemetry's sampling percentage and custom tags; a side without provider, or with span reporting
disabled, gets no tracing.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from mizzen.config.mesh_telemetry import (
    BUILTIN_PROVIDERS,
    PROMETHEUS_PROVIDER,
    STANDARD_STREAMS,
    ExtensionProvider,
    FileLogProvider,
)
from mizzen.config.models.telemetry import CustomTag
from mizzen.config.semantics import telemetry as semantics
from mizzen.config.semantics.telemetry import BUILTIN_TRACER, LogProvider, Side, TracingConfig, TracingSpec
from mizzen.config.telemetry_settings import MetricsSettings
from mizzen.node import Proxy
from mizzen.translate import names, telemetry
from mizzen.translate.common import JSONDict
from mizzen.translate.metrics_settings import metrics_settings
from mizzen.translate.model import MeshConfig, MeshSnapshot

CEL_FILTER = "envoy.access_loggers.extension_filters.cel"
_CEL_TYPE = "type.googleapis.com/envoy.extensions.access_loggers.filters.cel.v3.ExpressionFilter"

# Istio's JSON access-log format (accessLogEncoding JSON without accessLogFormat): the same fields as the
# default text format, one key each.
ISTIO_JSON_LABELS: tuple[tuple[str, str], ...] = (
    ("start_time", "%START_TIME%"),
    ("method", "%REQ(:METHOD)%"),
    ("path", "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"),
    ("protocol", "%PROTOCOL%"),
    ("response_code", "%RESPONSE_CODE%"),
    ("response_flags", "%RESPONSE_FLAGS%"),
    ("response_code_details", "%RESPONSE_CODE_DETAILS%"),
    ("connection_termination_details", "%CONNECTION_TERMINATION_DETAILS%"),
    ("upstream_transport_failure_reason", "%UPSTREAM_TRANSPORT_FAILURE_REASON%"),
    ("bytes_received", "%BYTES_RECEIVED%"),
    ("bytes_sent", "%BYTES_SENT%"),
    ("duration", "%DURATION%"),
    ("upstream_service_time", "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%"),
    ("x_forwarded_for", "%REQ(X-FORWARDED-FOR)%"),
    ("user_agent", "%REQ(USER-AGENT)%"),
    ("request_id", "%REQ(X-REQUEST-ID)%"),
    ("authority", "%REQ(:AUTHORITY)%"),
    ("upstream_host", "%UPSTREAM_HOST%"),
    ("upstream_cluster", "%UPSTREAM_CLUSTER_RAW%"),
    ("upstream_local_address", "%UPSTREAM_LOCAL_ADDRESS%"),
    ("downstream_local_address", "%DOWNSTREAM_LOCAL_ADDRESS%"),
    ("downstream_remote_address", "%DOWNSTREAM_REMOTE_ADDRESS%"),
    ("requested_server_name", "%REQUESTED_SERVER_NAME%"),
    ("route_name", "%ROUTE_NAME%"),
)


@dataclass(frozen=True)
class ProxyTelemetry:
    """What the Telemetry API decides for one proxy's logs and traces (``None``: the MeshConfig decides)."""

    tracing: TracingConfig | None = None
    client_logs: tuple[LogProvider, ...] | None = None
    server_logs: tuple[LogProvider, ...] | None = None
    # The Telemetry API's metrics section (None: the MeshConfig's, MeshConfig.metrics).
    metrics: MetricsSettings | None = None

    def metrics_or(self, default: MetricsSettings) -> MetricsSettings:
        """The proxy's metrics settings, else ``default`` (the mesh's)."""
        return self.metrics if self.metrics is not None else default

    def logs(self, side: Side) -> tuple[LogProvider, ...] | None:
        """The access-log providers of ``side``."""
        return self.client_logs if side == "client" else self.server_logs


LEGACY = ProxyTelemetry()


def resolve(proxy: Proxy, snapshot: MeshSnapshot) -> ProxyTelemetry:
    """The Telemetry resources of ``snapshot`` that apply to ``proxy``, merged (pure)."""
    mesh = snapshot.mesh
    quiet = mesh.telemetry.default_metrics == (PROMETHEUS_PROVIDER,)
    if (
        not snapshot.telemetries
        and not mesh.telemetry.default_access_logging
        and not mesh.telemetry.default_tracing
        and quiet
    ):
        # No Telemetry and no explicit default provider: the MeshConfig's settings (the same output as the
        # implicit `envoy` default provider, which follows accessLogEncoding and accessLogFormat).
        return LEGACY
    layers = semantics.applicable(
        snapshot.telemetries, semantics.Workload(proxy.namespace, proxy.labels), mesh.root_namespace
    )
    return ProxyTelemetry(
        tracing=semantics.tracing(layers, mesh.telemetry, builtin_tracer=bool(mesh.zipkin_address)),
        client_logs=semantics.access_logging(layers, mesh.telemetry, "client"),
        server_logs=semantics.access_logging(layers, mesh.telemetry, "server"),
        metrics=metrics_settings(proxy, snapshot),
    )


def side_of(direction: str) -> Side:
    """Istio's workload mode of a listener: inbound is SERVER; outbound and gateway are CLIENT."""
    return "server" if direction == "inbound" else "client"


# --- access logs -----------------------------------------------------------------------------------


def _file_path(path: str, proxy: Proxy) -> str:
    return proxy.access_log if path in STANDARD_STREAMS else path


def _logger(path: str, text: str | None, labels: tuple[tuple[str, str], ...] | None) -> JSONDict:
    log = telemetry.file_access_logger(path, text if text is not None else telemetry.ISTIO_DEFAULT_LOG_FORMAT)
    if labels is not None:
        log["typed_config"]["log_format"] = {"json_format": dict(labels)}  # type: ignore[index]
    return log


def _text(fmt: str) -> str:
    return fmt if fmt.endswith("\n") else fmt + "\n"


def legacy_file_logs(proxy: Proxy, mesh: MeshConfig) -> list[JSONDict]:
    """The MeshConfig's file log: ``accessLogFile`` (unset: the proxy's own file), its encoding and format."""
    setting = mesh.telemetry.access_log_file
    path = proxy.access_log if setting is None else _file_path(setting, proxy)
    if not path:
        return []
    if mesh.telemetry.access_log_encoding == "JSON":
        labels = _json_labels(mesh.access_log_format) if mesh.access_log_format else ISTIO_JSON_LABELS
        return [_logger(path, None, labels)]
    return [_logger(path, _text(mesh.access_log_format or telemetry.ISTIO_DEFAULT_LOG_FORMAT), None)]


def _json_labels(fmt: str) -> tuple[tuple[str, str], ...]:
    """An ``accessLogFormat`` under JSON encoding: Istio reads it as a JSON object of labels."""
    try:
        value = json.loads(fmt)
    except ValueError:
        return ISTIO_JSON_LABELS  # Istio falls back to its default JSON format
    if not isinstance(value, dict):
        return ISTIO_JSON_LABELS
    return tuple((str(k), str(v)) for k, v in value.items())


def provider_logs(proxy: Proxy, mesh: MeshConfig, providers: tuple[LogProvider, ...]) -> list[JSONDict]:
    """File loggers for the Telemetry's providers (metrics and tracing providers log nothing)."""
    out: list[JSONDict] = []
    for chosen in providers:
        provider = mesh.telemetry.provider(chosen.name)
        if provider is None or provider.file is None:
            continue  # Istio skips a provider it cannot fetch; validation of mesh.yaml names the kinds
        log = _provider_logger(proxy, mesh, provider, provider.file)
        if log is None:
            continue
        if chosen.filter:
            log["filter"] = cel_filter(chosen.filter)
        out.append(log)
    return out


def _provider_logger(
    proxy: Proxy, mesh: MeshConfig, provider: ExtensionProvider, spec: FileLogProvider
) -> JSONDict | None:
    path = _file_path(spec.path, proxy)
    if not path:
        return None
    if spec.labels is not None:
        return _logger(path, None, spec.labels)
    if spec.text is not None:
        return _logger(path, _text(spec.text), None)
    if provider in BUILTIN_PROVIDERS:
        # Istio's built-in `envoy` provider follows the mesh's encoding and format.
        return legacy_file_logs(proxy, _with_path(mesh, path))[0]
    return _logger(path, telemetry.ISTIO_DEFAULT_LOG_FORMAT, None)


def _with_path(mesh: MeshConfig, path: str) -> MeshConfig:
    return dataclasses.replace(mesh, telemetry=dataclasses.replace(mesh.telemetry, access_log_file=path))


def cel_filter(expression: str) -> JSONDict:
    """Envoy's CEL access-log filter (compiled into Mizzen's Envoy): log only when ``expression`` holds."""
    return {"extension_filter": {"name": CEL_FILTER, "typed_config": {"@type": _CEL_TYPE, "expression": expression}}}


def and_filters(*filters: object) -> JSONDict | None:
    """Several access-log filters that must all pass (``None`` entries ignored)."""
    present = [f for f in filters if isinstance(f, dict) and f]
    if not present:
        return None
    if len(present) == 1:
        return present[0]
    return {"and_filter": {"filters": present}}


# --- tracing ---------------------------------------------------------------------------------------


def _custom_tag(name: str, tag: CustomTag) -> JSONDict | None:
    if tag.literal is not None:
        return {"tag": name, "literal": {"value": tag.literal.value}}
    if tag.environment is not None:
        env: JSONDict = {"name": tag.environment.name}
        if tag.environment.default_value:
            env["default_value"] = tag.environment.default_value
        return {"tag": name, "environment": env}
    if tag.header is not None:
        header: JSONDict = {"name": tag.header.name}
        if tag.header.default_value:
            header["default_value"] = tag.header.default_value
        return {"tag": name, "request_header": header}
    if tag.formatter is not None:
        return {"tag": name, "value": tag.formatter.value}
    return None


def telemetry_tracing(proxy: Proxy, mesh: MeshConfig, spec: TracingSpec, tags: dict[str, str]) -> JSONDict | None:
    """HCM ``tracing`` for one side's Telemetry spec (``None``: no spans from this side)."""
    if spec.off or (not mesh.zipkin_address and spec.provider == BUILTIN_TRACER):
        return None
    provider = mesh.telemetry.provider(spec.provider or "")
    if spec.provider != BUILTIN_TRACER and (provider is None or provider.zipkin is None):
        return None  # Istio: a provider it cannot fetch (or not a tracer) means no tracing
    host = mesh.zipkin_address or zipkin_address(mesh)
    if provider is not None and provider.zipkin is not None:
        host = f"{provider.zipkin.service}:{provider.zipkin.port}"
    sampling = spec.random_sampling_percentage
    config = telemetry.tracing_config(
        mesh.tracing_sampling if sampling is None else sampling,
        cluster=names.ZIPKIN_CLUSTER,
        collector_host=host,
        tags=tags if spec.enable_istio_tags else None,
    )
    extra = [t for t in (_custom_tag(n, tag) for n, tag in spec.custom_tags) if t is not None]
    if extra:
        own = {t["tag"] for t in extra}
        kept = [t for t in config.get("custom_tags", []) if t["tag"] not in own]  # type: ignore[attr-defined]
        config["custom_tags"] = sorted([*kept, *extra], key=lambda t: str(t["tag"]))
    if provider is not None and provider.zipkin is not None:
        config["max_path_tag_length"] = provider.zipkin.max_tag_length
    return config


def zipkin_address(mesh: MeshConfig) -> str:
    """Where the ``zipkin`` cluster points: the MeshConfig's collector, else the first zipkin provider."""
    if mesh.zipkin_address:
        return mesh.zipkin_address
    for p in mesh.telemetry.extension_providers:
        if p.zipkin is not None:
            return f"{p.zipkin.service}:{p.zipkin.port}"
    return ""


_UUID_TYPE = "type.googleapis.com/envoy.extensions.request_id.uuid.v3.UuidRequestIdConfig"


def request_id_extension(resolved: ProxyTelemetry, direction: str) -> JSONDict | None:
    """HCM ``request_id_extension`` when the side's Telemetry sets ``useRequestIdForTraceSampling: false``
    (Envoy's UUID request id then no longer carries the sampling decision), else ``None`` (Envoy's default)."""
    if resolved.tracing is None:
        return None
    spec = resolved.tracing.side(side_of(direction))
    if spec.off or spec.use_request_id_for_trace_sampling:
        return None
    return {"typed_config": {"@type": _UUID_TYPE, "use_request_id_for_trace_sampling": False}}
