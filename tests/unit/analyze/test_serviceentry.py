"""ServiceEntry analyzers: TCP ports without addresses and conflicting protocols."""

from __future__ import annotations

from mizzen.config.analyze import analyze

from .helpers import codes, resources


def entry(name: str, ports: str, extra: str = "", hosts: str = "[api.example.com]") -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: {name}
spec:
  hosts: {hosts}
  resolution: DNS
{extra}  ports:
{ports}---"""


def test_tcp_or_unset_protocol_without_addresses() -> None:
    """IST0134 for each port with protocol TCP or unset when ``addresses`` is missing."""
    text = entry(
        "se",
        "  - number: 443\n    name: https\n  - number: 3306\n    name: tcp\n    protocol: TCP\n"
        "  - number: 80\n    name: http\n    protocol: HTTP\n",
    )
    msgs = analyze(resources(text))
    assert [m.log_line() for m in msgs] == [
        "Warning [IST0134] (ServiceEntry default/se test.yaml:10) ServiceEntry addresses are required for this "
        "protocol.",
        "Warning [IST0134] (ServiceEntry default/se test.yaml:12) ServiceEntry addresses are required for this "
        "protocol.",
    ]


def test_addresses_or_http_ports_need_nothing() -> None:
    """No IST0134 with addresses, or when every port declares an L7 protocol."""
    tcp = "  - number: 3306\n    name: tcp\n    protocol: TCP\n"
    assert analyze(resources(entry("a", tcp, extra="  addresses: [10.1.2.3]\n"))) == []
    assert analyze(resources(entry("b", "  - number: 443\n    name: tls\n    protocol: TLS\n"))) == []


def test_conflicting_protocols_for_one_host_and_port() -> None:
    """IST0177 on each ServiceEntry giving api.example.com:443 a different protocol (istio.io's example)."""
    text = entry("api-http", "  - number: 443\n    name: http\n    protocol: HTTP\n") + entry(
        "api-tls", "  - number: 443\n    name: tls\n    protocol: TLS\n"
    )
    msgs = analyze(resources(text))
    assert codes(msgs) == ["IST0177", "IST0177"]
    assert msgs[0].log_line() == (
        "Warning [IST0177] (ServiceEntry default/api-http test.yaml:5) Multiple ServiceEntries (default/api-http, "
        'default/api-tls) define the same host "api.example.com" and port 443 with conflicting protocols (HTTP, TLS).'
    )


def test_same_protocol_or_separate_scopes_do_not_conflict() -> None:
    """No IST0177 for equal protocols or for namespace-private entries in different namespaces."""
    same = entry("a", "  - number: 443\n    name: tls\n    protocol: TLS\n") + entry(
        "b", "  - number: 443\n    name: tls-2\n    protocol: tls\n"
    )
    assert "IST0177" not in codes(analyze(resources(same)))
    private = entry("a", "  - number: 443\n    name: http\n    protocol: HTTP\n", extra="  exportTo: ['.']\n") + entry(
        "b", "  - number: 443\n    name: tls\n    protocol: TLS\n", extra="  exportTo: ['.']\n"
    ).replace("name: b\n", "name: b\n  namespace: other\n")
    assert "IST0177" not in codes(analyze(resources(private)))
