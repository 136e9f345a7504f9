"""IST0118: Service port names that do not follow Istio's protocol naming convention."""

from __future__ import annotations

import pytest

from mizzen.config.analyze import analyze

from .helpers import resources


def service(ports: str, namespace: str = "default", labels: str = "") -> str:
    return f"""
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: {namespace}
{labels}spec:
  ports:
{ports}"""


def test_unconventional_port_name_is_info() -> None:
    """IST0118 (Info) with the port name, port and targetPort, at the port's line."""
    msgs = analyze(resources(service("  - port: 9080\n    name: web\n    targetPort: 8080\n")))
    assert [m.log_line() for m in msgs] == [
        "Info [IST0118] (Service default/svc test.yaml:9) Port name web (port: 9080, targetPort: 8080) doesn't "
        "follow the naming convention of Istio port."
    ]


@pytest.mark.parametrize(
    "port",
    [
        "name: http",
        "name: http-web",
        "name: grpc-web-x",
        "name: tcp-db",
        "name: mongo",
        "name: web\n    appProtocol: HTTP2",
        "name: web\n    appProtocol: http",
        "name: dns\n    protocol: UDP",
        "name: x\n    appProtocol: kubernetes.io/h2c",
    ],
)
def test_conventional_port_names_pass(port: str) -> None:
    """Protocol prefixes (any case), appProtocol and UDP ports need no naming."""
    assert analyze(resources(service(f"  - port: 80\n    {port}\n"))) == []


def test_system_namespaces_and_istio_services_are_skipped() -> None:
    """kube-system Services and Services labelled ``istio`` are not checked."""
    assert analyze(resources(service("  - port: 80\n    name: web\n", namespace="kube-system"))) == []
    labelled = service("  - port: 15021\n    name: status-port\n", labels="  labels:\n    istio: ingressgateway\n")
    assert analyze(resources(labelled)) == []
