"""Istio's rules for Telemetry (its ``ValidateTelemetry`` and the CRD's constraints).

A document Istio would reject is rejected here too, so the same files give the same verdict; what the
resources mean for a proxy is :mod:`mizzen.config.semantics.telemetry`.
"""

from __future__ import annotations

from mizzen.config.codes import violation
from mizzen.config.models.telemetry import AccessLogging, Metrics, MetricsOverride, ProviderRef, Telemetry, Tracing
from mizzen.config.resource import Resource
from mizzen.config.rules import cel, common, policy_target
from mizzen.config.rules.common import Found
from mizzen.config.schema import build


def check(res: Resource, root: str) -> Found:
    """Every Telemetry violation (unlocated)."""
    spec: Telemetry = build(Telemetry, res.spec)
    out: Found = []
    policy_target.check(spec.selector, spec.target_ref, spec.target_refs, root, out)
    for i, metrics in enumerate(spec.metrics):
        _metrics(metrics, f"{root}.metrics[{i}]", out)
    if len(spec.tracing) > 1:
        common.warn("multiple tracing is not currently supported", f"{root}.tracing", out)
    for i, tracing in enumerate(spec.tracing):
        _tracing(tracing, f"{root}.tracing[{i}]", out)
    for i, logging in enumerate(spec.access_logging):
        _logging(logging, f"{root}.accessLogging[{i}]", out)
    return out


def _providers(providers: tuple[ProviderRef, ...], path: str, out: Found) -> None:
    for i, p in enumerate(providers):
        if not p.name:
            out.append(violation("MZ3001", "providers.name may not be empty", f"{path}.providers[{i}].name"))
            return  # Istio reports the first only


def _tracing(tracing: Tracing, path: str, out: Found) -> None:
    if len(tracing.providers) > 1:
        common.warn("multiple providers is not currently supported", f"{path}.providers", out)
    _providers(tracing.providers, path, out)
    percent = tracing.random_sampling_percentage
    if percent is not None and not 0 <= percent <= 100:
        message = "randomSamplingPercentage must be in range [0.0, 100.0]"
        out.append(violation("MZ3001", message, f"{path}.randomSamplingPercentage"))
    for name, tag in tracing.custom_tags.items():
        at = f"{path}.customTags.{name}"
        if not name:
            out.append(violation("MZ3001", "tag name may not be empty", at))
        if tag.literal is not None and not tag.literal.value:
            out.append(violation("MZ3001", "literal tag value may not be empty", f"{at}.literal.value"))
        if tag.header is not None and not tag.header.name:
            out.append(violation("MZ3001", "header tag name may not be empty", f"{at}.header.name"))
        if tag.environment is not None and not tag.environment.name:
            out.append(violation("MZ3001", "environment tag name may not be empty", f"{at}.environment.name"))
        if tag.formatter is not None and not tag.formatter.value:
            out.append(violation("MZ3001", "formatter tag value may not be empty", f"{at}.formatter.value"))


def _metrics(metrics: Metrics, path: str, out: Found) -> None:
    _providers(metrics.providers, path, out)
    for i, override in enumerate(metrics.overrides):
        _override(override, f"{path}.overrides[{i}]", out)


def _override(override: MetricsOverride, path: str, out: Found) -> None:
    for name, tag in override.tag_overrides.items():
        at = f"{path}.tagOverrides.{name}"
        if not name:
            common.warn("tagOverrides.name may not be empty", at, out)
        # Unset is UPSERT (the enum's zero value).
        if tag.operation in (None, "UPSERT") and not tag.value:
            out.append(violation("MZ3001", "tagOverrides.value must be set when operation is UPSERT", at))
        if tag.operation == "REMOVE" and tag.value is not None:
            out.append(violation("MZ3001", "tagOverrides.value may only be set when operation is UPSERT", at))
    if override.match is not None and override.match.custom_metric == "":
        out.append(violation("MZ3001", "customMetric may not be empty", f"{path}.match.customMetric"))


def _logging(logging: AccessLogging, path: str, out: Found) -> None:
    if logging.filter is not None:
        problem = cel.parse_error(logging.filter.expression)
        if problem is not None:
            message = f"must be a valid CEL expression, {problem}"
            out.append(violation("MZ3001", message, f"{path}.filter.expression"))
    _providers(logging.providers, path, out)
