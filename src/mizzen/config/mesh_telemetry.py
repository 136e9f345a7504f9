"""MeshConfig's telemetry settings (``accessLogFile``, ``accessLogEncoding``, ``enableTracing``,
``defaultProviders``, ``extensionProviders``) as a typed value, read from a ``mesh.yaml`` mapping.

Why a module of its own under ``config``: the Telemetry API resolution (:mod:`.semantics.telemetry`)
needs the providers and defaults, and sits below the translator; the translator's ``MeshConfig`` holds
one :class:`MeshTelemetry`. A provider kind Mizzen cannot run (stackdriver, skywalking, datadog,
lightstep, opentelemetry, the ALS providers...) is an error naming the file and field: silently dropping
it would leave a user believing their logs or spans go somewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

ProviderKind = Literal["envoyFileAccessLog", "zipkin", "prometheus"]
Encoding = Literal["TEXT", "JSON"]

ENVOY_PROVIDER = "envoy"  # Istio's built-in provider: a file access log on /dev/stdout
PROMETHEUS_PROVIDER = "prometheus"  # Istio's built-in metrics provider
# The access-log paths Istio's proxies write to their container's output; Mizzen's sidecars have no
# container, so these mean the proxy's own access-log file (the one ``mizzen logs --proxy`` reads).
STANDARD_STREAMS = frozenset({"/dev/stdout", "/dev/stderr"})

_SUPPORTED = ("envoyFileAccessLog", "zipkin", "prometheus")
_KNOWN_UNRUN = (
    "envoyHttpAls",
    "envoyTcpAls",
    "envoyOtelAls",
    "opentelemetry",
    "stackdriver",
    "skywalking",
    "datadog",
    "lightstep",
    "opencensus",
    "envoyExtAuthzHttp",
    "envoyExtAuthzGrpc",
    "sds",
)


class MeshTelemetryError(ValueError):
    """A telemetry setting of a mesh.yaml Mizzen refuses (the message names the file and field)."""


@dataclass(frozen=True)
class FileLogProvider:
    """``envoyFileAccessLog``: a path and at most one of a text format or JSON labels."""

    path: str = "/dev/stdout"
    text: str | None = None
    labels: tuple[tuple[str, str], ...] | None = None


@dataclass(frozen=True)
class ZipkinProvider:
    """``zipkin``: the collector's service and port, and the longest tag value kept (Istio's default 256)."""

    service: str = ""
    port: int = 9411
    max_tag_length: int = 256


@dataclass(frozen=True)
class ExtensionProvider:
    """One entry of ``extensionProviders`` Mizzen can run."""

    name: str
    kind: ProviderKind
    file: FileLogProvider | None = None
    zipkin: ZipkinProvider | None = None


BUILTIN_PROVIDERS = (
    ExtensionProvider(ENVOY_PROVIDER, "envoyFileAccessLog", file=FileLogProvider()),
    ExtensionProvider(PROMETHEUS_PROVIDER, "prometheus"),
)


@dataclass(frozen=True)
class MeshTelemetry:
    """The MeshConfig fields the Telemetry API reads, with Istio's defaults.

    ``access_log_file`` ``None`` means "not set": Mizzen keeps each proxy's own access-log file on (Istio's
    default is off; see docs/istio-differences.md). ``""`` turns the legacy file log off.
    """

    access_log_file: str | None = None
    access_log_encoding: Encoding = "TEXT"
    enable_tracing: bool = True
    default_metrics: tuple[str, ...] = (PROMETHEUS_PROVIDER,)
    default_tracing: tuple[str, ...] = ()
    default_access_logging: tuple[str, ...] = ()
    extension_providers: tuple[ExtensionProvider, ...] = ()

    @property
    def access_logging_defaults(self) -> tuple[str, ...]:
        """The access-log providers a Telemetry without ``providers`` means: ``defaultProviders.accessLogging``;
        when that and ``accessLogFile`` are unset, the built-in ``envoy`` (Mizzen's on-by-default file log
        is that provider, so a Telemetry can turn it off). An explicit ``accessLogFile`` is Istio's legacy
        setting: no default provider, and the file log stays when a Telemetry leaves no provider."""
        if self.default_access_logging:
            return self.default_access_logging
        return (ENVOY_PROVIDER,) if self.access_log_file is None else ()

    def provider(self, name: str) -> ExtensionProvider | None:
        """The provider called ``name`` (case-insensitive, as Istio's ``fetchProvider``); the mesh's own
        entries shadow the built-in ``envoy`` and ``prometheus``."""
        for p in (*self.extension_providers, *BUILTIN_PROVIDERS):
            if p.name.lower() == name.lower():
                return p
        return None


def _fail(where: str, field: str, problem: str) -> MeshTelemetryError:
    return MeshTelemetryError(f"{where}: {field} {problem}")


def _str(value: Any, where: str, field: str, *, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise _fail(where, field, f"must be a string, not {value!r}")
    return value


def _names(value: Any, where: str, field: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, field, "must be a list of provider names")
    return tuple(value)


def _file_provider(spec: Any, where: str, field: str) -> FileLogProvider:
    if not isinstance(spec, Mapping):
        raise _fail(where, field, "must be a mapping")
    path = _str(spec.get("path"), where, f"{field}.path") or "/dev/stdout"
    fmt = spec.get("logFormat")
    if fmt is None:
        return FileLogProvider(path=path)
    if not isinstance(fmt, Mapping):
        raise _fail(where, f"{field}.logFormat", "must be a mapping")
    if "text" in fmt and "labels" in fmt:
        raise _fail(where, f"{field}.logFormat", "may set only one of text and labels")
    if "labels" in fmt:
        labels = fmt.get("labels")
        if not isinstance(labels, Mapping) or not all(isinstance(v, str) for v in labels.values()):
            raise _fail(where, f"{field}.logFormat.labels", "must map names to Envoy format strings")
        return FileLogProvider(path=path, labels=tuple((str(k), str(v)) for k, v in labels.items()))
    text = _str(fmt.get("text"), where, f"{field}.logFormat.text")
    return FileLogProvider(path=path, text=text or None)


def _zipkin_provider(spec: Any, where: str, field: str) -> ZipkinProvider:
    if not isinstance(spec, Mapping):
        raise _fail(where, field, "must be a mapping")
    service = _str(spec.get("service"), where, f"{field}.service")
    if not service:
        raise _fail(where, f"{field}.service", "is required")
    port, length = spec.get("port"), spec.get("maxTagLength", 256)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _fail(where, f"{field}.port", f"must be a port number (1-65535), not {port!r}")
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise _fail(where, f"{field}.maxTagLength", f"must be a non-negative integer, not {length!r}")
    return ZipkinProvider(service=service, port=port, max_tag_length=length or 256)


def _extension_provider(entry: Any, where: str, field: str) -> ExtensionProvider:
    if not isinstance(entry, Mapping):
        raise _fail(where, field, "must be a mapping")
    name = _str(entry.get("name"), where, f"{field}.name")
    if not name:
        raise _fail(where, f"{field}.name", "is required")
    kinds = [k for k in entry if k != "name"]
    if len(kinds) != 1:
        raise _fail(where, field, f"must set exactly one provider type, not {sorted(kinds)!r}")
    kind = str(kinds[0])
    at = f"{field}.{kind}"
    if kind in _KNOWN_UNRUN:
        supported = ", ".join(_SUPPORTED)
        raise _fail(where, at, f"(provider {name!r}) is a provider type Mizzen does not run (it runs {supported})")
    if kind == "envoyFileAccessLog":
        return ExtensionProvider(name, "envoyFileAccessLog", file=_file_provider(entry[kind], where, at))
    if kind == "zipkin":
        return ExtensionProvider(name, "zipkin", zipkin=_zipkin_provider(entry[kind], where, at))
    if kind == "prometheus":
        return ExtensionProvider(name, "prometheus")
    raise _fail(where, at, f"(provider {name!r}) is not an Istio extension provider type")


def parse_mesh_telemetry(data: Mapping[str, Any], where: str) -> MeshTelemetry:
    """The telemetry settings of a mesh.yaml mapping; a bad value is a :class:`MeshTelemetryError`."""
    file = data.get("accessLogFile")
    if file is not None and not isinstance(file, str):
        raise _fail(where, "accessLogFile", f"must be a string, not {file!r}")
    encoding = data.get("accessLogEncoding", "TEXT")
    if encoding not in ("TEXT", "JSON"):
        raise _fail(where, "accessLogEncoding", f"must be TEXT or JSON, not {encoding!r}")
    tracing = data.get("enableTracing", True)
    if not isinstance(tracing, bool):
        raise _fail(where, "enableTracing", f"must be true or false, not {tracing!r}")
    defaults = data.get("defaultProviders") or {}
    if not isinstance(defaults, Mapping):
        raise _fail(where, "defaultProviders", "must be a mapping")
    raw = data.get("extensionProviders") or []
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise _fail(where, "extensionProviders", "must be a list")
    providers = tuple(_extension_provider(e, where, f"extensionProviders[{i}]") for i, e in enumerate(raw))
    seen: set[str] = set()
    for i, p in enumerate(providers):
        if p.name.lower() in seen:
            raise _fail(where, f"extensionProviders[{i}].name", f"{p.name!r} is defined twice")
        seen.add(p.name.lower())
    mesh = MeshTelemetry(
        access_log_file=file,
        access_log_encoding="JSON" if encoding == "JSON" else "TEXT",
        enable_tracing=tracing,
        default_metrics=_names(defaults.get("metrics"), where, "defaultProviders.metrics") or (PROMETHEUS_PROVIDER,),
        default_tracing=_names(defaults.get("tracing"), where, "defaultProviders.tracing") or (),
        default_access_logging=_names(defaults.get("accessLogging"), where, "defaultProviders.accessLogging") or (),
        extension_providers=providers,
    )
    _check_defaults(mesh, where)
    return mesh


def _check_defaults(mesh: MeshTelemetry, where: str) -> None:
    """Each default provider names a provider of the right kind (an unknown name would mean no telemetry)."""
    wanted: tuple[tuple[str, tuple[str, ...], tuple[ProviderKind, ...]], ...] = (
        ("defaultProviders.metrics", mesh.default_metrics, ("prometheus",)),
        ("defaultProviders.tracing", mesh.default_tracing, ("zipkin",)),
        ("defaultProviders.accessLogging", mesh.default_access_logging, ("envoyFileAccessLog",)),
    )
    for field, names, kinds in wanted:
        for i, name in enumerate(names):
            p = mesh.provider(name)
            if p is None:
                raise _fail(where, f"{field}[{i}]", f"names no extension provider: {name!r}")
            if p.kind not in kinds:
                raise _fail(where, f"{field}[{i}]", f"{name!r} is a {p.kind} provider, not one for this signal")
