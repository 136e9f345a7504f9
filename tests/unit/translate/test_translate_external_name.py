"""A Kubernetes ExternalName Service becomes a DNS cluster to its external name, as in Istio."""

from __future__ import annotations

from mizzen.node import Proxy
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate

CONFIG = """\
kind: Service
apiVersion: v1
metadata: {name: my-httpbin}
spec:
  type: ExternalName
  externalName: httpbin.org
  ports:
  - {name: http, protocol: TCP, port: 80}
"""


def test_external_name_service_is_a_strict_dns_cluster_to_the_external_name() -> None:
    """The cluster resolves httpbin.org:80 by DNS (no EDS: EDS cannot carry a host name)."""
    proxy = Proxy(id="sleep.default", type="sidecar", name="sleep", namespace="default", http_proxy_port=15080)
    out = translate(proxy, mesh_from_yaml(CONFIG))
    cluster = out.clusters["outbound|80||my-httpbin.default.svc.cluster.local"]
    assert "eds_cluster_config" not in cluster and "cluster_type" in cluster
    (locality,) = cluster["load_assignment"]["endpoints"]  # type: ignore[index]
    (lb,) = locality["lb_endpoints"]
    assert lb["endpoint"]["address"]["socket_address"] == {"address": "httpbin.org", "port_value": 80}
    assert "outbound|80||my-httpbin.default.svc.cluster.local" not in out.endpoints
