"""Istio's analyzers of its admission webhooks, on webhook configurations found in the input:
``webhook.Analyzer`` (IST0139: injection webhooks that overlap or name a missing Service) and
``externalcontrolplane.ExternalControlPlaneAnalyzer`` (IST0163, IST0164: webhook URLs of an external
control plane)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from itertools import product
from typing import Any
from urllib.parse import urlsplit

from . import platform_messages as pm
from .context import Context, spec_list, spec_map
from .kube import KubeObject, selector_matches

REVISION_LABEL = "istio.io/rev"
_NAMESPACE_LABELS: tuple[dict[str, str], ...] = ({}, {"istio-injection": "enabled"}, {"istio-injection": "disabled"})
_OBJECT_LABELS: tuple[dict[str, str], ...] = (
    {},
    {"sidecar.istio.io/inject": "true"},
    {"sidecar.istio.io/inject": "false"},
)


def _hooks(config: KubeObject) -> list[Mapping[str, Any]]:
    return [spec_map(h) for h in spec_list(config.document.get("webhooks"))]


def _revisions(config: KubeObject) -> set[str]:
    revs = {config.labels[REVISION_LABEL]} if REVISION_LABEL in config.labels else set()
    for hook in _hooks(config):
        for key in ("namespaceSelector", "objectSelector"):
            selector = spec_map(hook.get(key))
            if REVISION_LABEL in spec_map(selector.get("matchLabels")):
                revs.add(str(spec_map(selector.get("matchLabels"))[REVISION_LABEL]))
            for expr in spec_list(selector.get("matchExpressions")):
                if spec_map(expr).get("key") == REVISION_LABEL:
                    revs.update(str(v) for v in spec_list(spec_map(expr).get("values")))
    return revs


def analyze_injection_webhooks(ctx: Context) -> None:
    """IST0139 for each webhook some namespace/pod label combination selects along with another, and for
    each webhook whose Service does not exist."""
    hooks: dict[str, tuple[KubeObject, Mapping[str, Any]]] = {}
    revisions: set[str] = set()
    for config in ctx.kube("MutatingWebhookConfiguration"):
        revs = _revisions(config)
        if not revs and not any(str(h.get("name") or "").endswith("istio.io") for h in _hooks(config)):
            continue
        revisions |= revs
        for hook in _hooks(config):
            hooks[f"{config.name}/{hook.get('name') or ''}"] = (config, hook)
    _overlaps(ctx, hooks, revisions)
    for key in sorted(hooks):
        config, hook = hooks[key]
        service = spec_map(spec_map(hook.get("clientConfig")).get("service"))
        if not service:
            continue  # a URL
        ns, name = str(service.get("namespace") or ""), str(service.get("name") or "")
        if not ctx.exists("Service", ns, name):
            text = f"Injector refers to a control plane service that does not exist: {ns}/{name}."
            ctx.report_object(pm.INVALID_WEBHOOK, config, text)


def _overlaps(ctx: Context, hooks: dict[str, tuple[KubeObject, Mapping[str, Any]]], revisions: set[str]) -> None:
    ns_labels = [*_NAMESPACE_LABELS, *({**b, REVISION_LABEL: r} for r in sorted(revisions) for b in _NAMESPACE_LABELS)]
    obj_labels = [*_OBJECT_LABELS, *({**b, REVISION_LABEL: r} for r in sorted(revisions) for b in _OBJECT_LABELS)]
    for nl, ol in product(ns_labels, obj_labels):
        matches = sorted(
            key
            for key, (_, hook) in hooks.items()
            if selector_matches(hook.get("namespaceSelector"), nl) and selector_matches(hook.get("objectSelector"), ol)
        )
        if len(matches) > 1:
            for key in matches:
                others = " ".join(k for k in matches if k != key)
                text = f"Webhook overlaps with others: [{others}]. This may cause injection to occur twice."
                ctx.report_object(pm.INVALID_WEBHOOK, hooks[key][0], text)


def analyze_external_control_plane(ctx: Context) -> None:
    """The webhook addresses of Istio's validating and injection webhooks (by their configurations' names)."""
    for config in ctx.kube("ValidatingWebhookConfiguration"):
        if config.name == "istiod-default-validator" or config.name.startswith("istio-validator"):
            _check_hooks(ctx, config)
    for config in ctx.kube("MutatingWebhookConfiguration"):
        if config.name.startswith("istio-sidecar-injector"):
            _check_hooks(ctx, config)


def _check_hooks(ctx: Context, config: KubeObject) -> None:
    for hook in _hooks(config):
        name, client = str(hook.get("name") or ""), spec_map(hook.get("clientConfig"))
        url = client.get("url")
        if url is not None:
            try:
                host = urlsplit(str(url)).hostname or ""
            except ValueError:
                ctx.report_object(
                    pm.INVALID_EXTERNAL_CONTROL_PLANE, config, url, name, "was provided in an invalid format"
                )
                continue
            if _is_ip(host):
                ctx.report_object(pm.EXTERNAL_CONTROL_PLANE_IP, config, url, name)
        elif not isinstance(client.get("service"), Mapping):
            ctx.report_object(pm.INVALID_EXTERNAL_CONTROL_PLANE, config, "", name, "is blank")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
