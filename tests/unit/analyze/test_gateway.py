"""Gateway analyzers: conflicting servers, selectors without workloads, ports missing on the Service."""

from __future__ import annotations

from mizzen.config.analyze import analyze

from .helpers import codes, resources


def gateway(name: str, hosts: str, port: int = 80, selector: str = "istio: ingressgateway") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: {name}
spec:
  selector:
    {selector}
  servers:
  - port:
      number: {port}
      name: http
      protocol: HTTP
    hosts: {hosts}
---"""


GATEWAY_SERVICE = """
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
  labels:
    istio: ingressgateway
spec:
  selector:
    istio: ingressgateway
  ports:
  - name: status-port
    port: 15021
    targetPort: 15021
  - name: http2
    port: 80
    targetPort: 8080
---"""


def test_overlapping_gateways_conflict() -> None:
    """IST0145 on both Gateways with the same selector and port and overlapping hosts (istio.io's example)."""
    text = gateway("alpha", '["foo.example.com"]') + gateway("beta", '["*.example.com"]')
    msgs = analyze(resources(text))
    assert [m.log_line() for m in msgs] == [
        "Error [IST0145] (Gateway default/alpha test.yaml:10) Conflict with gateways default/beta "
        "(workload selector istio=ingressgateway, port 80, hosts foo.example.com).",
        "Error [IST0145] (Gateway default/beta test.yaml:24) Conflict with gateways default/alpha "
        "(workload selector istio=ingressgateway, port 80, hosts *.example.com).",
    ]


def test_gateways_differing_in_port_host_or_selector_do_not_conflict() -> None:
    """No IST0145 when hosts are disjoint, ports differ or selectors differ."""
    text = (
        gateway("a", '["foo.example.com"]')
        + gateway("b", '["bar.example.com"]')
        + gateway("c", '["foo.example.com"]', port=8080)
        + gateway("d", '["foo.example.com"]', selector="istio: other")
    )
    assert analyze(resources(text)) == []


def test_selector_without_workloads_is_reported_when_workloads_are_known() -> None:
    """IST0101 "selector" only when running workloads were given and none matches."""
    text = gateway("gw", '["*"]')
    assert analyze(resources(text)) == []
    msgs = analyze(resources(text), workloads=[{"app": "reviews"}])
    assert [m.text for m in msgs] == ['Referenced selector not found: "istio=ingressgateway"']
    assert analyze(resources(text), workloads=[{"istio": "ingressgateway", "x": "y"}]) == []


def test_gateway_port_missing_on_gateway_service() -> None:
    """IST0162 for a server port that is neither a port nor a targetPort of the gateway's Service."""
    text = GATEWAY_SERVICE + gateway("gw", '["*"]', port=8004)
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0162"]
    assert msgs[0].text == (
        "The gateway is listening on a target port (port 8004) that is not defined in the Service associated with "
        "its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port "
        "through the gateway Service, it will not be available."
    )


def test_gateway_ports_on_service_or_without_service_are_fine() -> None:
    """No IST0162 for a Service port, a targetPort, or when no Service selects the gateway."""
    text = GATEWAY_SERVICE + gateway("a", '["a.com"]', port=80) + gateway("b", '["b.com"]', port=8080)
    assert analyze(resources(text)) == []
    assert analyze(resources(gateway("gw", '["*"]', port=8004))) == []
