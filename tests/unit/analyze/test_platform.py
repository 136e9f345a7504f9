"""Analyzers of the platform around the mesh (injection, webhooks, EnvoyFilter, Telemetry, conditions,
CRDs, istiod): istioctl's texts, and cluster-scoped objects kept by the namespace filter."""

from __future__ import annotations

from mizzen.config.analyze import CATALOGUE, analyze, load_mesh_config

from .helpers import kube_objects, lines, resources


def _run(text: str, analyzer: str, mesh: str = "") -> list[str]:
    return lines(
        analyze(
            resources(text),
            skipped=kube_objects(text),
            files_only=True,
            analyzers=[analyzer],
            namespace="default",
            mesh_config=load_mesh_config(mesh) if mesh else None,
        )
    )


NAMESPACES = """apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Namespace
metadata: {name: both, labels: {istio-injection: enabled, istio.io/rev: canary}}
---
apiVersion: v1
kind: Namespace
metadata: {name: web, labels: {istio-injection: enabled}}
---
apiVersion: v1
kind: Pod
metadata: {name: bare, namespace: web}
spec: {containers: [{name: app, image: app}]}
"""


def test_injection_messages_in_istioctl_words_and_namespaces_are_never_filtered_out() -> None:
    """Namespaces (cluster-scoped) are reported whatever ``-n``; the pod of another namespace is not."""
    assert _run(NAMESPACES, "injection.Analyzer") == [
        "Warning [IST0123] (Namespace both test.yaml:5) The namespace has more than one type of injection labels "
        "[istio-injection=enabled istio.io/rev=canary], which may lead to undefined behavior. Make sure only one "
        "injection label exists.",
        "Info [IST0102] (Namespace shop test.yaml:1) The namespace is not enabled for Istio injection. Run "
        "'kubectl label namespace shop istio-injection=enabled' to enable it, or 'kubectl label namespace shop "
        "istio-injection=disabled' to explicitly mark it as not needing injection.",
    ]
    everywhere = analyze(resources(NAMESPACES), skipped=kube_objects(NAMESPACES), all_namespaces=True)
    assert "The pod web/bare is missing the Istio proxy." in " ".join(m.text for m in everywhere)


WEBHOOKS = """apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata: {name: istio-sidecar-injector}
webhooks:
- name: a.sidecar-injector.istio.io
  objectSelector: {matchExpressions: [{key: sidecar.istio.io/inject, operator: NotIn, values: ["false"]}]}
  clientConfig: {service: {name: istiod, namespace: istio-system}}
- name: b.sidecar-injector.istio.io
  namespaceSelector: {matchLabels: {istio-injection: enabled}}
  clientConfig: {url: "https://istiod.example.com:15017/inject"}
"""


def test_webhook_overlap_and_missing_service_texts() -> None:
    """Overlapping injection webhooks name each other; a Service-backed webhook needs its Service."""
    assert _run(WEBHOOKS, "webhook.Analyzer") == [
        "Error [IST0139] (MutatingWebhookConfiguration istio-sidecar-injector test.yaml:1) Injector refers to a "
        "control plane service that does not exist: istio-system/istiod.",
        "Error [IST0139] (MutatingWebhookConfiguration istio-sidecar-injector test.yaml:1) Webhook overlaps with "
        "others: [istio-sidecar-injector/a.sidecar-injector.istio.io]. This may cause injection to occur twice.",
        "Error [IST0139] (MutatingWebhookConfiguration istio-sidecar-injector test.yaml:1) Webhook overlaps with "
        "others: [istio-sidecar-injector/b.sidecar-injector.istio.io]. This may cause injection to occur twice.",
    ]


TELEMETRY = """apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: {name: logs}
spec: {accessLogging: [{}]}
"""


def test_telemetry_provider_text_quotes_the_namespace() -> None:
    """IST0157 names the Telemetry and quotes its namespace, as Go's %q does."""
    assert _run(TELEMETRY, "telemetry.ProviderAnalyzer") == [
        'Warning [IST0157] (Telemetry default/logs test.yaml:1) The Telemetry logs in namespace "default" with '
        "empty providers will be ignored."
    ]
    assert _run(TELEMETRY, "telemetry.ProviderAnalyzer", mesh="defaultProviders: {accessLogging: [envoy]}") == []


ISTIOD = """apiVersion: apps/v1
kind: Deployment
metadata: {name: istiod, namespace: default, labels: {app: istiod}}
spec: {template: {spec: {containers: [{name: discovery, image: pilot}]}}}
"""


def test_blocked_cidrs_lists_at_most_five_request_authentications() -> None:
    """IST0175 counts every RequestAuthentication and lists five, then says how many more."""
    ras = "".join(
        f"---\napiVersion: security.istio.io/v1\nkind: RequestAuthentication\nmetadata: {{name: ra{i}}}\n"
        f"spec: {{jwtRules: [{{issuer: i, jwksUri: 'https://i.example.com/k'}}]}}\n"
        for i in range(7)
    )
    [line] = _run(ISTIOD + ras, "authn.BlockedCIDRsAnalyzer")
    assert line.endswith(
        "BLOCKED_CIDRS_IN_JWKS_URIS is not configured but 7 RequestAuthentication resource(s) exist (default/ra0, "
        "default/ra1, default/ra2, default/ra3, default/ra4, and 2 more). Consider configuring it to restrict JWKS "
        "URI fetches to trusted networks."
    )


def test_crd_version_text() -> None:
    """IST0176 quotes the CRD, the installed version (as semver prints it) and the minimum."""
    crd = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: tcproutes.gateway.networking.k8s.io
  annotations: {gateway.networking.k8s.io/bundle-version: v1.5.0-rc.2}
"""
    assert _run(crd, "k8sgateway.CRDVersionAnalyzer") == [
        "Warning [IST0176] (CustomResourceDefinition tcproutes.gateway.networking.k8s.io test.yaml:1) Gateway API "
        'CRD "tcproutes.gateway.networking.k8s.io" is at version "1.5.0-rc.2" but Istio requires at least "1.6.0"; '
        "resources of this kind will not be processed. Upgrade the Gateway API CRDs to satisfy the minimum version."
    ]


def test_every_platform_code_is_catalogued_with_istios_level() -> None:
    """The platform codes are in the catalogue with the levels Istio gives them."""
    levels = {code: CATALOGUE[code].level for code in ("IST0102", "IST0139", "IST0151", "IST0160", "IST0164")}
    assert levels == {
        "IST0102": "Info",
        "IST0139": "Error",
        "IST0151": "Warning",
        "IST0160": "Error",
        "IST0164": "Info",
    }
