"""Istio's sidecar-injection analyzers on the Kubernetes objects of the input: ``injection.Analyzer``
(IST0102, IST0103, IST0123, IST0148), ``injection.ImageAnalyzer`` (IST0158) and
``injection.ImageAutoAnalyzer`` (IST0146, IST0147).

Mizzen starts every workload with its sidecar and runs no injector; these analyzers read Namespaces,
Pods, Deployments, the injector ConfigMaps and MutatingWebhookConfigurations found in the files, as
istioctl does, so manifests meant for a cluster get istioctl's verdict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from mizzen.config import yamlsafe
from mizzen.config.semantics.selectors import subset_of

from . import messages as m
from . import platform_messages as pm
from .context import Context, spec_list, spec_map
from .kube import PROXY_CONTAINER, KubeObject, containers, selector_matches

INJECTION_LABEL = "istio-injection"
REVISION_LABEL = "istio.io/rev"
DATAPLANE_MODE_LABEL = "istio.io/dataplane-mode"
INJECT = "sidecar.istio.io/inject"
INJECTOR = "istio-sidecar-injector"
SYSTEM_NAMESPACE = "istio-system"
ANNOTATION = "proxy.istio.io/config"


def injector_name(revision: str) -> str:
    """The injector ConfigMap of a revision (``istio-sidecar-injector[-<rev>]``)."""
    return INJECTOR if revision in ("", "default") else f"{INJECTOR}-{revision}"


def _values(cm: KubeObject) -> Mapping[str, Any]:
    """The injector's Helm ``values`` (JSON in the ConfigMap's data), or ``{}``."""
    try:
        doc = json.loads(str(spec_map(cm.document.get("data")).get("values") or ""))
    except ValueError:
        return {}
    return spec_map(doc)


def _enabled_by_default(cm: KubeObject) -> bool:
    return spec_map(_values(cm).get("sidecarInjectorWebhook")).get("enableNamespacesByDefault") is True


def analyze_namespaces(ctx: Context) -> None:
    """Namespace injection labels, and injected namespaces' pods without a proxy."""
    by_default, injected = False, set[str]()
    for ns in ctx.kube("Namespace"):
        if ns.name == SYSTEM_NAMESPACE:
            continue
        labels = ns.labels
        found = _injection_labels(labels)
        if len(found) > 1:
            ctx.report_object(pm.NAMESPACE_MULTIPLE_INJECTION_LABELS, ns, m.go_list(found))
        if labels.get(DATAPLANE_MODE_LABEL) == "ambient":
            continue
        cm = next((c for c in ctx.kube("ConfigMap") if c.name == injector_name(labels.get(REVISION_LABEL, ""))), None)
        if cm is not None:  # as Istio, the last injector read decides for the namespaces after it
            by_default = _enabled_by_default(cm)
        if _labelled_for_injection(ctx, ns, by_default):
            injected.add(ns.name)
    for pod in ctx.kube("Pod"):
        if pod.namespace in injected and _wants_proxy(pod) and not _proxy_image(pod.spec):
            ctx.report_object(pm.POD_MISSING_PROXY, pod, f"{pod.namespace}/{pod.name}")


def _labelled_for_injection(ctx: Context, ns: KubeObject, by_default: bool) -> bool:
    """Whether ``istio-injection=enabled`` is set; a namespace with neither injection label gets IST0102
    (IST0148 when the injector enables every namespace by default)."""
    labels = ns.labels
    if not labels.get(INJECTION_LABEL) and REVISION_LABEL not in labels:
        if by_default:
            ctx.report_object(pm.NAMESPACE_INJECTION_ENABLED_BY_DEFAULT, ns)
        else:
            ctx.report_object(pm.NAMESPACE_NOT_INJECTED, ns, ns.name, ns.name)
        return False
    return labels.get(INJECTION_LABEL) == "enabled"


def _injection_labels(labels: Mapping[str, str]) -> list[str]:
    out = [f"{INJECTION_LABEL}={labels[INJECTION_LABEL]}"] if INJECTION_LABEL in labels else []
    for key in (REVISION_LABEL, DATAPLANE_MODE_LABEL):
        if key in labels and (INJECTION_LABEL not in labels or labels[INJECTION_LABEL] == "enabled"):
            out.append(f"{key}={labels[key]}")
    return out


def _wants_proxy(pod: KubeObject) -> bool:
    inject = pod.labels.get(INJECT, pod.annotations.get(INJECT, ""))
    return inject.lower() != "false" and pod.spec.get("hostNetwork") is not True


def _proxy_image(spec: Mapping[str, Any]) -> str:
    return next((str(c.get("image") or "") for c in containers(spec) if c.get("name") == PROXY_CONTAINER), "")


def injector_image(cm: KubeObject) -> str:
    """The proxy image an injector ConfigMap injects: ``global.proxy.image``, under ``hub`` and ``tag``
    unless it is a full reference already."""
    glob = spec_map(_values(cm).get("global"))
    image = str(spec_map(glob.get("proxy")).get("image") or "")
    return image if "/" in image else f"{glob.get('hub') or ''}/{image}:{glob.get('tag') or ''}"


def analyze_images(ctx: Context) -> None:
    """IST0158 per injected namespace whose pods run another proxy image than their injector's."""
    images = {c.name: injector_image(c) for c in ctx.kube("ConfigMap") if c.name.startswith(INJECTOR)}
    if not images:
        return
    namespaces = {ns.name: ns for ns in ctx.kube("Namespace")}
    revisions = _injected_revisions(namespaces.values())
    mismatched: dict[str, list[str]] = {}
    for pod in ctx.kube("Pod"):
        if pod.namespace not in revisions or pod.annotations.get("sidecar.istio.io/proxyImage"):
            continue
        expected = images.get(injector_name(revisions[pod.namespace]))
        if expected is None:
            continue
        variant = _image_type(ctx, pod)
        for c in containers(pod.spec):
            if c.get("name") == PROXY_CONTAINER and str(c.get("image") or "") not in (
                expected,
                f"{expected}-{variant}",
            ):
                mismatched.setdefault(pod.namespace, []).append(pod.name)
    for name, pods in mismatched.items():
        ctx.report_object(pm.PROXY_IMAGE_MISMATCH_IN_NAMESPACE, namespaces[name], m.go_list(sorted(pods)))


def _injected_revisions(namespaces: Iterable[KubeObject]) -> dict[str, str]:
    """The injector revision of each namespace labelled for injection (``istio.io/rev`` wins over
    ``istio-injection=enabled``, which means the ``default`` revision)."""
    revisions: dict[str, str] = {}
    for ns in namespaces:
        if REVISION_LABEL in ns.labels:
            revisions[ns.name] = ns.labels[REVISION_LABEL]
        elif ns.labels.get(INJECTION_LABEL) == "enabled":
            revisions[ns.name] = "default"
    return revisions


def _image_type(ctx: Context, pod: KubeObject) -> str:
    """The proxy image variant (e.g. ``distroless``) for a pod: mesh config < root ProxyConfig < namespace
    ProxyConfig < matching workload ProxyConfig < the pod's ``proxy.istio.io/config``; ``default`` is none."""
    variant = ctx.mesh.proxy_image_type
    configs = ctx.kube("ProxyConfig")
    layers = [c for c in configs if c.namespace == ctx.mesh.root_namespace]
    layers += [
        c for c in configs if c.namespace == pod.namespace != ctx.mesh.root_namespace and "selector" not in c.spec
    ]
    layers += [
        c
        for c in configs
        if c.namespace != ctx.mesh.root_namespace
        and "selector" in c.spec
        and f"{c.namespace}/{c.name}".startswith(pod.namespace)  # Istio's prefix test, kept as is
        and subset_of(_labels(c), pod.labels)
    ]
    for c in layers:
        variant = str(spec_map(c.spec.get("image")).get("imageType") or "") or variant
    annotated = _annotation_config(pod.annotations.get(ANNOTATION, ""))
    variant = str(spec_map(annotated.get("image")).get("imageType") or "") or variant
    return "" if variant == "default" else variant


def _labels(config: KubeObject) -> dict[str, str]:
    return {str(k): str(v) for k, v in spec_map(spec_map(config.spec.get("selector")).get("matchLabels")).items()}


def _annotation_config(text: str) -> Mapping[str, Any]:
    if not text:
        return {}
    try:
        return spec_map(yamlsafe.load(text, ANNOTATION))
    except (yaml.YAMLError, yamlsafe.YamlLimitError):
        return {}


def analyze_auto_images(ctx: Context) -> None:
    """``image: auto`` on a Pod (IST0147), or on a Deployment no Istio injection webhook selects (IST0146)."""
    hooks = [
        spec_map(h)
        for wc in ctx.kube("MutatingWebhookConfiguration")
        for h in spec_list(wc.document.get("webhooks"))
        if str(spec_map(h).get("name") or "").endswith("istio.io")
    ]
    for pod in ctx.kube("Pod"):
        if _auto_image(pod.spec):
            ctx.report_object(pm.IMAGE_AUTO_WITHOUT_INJECTION_ERROR, pod, "Pod", pod.name)
    namespaces = {ns.name: ns.labels for ns in ctx.kube("Namespace")}
    for d in ctx.kube("Deployment"):
        template = spec_map(d.spec.get("template"))
        if not _auto_image(spec_map(template.get("spec"))):
            continue
        ns_labels = namespaces.get(d.namespace or "default", {})
        pod_labels = {str(k): str(v) for k, v in spec_map(spec_map(template.get("metadata")).get("labels")).items()}
        if not any(
            selector_matches(h.get("namespaceSelector"), ns_labels)
            and selector_matches(h.get("objectSelector"), pod_labels)
            for h in hooks
        ):
            ctx.report_object(pm.IMAGE_AUTO_WITHOUT_INJECTION_WARNING, d, "Deployment", d.name)


def _auto_image(spec: Mapping[str, Any]) -> bool:
    return any(
        spec_map(c).get("name") == PROXY_CONTAINER and spec_map(c).get("image") == "auto"
        for c in spec_list(spec.get("containers"))
    )
