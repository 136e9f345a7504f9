"""Gateway analyzers: conflicting servers, selectors without workloads, ports missing on the Service."""

from __future__ import annotations

from mizzen.config.analyze import Workload, analyze

from .helpers import codes, kube_objects, resources


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
    protocol: TCP
  - name: http2
    port: 80
    targetPort: 8080
    protocol: TCP
---"""

GATEWAY_POD = """
apiVersion: v1
kind: Pod
metadata:
  name: ingress-1
  labels:
    istio: ingressgateway
spec:
  containers: [{name: istio-proxy, image: proxyv2}]
"""


def test_overlapping_gateways_conflict() -> None:
    """IST0145 on both Gateways with the same selector and port and a host in common (compared as strings)."""
    text = gateway("alpha", '["foo.example.com"]') + gateway("beta", '["bar.example.com", "foo.example.com"]')
    msgs = analyze(resources(text), files_only=True)
    assert [m.log_line() for m in msgs] == [
        "Error [IST0145] (Gateway default/alpha test.yaml:2) Conflict with gateways default/beta "
        "(workload selector istio=ingressgateway, port 80, hosts foo.example.com).",
        "Error [IST0145] (Gateway default/beta test.yaml:16) Conflict with gateways default/alpha "
        "(workload selector istio=ingressgateway, port 80, hosts bar.example.com,foo.example.com).",
    ]


def test_gateways_differing_in_port_host_or_selector_do_not_conflict() -> None:
    """No IST0145 when hosts differ (a wildcard covering the other's host included), ports or selectors differ."""
    text = (
        gateway("a", '["foo.example.com"]')
        + gateway("b", '["bar.example.com"]')
        + gateway("c", '["foo.example.com"]', port=443)
        + gateway("d", '["foo.example.com"]', selector="istio: other")
        + gateway("e", '["*.example.com"]')
    )
    pod = GATEWAY_POD.replace("istio: ingressgateway", "istio: other")
    only = ["gateway.ConflictingGatewayAnalyzer"]
    assert analyze(resources(text), skipped=kube_objects(pod), files_only=True, analyzers=only) == []


def test_selector_without_workloads_is_reported() -> None:
    """IST0101 "selector" when no pod matches; files only, istioctl's default ingress gateway pod matches."""
    text = gateway("gw", '["*"]')
    assert analyze(resources(text), files_only=True) == []
    msgs = analyze(resources(text), workloads=[Workload("reviews", "default", {"app": "reviews"})])
    assert [m.text for m in msgs] == ['Referenced selector not found: "istio=ingressgateway"']
    assert codes(analyze(resources(text))) == ["IST0101"]
    live = [Workload("gw", "istio-system", {"istio": "ingressgateway", "x": "y"})]
    assert codes(analyze(resources(text), workloads=live)) == ["IST0162"]  # found; no Service exposes port 80


def test_gateway_port_missing_on_gateway_service() -> None:
    """IST0162 for a server port that is neither a port nor a targetPort of the gateway's Service's TCP ports."""
    text = GATEWAY_SERVICE + gateway("gw", '["*"]', port=8004)
    msgs = analyze(resources(text), skipped=kube_objects(GATEWAY_POD))
    assert codes(msgs) == ["IST0162"]
    assert msgs[0].text == (
        "The gateway is listening on a target port (port 8004) that is not defined in the Service associated with "
        "its workload instances (Pod selector istio=ingressgateway). If you need to access the gateway port "
        "through the gateway Service, it will not be available."
    )


def test_gateway_ports_on_service_or_without_service_are_fine() -> None:
    """No IST0162 for a Service's port or targetPort; every port is missing when no Service selects the pods."""
    text = GATEWAY_SERVICE + gateway("a", '["a.com"]', port=80) + gateway("b", '["b.com"]', port=8080)
    assert analyze(resources(text), skipped=kube_objects(GATEWAY_POD)) == []
    alone = analyze(resources(gateway("gw", '["*"]', port=80)), skipped=kube_objects(GATEWAY_POD))
    assert codes(alone) == ["IST0162"]
