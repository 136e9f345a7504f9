"""Gateway API objects through the converter and the real translator, walked as Envoy would match
requests: the Istio-internal semantics (segment prefixes, 500 for missing backends, prefix stripping,
Service-bound gateways, GAMMA producer/consumer scoping)."""

from __future__ import annotations

from typing import Any

from mizzen.node import Proxy
from mizzen.testing.simulation import mesh_from_yaml, simulate
from mizzen.translate import translate
from mizzen.translate.model import ProxyResources

SERVICES = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v2}
spec: {selector: {app: web, version: v2}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: gw-istio}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: gw}
  ports: [{name: http, port: 80, targetPort: 18080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  gatewayClassName: istio
  listeners: [{name: http, port: 80, protocol: HTTP}]
"""
GATEWAY_POD = {"gateway.networking.k8s.io/gateway-name": "gw"}


def router(labels: dict[str, str], namespace: str = "default") -> Proxy:
    return Proxy(id=f"gw.{namespace}", type="router", name="gw", namespace=namespace, labels=labels)


def sidecar(namespace: str = "default") -> Proxy:
    return Proxy(
        id=f"c.{namespace}", type="sidecar", name="c", namespace=namespace, labels={"app": "c"}, http_proxy_port=15001
    )


def at_gateway(extra: str, path: str) -> tuple[ProxyResources, Any]:
    res = translate(router(GATEWAY_POD), mesh_from_yaml(SERVICES, extra))
    return res, simulate(res, listener_port=18080, host="anything", path=path)


ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: r}
spec:
  parentRefs: [{name: gw}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /api/}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /strip}}]
    filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, replacePrefixMatch: /}}}]
    backendRefs: [{name: web, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /ghost}}]
    backendRefs: [{name: ghost, port: 80}]
"""


def test_the_gateway_binds_through_its_service_and_prefixes_match_path_segments() -> None:
    """The router whose labels the gateway Service selects serves the listener on the Service's targetPort;
    PathPrefix /api/ takes /api and /api/x but not /apix (path_separated_prefix)."""
    res, hit = at_gateway(ROUTE, "/api/x")
    assert list(res.listeners) == ["0.0.0.0_18080"]
    assert hit.cluster == "outbound|80||web.default.svc.cluster.local"
    _, exact = at_gateway(ROUTE, "/api")
    assert exact.cluster == "outbound|80||web.default.svc.cluster.local"
    _, miss = at_gateway(ROUTE, "/apix")
    assert miss.cluster == "" and miss.status == 404


def test_a_router_the_gateway_service_does_not_select_gets_no_listener() -> None:
    """Converted Gateways have no selector: other gateways (istio=ingressgateway) do not serve them."""
    res = translate(router({"istio": "ingressgateway"}), mesh_from_yaml(SERVICES, ROUTE))
    assert list(res.listeners) == []


def route_of(res: ProxyResources, name: str) -> dict[str, Any]:
    for rc in res.routes.values():
        for vh in rc["virtual_hosts"]:  # type: ignore[index]
            for r in vh["routes"]:
                if r.get("match", {}).get("path_separated_prefix") == name:
                    return dict(r)
    raise AssertionError(f"no route for {name}")


def test_replace_prefix_match_slash_strips_the_prefix_and_missing_backends_answer_500() -> None:
    """Istio's regex rewrite removes the matched prefix; a route to a missing Service sets a 500 for it."""
    res = translate(router(GATEWAY_POD), mesh_from_yaml(SERVICES, ROUTE))
    strip = route_of(res, "/strip")["route"]
    assert strip["regex_rewrite"] == {"pattern": {"regex": "^/strip(/?)(.*)"}, "substitution": "/\\2"}
    assert "prefix_rewrite" not in strip
    assert route_of(res, "/ghost")["route"]["cluster_not_found_response_code"] == "INTERNAL_SERVER_ERROR"


MESH_ROUTE = """
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: m, namespace: {ns}}}
spec:
  parentRefs: [{{group: "", kind: Service, name: web, namespace: default, port: 80}}]
  rules: [{{backendRefs: [{{name: web-v2, namespace: default, port: 80}}]}}]
"""


def test_mesh_route_applies_to_sidecars_for_the_service_port() -> None:
    """A Service-parented HTTPRoute reroutes sidecar traffic to web:80."""
    res = translate(sidecar(), mesh_from_yaml(SERVICES, MESH_ROUTE.format(ns="default")))
    assert simulate(res, listener_port=15001, host="web:80").cluster == "outbound|80||web-v2.default.svc.cluster.local"


def test_a_consumer_route_applies_only_in_its_own_namespace() -> None:
    """A route in namespace shop for Service default/web changes shop's sidecars only (GAMMA consumer route)."""
    mesh = mesh_from_yaml(SERVICES, MESH_ROUTE.format(ns="shop"))
    shop = simulate(translate(sidecar("shop"), mesh), listener_port=15001, host="web.default:80")
    assert shop.cluster == "outbound|80||web-v2.default.svc.cluster.local"
    other = simulate(translate(sidecar("elsewhere"), mesh), listener_port=15001, host="web.default:80")
    assert other.cluster == "outbound|80||web.default.svc.cluster.local"
