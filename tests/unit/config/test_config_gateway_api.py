"""The Gateway API kinds in the kind table, the loader and the store, and the CRDs' validation rules."""

from __future__ import annotations

import pytest

from mizzen.config import load_text, validate
from mizzen.config.kinds import by_group_kind, resolve
from mizzen.store.base import resource_from_json, resource_to_json


def codes(text: str) -> list[tuple[str, str]]:
    """(code, path) of every problem the loader and validation report."""
    loaded = load_text(text)
    found = [*loaded.report.violations, *validate(loaded.resources).violations]
    return [(v.code, v.path) for v in found]


def messages(text: str) -> list[str]:
    loaded = load_text(text)
    return [v.message for v in [*loaded.report.violations, *validate(loaded.resources).violations]]


def test_gateway_api_gateway_is_its_own_kind_beside_istios_gateway() -> None:
    """Both Gateways called bookinfo-gateway load as different objects; the Gateway API one is KubernetesGateway."""
    text = """
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec: {servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: bookinfo-gateway}
spec: {gatewayClassName: istio, listeners: [{name: http, port: 80, protocol: HTTP}]}
"""
    loaded = load_text(text)
    assert loaded.report.ok
    assert [r.key for r in loaded.resources] == [
        ("Gateway", "default", "bookinfo-gateway"),
        ("KubernetesGateway", "default", "bookinfo-gateway"),
    ]
    doc = loaded.resources[1].to_json()
    assert (doc["apiVersion"], doc["kind"]) == ("gateway.networking.k8s.io/v1", "Gateway")
    assert resource_from_json(resource_to_json(loaded.resources[1])).kind == "KubernetesGateway"


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("gateway", "Gateway"),
        ("gw", "Gateway"),
        ("gtw", "KubernetesGateway"),
        ("gateways.gateway.networking.k8s.io", "KubernetesGateway"),
        ("gateway.gateway.networking.k8s.io", "KubernetesGateway"),
        ("httproute", "HTTPRoute"),
        ("httproutes", "HTTPRoute"),
        ("gc", "GatewayClass"),
        ("refgrant", "ReferenceGrant"),
        ("tlsroutes", "TLSRoute"),
    ],
)
def test_names_users_type_resolve_as_kubectl_does(typed: str, kind: str) -> None:
    """`mizzen get gateway` is Istio's (as before); gtw and the qualified names reach the Gateway API's."""
    assert resolve(typed).kind == kind


def test_versions_follow_the_crds() -> None:
    """v1 and v1beta1 HTTPRoute, v1alpha2 TCPRoute as Istio's samples write it, but no v1alpha2 HTTPRoute."""
    assert by_group_kind("gateway.networking.k8s.io", "TCPRoute") is not None
    text = """
apiVersion: gateway.networking.k8s.io/v1alpha2
kind: HTTPRoute
metadata: {name: r}
spec: {}
"""
    assert codes(text) == [("MZ0005", "apiVersion")]


def test_gateway_class_is_cluster_scoped() -> None:
    """A GatewayClass has no namespace (one written is dropped, as Kubernetes does)."""
    loaded = load_text(
        "apiVersion: gateway.networking.k8s.io/v1\nkind: GatewayClass\n"
        "metadata: {name: istio, namespace: x}\nspec: {controllerName: istio.io/gateway-controller}\n"
    )
    assert loaded.report.ok
    assert loaded.resources[0].key == ("GatewayClass", "", "istio")
    assert "namespace" not in loaded.resources[0].to_json()["metadata"]


def test_gateway_api_kinds_mizzen_does_not_run_are_never_skipped_silently() -> None:
    """ListenerSet, BackendTLSPolicy, ...: skipped with a warning on their line (MZ3102); a Deployment stays quiet."""
    text = """apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: p}
spec: {}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
"""
    loaded = load_text(text)
    assert [(s.kind, s.line) for s in loaded.skipped] == [("BackendTLSPolicy", 1), ("Deployment", 6)]
    assert [(v.code, v.level, v.line) for v in loaded.report.violations] == [("MZ3102", "warning", 1)]
    assert loaded.report.violations[0].resource == "BackendTLSPolicy default/p"  # so analyze reports it too


ROUTE = """apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: r}}
spec:
  parentRefs: [{{name: gw}}]
  rules:
{rules}"""


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ("  - matches: [{path: {type: PathPrefix, value: api}}]", "value must be an absolute path and start with '/'"),
        ("  - matches: [{path: {type: Exact, value: /a//b}}]", "must not contain '//'"),
        ("  - backendRefs: [{name: svc}]", "Must have port for Service reference"),
        ("  - backendRefs: [{name: svc, port: 80, weight: 2000000}]", "must be between 0 and 1000000"),
        ("  - filters: [{type: RequestHeaderModifier}]", "filter.requestHeaderModifier must be specified"),
        (
            "  - filters: [{type: URLRewrite, urlRewrite: {}, requestRedirect: {}}]",
            "filter.requestRedirect must be nil if the filter.type is not RequestRedirect",
        ),
        (
            "  - filters: [{type: RequestRedirect, requestRedirect: {}}]\n    backendRefs: [{name: svc, port: 80}]",
            "RequestRedirect filter must not be used together with backendRefs",
        ),
        (
            "  - matches: [{path: {type: Exact, value: /a}}]\n    filters: [{type: URLRewrite, urlRewrite: "
            "{path: {type: ReplacePrefixMatch, replacePrefixMatch: /b}}}]",
            "exactly one PathPrefix match must be specified",
        ),
        ("  - timeouts: {request: 10 seconds}", "must be a Gateway API duration"),
        ("  - {name: x}\n  - {name: x}", "Rule name must be unique within the route"),
    ],
)
def test_http_route_crd_rules(rules: str, message: str) -> None:
    """What the HTTPRoute CRD (OpenAPI limits and CEL) rejects is an error, MZ3101, with the CRD's wording."""
    found = load_text(ROUTE.format(rules=rules))
    violations = validate(found.resources).violations
    assert any(v.code == "MZ3101" and v.level == "error" and message in v.message for v in violations), violations


@pytest.mark.parametrize(
    ("listeners", "message"),
    [
        ("[{name: a, port: 80, protocol: HTTP}, {name: a, port: 81, protocol: HTTP}]", "Listener name must be unique"),
        ("[{name: a, port: 80, protocol: TCP, hostname: x.com}]", "hostname must not be specified for protocols"),
        ("[{name: a, port: 80, protocol: HTTP, tls: {certificateRefs: [{name: c}]}}]", "tls must not be specified"),
        ("[{name: a, port: 443, protocol: TLS}]", "tls mode must be set for protocol TLS"),
        (
            "[{name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}]",
            "tls mode must be Terminate for protocol HTTPS",
        ),
        ("[]", "a Gateway needs at least one listener"),
    ],
)
def test_gateway_crd_rules(listeners: str, message: str) -> None:
    """Gateway CRD rules: unique names, hostname and TLS per protocol, at least one listener."""
    head = "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: g}\n"
    text = head + f"spec: {{gatewayClassName: istio, listeners: {listeners}}}\n"
    assert any(message in m for m in messages(text)), messages(text)


def test_tls_route_v1_needs_hostnames_but_v1alpha2_does_not() -> None:
    """TLSRoute v1 requires hostnames (CEL), v1alpha2 does not."""
    body = "metadata: {name: t}\nspec: {parentRefs: [{name: g}], rules: [{backendRefs: [{name: s, port: 443}]}]}\n"
    v1 = "apiVersion: gateway.networking.k8s.io/v1\nkind: TLSRoute\n" + body
    alpha = "apiVersion: gateway.networking.k8s.io/v1alpha2\nkind: TLSRoute\n" + body
    assert ("MZ3101", "spec.hostnames") in codes(v1)
    assert codes(alpha) == []


def test_gateway_fields_mizzen_cannot_honour_are_warned_about() -> None:
    """parametersRef, tls.frontend and label-based namespace selectors: MZ3103 warnings at the field."""
    text = """apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: g}
spec:
  gatewayClassName: istio
  infrastructure: {parametersRef: {group: "", kind: ConfigMap, name: c}}
  listeners:
  - name: a
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {team: a}}}}
"""
    found = codes(text)
    assert ("MZ3103", "spec.infrastructure.parametersRef") in found
    assert ("MZ3103", "spec.listeners[0].allowedRoutes.namespaces.selector") in found
