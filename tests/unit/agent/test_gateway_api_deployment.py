"""`mizzen gateway --for`: the name, labels, service account and Service Istio's deployment gives a Gateway."""

from __future__ import annotations

from mizzen.agent.gateway_service import gateway_api_identity, gateway_api_service

GATEWAY = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "bookinfo-gateway", "namespace": "shop"},
    "spec": {
        "gatewayClassName": "istio",
        "infrastructure": {"labels": {"team": "a"}},
        "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {"name": "http.alt", "port": 80, "protocol": "HTTP", "hostname": "a.example.com"},
            {"name": "https", "port": 443, "protocol": "HTTPS"},
            {"name": "direct", "port": 8080, "protocol": "HTTP", "hostname": "b.example.com"},
            {"name": "tcp", "port": 31400, "protocol": "TCP"},
        ],
    },
}


def test_identity_is_name_dash_class_with_istios_labels() -> None:
    """Name and service account <name>-<class>; labels of Istio's kube-gateway template plus infrastructure's."""
    name, labels, account = gateway_api_identity(GATEWAY)
    assert (name, account) == ("bookinfo-gateway-istio", "bookinfo-gateway-istio")
    assert labels == {
        "service.istio.io/canonical-name": "bookinfo-gateway-istio",
        "service.istio.io/canonical-revision": "latest",
        "team": "a",
        "gateway.networking.k8s.io/gateway-name": "bookinfo-gateway",
        "gateway.networking.k8s.io/gateway-class-name": "istio",
        "gateway.istio.io/managed": "istio.io-gateway-controller",
    }


def test_service_has_one_port_per_listener_port_and_unprivileged_targets() -> None:
    """Ports below 1024 listen 8000 higher (80 -> 8081 here, since 8080 is a listener port); others as written."""
    svc = gateway_api_service(GATEWAY)
    assert svc["metadata"]["name"] == "bookinfo-gateway-istio"
    assert svc["metadata"]["namespace"] == "shop"
    assert svc["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": "bookinfo-gateway"}
    ports = [(p["name"], p["port"], p["targetPort"], p["appProtocol"]) for p in svc["spec"]["ports"]]
    assert ports == [
        ("http", 80, 8081, "http"),
        ("https", 443, 8443, "https"),
        ("direct", 8080, 8080, "http"),
        ("tcp", 31400, 31400, "tcp"),
    ]


def test_target_ports_avoid_those_of_other_gateways_on_the_host() -> None:
    """With the demo's ingress gateway on 8080, a port-80 listener of a Gateway API gateway listens on 8081."""
    single = {
        **GATEWAY,
        "spec": {"gatewayClassName": "istio", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
    }
    svc = gateway_api_service(single, in_use={8080})
    assert [(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [(80, 8081)]
