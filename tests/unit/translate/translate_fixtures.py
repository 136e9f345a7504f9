"""Shared fixtures for translator tests: Bookinfo services with workloads, and proxies."""

from __future__ import annotations

from pathlib import Path

from mizzen.node import InboundPort, Proxy
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate.model import MeshConfig, MeshSnapshot

SAMPLES = Path(__file__).resolve().parents[3] / "src" / "mizzen" / "samples" / "bookinfo"
NETWORKING = SAMPLES / "networking"
PROXY_PORT = 15080

_WORKLOADS = [
    ("productpage-v1", "productpage", "v1", 20001),
    ("details-v1", "details", "v1", 20002),
    ("ratings-v1", "ratings", "v1", 20003),
    ("reviews-v1", "reviews", "v1", 20004),
    ("reviews-v2", "reviews", "v2", 20005),
    ("reviews-v3", "reviews", "v3", 20006),
]


def workload_entries() -> str:
    """WorkloadEntries for the six Bookinfo workloads (sidecar inbound ports 20001..20006)."""
    docs = []
    for name, app, version, port in _WORKLOADS:
        docs.append(f"""apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {name}, namespace: default}}
spec:
  address: 127.0.0.1
  ports: {{http: {port}}}
  labels: {{app: {app}, version: {version}}}
  serviceAccount: bookinfo-{app}
""")
    return "---\n".join(docs)


def bookinfo(*extra: str, mesh: MeshConfig | None = None) -> MeshSnapshot:
    """Bookinfo platform + workloads + the given networking YAML texts (file names or YAML)."""
    texts = [(SAMPLES / "platform" / "bookinfo.yaml").read_text(), workload_entries()]
    for e in extra:
        texts.append((NETWORKING / e).read_text() if e.endswith(".yaml") and "\n" not in e else e)
    return mesh_from_yaml(*texts, mesh=mesh)


def sidecar(
    name: str = "productpage-v1",
    app: str = "productpage",
    version: str = "v1",
    namespace: str = "default",
    **labels: str,
) -> Proxy:
    """A sidecar proxy with an HTTP-proxy port and one inbound HTTP port 9080."""
    return Proxy(
        id=f"{name}.{namespace}",
        type="sidecar",
        name=name,
        namespace=namespace,
        labels={"app": app, "version": version, **labels},
        http_proxy_port=PROXY_PORT,
        inbound=(InboundPort(9080, "http", "HTTP", 20001, 30001),),
    )


def gateway_proxy() -> Proxy:
    """The ingress gateway (router) proxy with Istio's default labels."""
    return Proxy(
        id="istio-ingressgateway.istio-system",
        type="router",
        name="istio-ingressgateway",
        namespace="istio-system",
        labels={"istio": "ingressgateway"},
    )
