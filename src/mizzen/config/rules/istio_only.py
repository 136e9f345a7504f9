"""Istio kinds Mizzen reads but does not run (WasmPlugin, ProxyConfig, EnvoyFilter).

The loader skips them (``apply`` reports them as skipped), but first checks them with Istio's rules
through :func:`check_document`, so a document Istio would reject is an error here too and a valid one
is "skipped" rather than silently different. A kind whose effect is the point of applying it (an
EnvoyFilter's patches) also gets a warning when Istio accepts it, so ``--strict`` refuses it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from mizzen.config import names
from mizzen.config.codes import violation
from mizzen.config.models.envoy_filter import EnvoyFilter
from mizzen.config.models.extensions import ProxyConfig, WasmPlugin
from mizzen.config.report import Violation
from mizzen.config.resource import DEFAULT_NAMESPACE, JSON, Metadata, Origin, Resource
from mizzen.config.rules import envoy_filter, extensions, metadata
from mizzen.config.schema import check

ENVOY_FILTER_NOT_APPLIED = (
    "EnvoyFilter is validated with Istio's rules but not applied: Mizzen does not patch Envoy configuration"
)


@dataclass(frozen=True)
class UnrunKind:
    """One Istio kind Mizzen validates without running it."""

    group: str
    versions: tuple[str, ...]
    model: type
    rule: Callable[[Resource, str], list[Violation]]
    not_applied: tuple[str, str] | None = None  # (code, message) warned when Istio accepts the document


UNRUN: Mapping[str, UnrunKind] = {
    "WasmPlugin": UnrunKind("extensions.istio.io", ("v1alpha1",), WasmPlugin, extensions.check_wasm_plugin),
    "ProxyConfig": UnrunKind("networking.istio.io", ("v1beta1",), ProxyConfig, extensions.check_proxy_config),
    "EnvoyFilter": UnrunKind(
        "networking.istio.io",
        ("v1alpha3",),
        EnvoyFilter,
        envoy_filter.check,
        ("MZ2805", ENVOY_FILTER_NOT_APPLIED),
    ),
}


def unrun_kind(api_version: str, kind: str) -> UnrunKind | None:
    """The entry for an Istio kind Mizzen validates but does not run, if ``api_version``/``kind`` is one."""
    entry = UNRUN.get(kind)
    if entry is None or api_version not in {f"{entry.group}/{v}" for v in entry.versions}:
        return None
    return entry


def check_document(doc: Mapping[str, JSON], origin: Origin) -> list[Violation]:
    """Istio's verdict on one skipped document, located (empty for kinds not in :data:`UNRUN`)."""
    api_version, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
    entry = unrun_kind(api_version, kind)
    if entry is None:
        return []
    res = Resource(api_version, kind, _metadata(doc.get("metadata")), _spec(doc.get("spec")), origin)
    found = [*names.check_metadata(res), *metadata.check(res)]
    found += check(entry.model, doc.get("spec", {}), "spec", empty_message_is_set=True)
    found += entry.rule(res, "spec")
    if entry.not_applied is not None and not any(v.level == "error" for v in found):
        found.append(violation(*entry.not_applied))
    located = [replace(v, file=origin.file, line=origin.line_of(v.path), resource=res.ref()) for v in found]
    return sorted(located, key=lambda v: v.line or 0)


def _metadata(raw: JSON) -> Metadata:
    meta = raw if isinstance(raw, dict) else {}
    labels, annotations = meta.get("labels"), meta.get("annotations")
    return Metadata(
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or DEFAULT_NAMESPACE),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        annotations={str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {},
    )


def _spec(raw: JSON) -> dict[str, JSON]:
    return raw if isinstance(raw, dict) else {}
