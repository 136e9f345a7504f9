"""Port rules: the workload port behind a service port, a destination's port, a gateway's bind port."""

from __future__ import annotations

import pytest

from mizzen.config.semantics.ports import destination_port, endpoint_port, gateway_listen_port, selects_gateway


@pytest.mark.parametrize(
    ("workload_ports", "port_name", "target_port", "target_name", "expected"),
    [
        ({"http": 20001}, "http", 8080, "", 20001),
        ({}, "http", 8080, "", 8080),
        ({}, "http", None, "", 9080),
        ({}, "", None, "", 9080),
        ({"web": 31000}, "http", None, "web", 31000),
        ({"other": 31000}, "http", None, "web", None),
        ({"http": 20001, "web": 31000}, "http", None, "web", 20001),
    ],
)
def test_endpoint_port(
    workload_ports: dict[str, int], port_name: str, target_port: int | None, target_name: str, expected: int | None
) -> None:
    """Service port 9080: the workload's port of that name, else a named targetPort (or nothing), else the
    numeric targetPort, else 9080."""
    assert endpoint_port(workload_ports, port_name, 9080, target_port, target_name) == expected


@pytest.mark.parametrize(
    ("explicit", "service_ports", "expected"),
    [(9090, (9080,), 9090), (None, (9080,), 9080), (None, (9080, 9090), 80), (None, None, 80), (0, (7070,), 7070)],
)
def test_destination_port(explicit: int | None, service_ports: tuple[int, ...] | None, expected: int) -> None:
    """An explicit port wins; else a single-port service's port; else the port being built (80 here)."""
    assert destination_port(explicit, service_ports, 80) == expected


GW = {"istio": "ingressgateway"}


@pytest.mark.parametrize(
    ("namespace", "selector", "labels", "expected"),
    [
        ("istio-system", GW, {}, True),
        ("default", GW, {}, False),
        ("istio-system", {"istio": "egressgateway"}, {}, False),
        ("istio-system", {}, {}, False),
        ("istio-system", None, {}, False),
        ("istio-system", GW, {"experimental.istio.io/disable-gateway-port-translation": "true"}, False),
    ],
)
def test_selects_gateway(
    namespace: str, selector: dict[str, str] | None, labels: dict[str, str], expected: bool
) -> None:
    """A gateway's own Service: same namespace, a selector picking the gateway, translation not disabled."""
    assert selects_gateway(namespace, selector, labels, "istio-system", GW) is expected


@pytest.mark.parametrize(
    ("server_port", "expected"), [(80, 8080), (443, 8443), (8080, 8080), (15021, 15021), (9000, 9000)]
)
def test_gateway_listen_port(server_port: int, expected: int) -> None:
    """A server port that is a port of the gateway's Service binds its targetPort; others bind as written."""
    service_ports = [(80, 8080), (443, 8443), (15021, None), (9000, 0)]
    assert gateway_listen_port(server_port, service_ports) == expected
