"""mizzen gateway's default Service mirrors Istio's ingress gateway Service (80->8080, 443->8443)."""

from mizzen.agent.gateway_service import gateway_service, selects
from mizzen.config import load_text, validate
from mizzen.config.models import parse
from mizzen.registry import build_registry


def test_default_service_maps_80_and_443_like_istio() -> None:
    """The Service selects the gateway's labels and maps 80 -> 8080 and 443 -> 8443."""
    svc = gateway_service("istio-ingressgateway", "istio-system", {"istio": "ingressgateway"})
    assert svc["spec"]["selector"] == {"istio": "ingressgateway"}
    assert {(p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {(80, 8080), (443, 8443)}
    assert selects(svc, {"istio": "ingressgateway", "app": "x"})
    assert not selects(svc, {"istio": "egressgateway"})


def test_default_service_is_valid_config_and_registers() -> None:
    """The generated object passes Mizzen's validation and becomes a registry service."""
    import yaml

    text = yaml.safe_dump(gateway_service("istio-ingressgateway", "istio-system", {"istio": "ingressgateway"}))
    loaded = load_text(text)
    assert loaded.report.ok and validate(loaded.resources).ok
    (svc,) = build_registry(parse(r) for r in loaded.resources).services
    assert svc.hostname == "istio-ingressgateway.istio-system.svc.cluster.local"
    assert svc.port(80) is not None and svc.port(80).target_port == 8080  # type: ignore[union-attr]


def test_a_second_gateway_service_takes_the_next_free_target_ports() -> None:
    """An egress gateway beside an ingress gateway on one host keeps ports 80/443 but moves its
    targetPorts past the ones the other gateway's Service uses (they would collide on the host)."""
    svc = gateway_service("istio-egressgateway", "istio-system", {"istio": "egressgateway"}, in_use={8080, 8443})
    assert {(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]} == {
        ("http2", 80, 8081),
        ("https", 443, 8444),
    }
    assert svc["spec"]["selector"] == {"istio": "egressgateway"}


def test_a_gateway_service_made_by_the_demo_counts_as_taken() -> None:
    """The demo's own ingress Service (annotated "mizzen demo") holds its targetPorts: a later egress
    gateway moves past them, while a Service the user wrote does not count."""
    from mizzen.agent.gateway_service import _gateway_target_ports
    from mizzen.samples.bookinfo.demo_plan import DemoPorts
    from mizzen.samples.bookinfo.demo_plan import gateway_service as demo_service

    user = {"metadata": {"name": "mine"}, "spec": {"ports": [{"port": 80, "targetPort": 9999}]}}
    taken = _gateway_target_ports([demo_service(DemoPorts()), user], "istio-egressgateway")
    assert taken == {8080, 8443}
