"""The control plane's identity rules: when TLS is on, what the serving certificate names, agent routes."""

from __future__ import annotations

from mizzen.controlplane.auth import agent_problem
from mizzen.controlplane.identity import Transport, is_loopback, serving_names
from mizzen.security import credentials as creds


def test_tls_on_every_non_loopback_address_unless_insecure() -> None:
    """Loopback stays plain unless --tls; any other address (wildcard included) is TLS unless --insecure."""
    assert not Transport().uses_tls("127.0.0.1") and not Transport().uses_tls("::1")
    assert Transport(tls=True).uses_tls("127.0.0.1")
    for address in ("0.0.0.0", "10.1.2.3", "cp.example.com", "::"):
        assert Transport().uses_tls(address) and not Transport(insecure=True).uses_tls(address)
    assert is_loopback("localhost") and is_loopback("127.0.0.2") and not is_loopback("0.0.0.0")


def test_serving_certificate_names() -> None:
    """The certificate names loopback, the bind address and extra SANs (IP or DNS as written)."""
    dns, ips = serving_names("10.200.0.1", ["cp.example.com", "192.0.2.7"])
    assert {"localhost", "cp.example.com"} <= set(dns)
    assert {"127.0.0.1", "::1", "10.200.0.1", "192.0.2.7"} <= set(ips)
    dns, _ = serving_names("cp.internal")
    assert "cp.internal" in dns


def test_agent_routes_are_the_only_ones_a_workload_credential_reaches() -> None:
    """A workload credential reaches its own WorkloadEntry and the agent routes; nothing else."""
    _, cred = creds.mint("workload", "a", "default", "sa", now=0.0)
    we = "/apis/networking.istio.io/v1/namespaces/default/workloadentries/a"
    assert agent_problem(cred, "PUT", we) is None and agent_problem(cred, "DELETE", we) is None
    assert agent_problem(cred, "POST", "/api/mizzen/v1/certificates") is None
    assert "not default/b" in (agent_problem(cred, "PUT", we[:-1] + "b") or "")
    assert "may not POST" in (agent_problem(cred, "POST", we) or "")
    assert "may not GET" in (agent_problem(cred, "GET", "/apis/networking.istio.io/v1/virtualservices") or "")
