"""gRPC through two sidecars (client upstream port -> server sidecar inbound -> app), routed by header:
h2 upstreams where the port protocol says GRPC, as Istio does."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from translate_envoy import run_envoy, stop, wait_listening

from mizzen.node import InboundPort, Proxy, Upstream
from mizzen.testing.controlplane import free_port
from mizzen.testing.simulation import mesh_from_yaml
from mizzen.translate import translate

pytestmark = pytest.mark.e2e

MESH = """apiVersion: v1
kind: Service
metadata: {{name: greeter, namespace: default}}
spec: {{selector: {{app: greeter}}, ports: [{{name: grpc, port: 7070}}]}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: greeter-v1}}
spec: {{address: 127.0.0.1, ports: {{grpc: {v1}}}, labels: {{app: greeter, version: v1}}}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: greeter-v2}}
spec: {{address: 127.0.0.1, ports: {{grpc: {v2}}}, labels: {{app: greeter, version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: greeter}}
spec:
  host: greeter
  subsets: [{{name: v1, labels: {{version: v1}}}}, {{name: v2, labels: {{version: v2}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: greeter}}
spec:
  hosts: [greeter]
  http:
  - match: [{{headers: {{x-version: {{exact: v2}}}}}}]
    route: [{{destination: {{host: greeter, subset: v2}}}}]
  - route: [{{destination: {{host: greeter, subset: v1}}}}]
"""


def grpc_server(version: str) -> tuple[grpc.Server, int]:
    """A gRPC server whose one raw-bytes method /pkg.Greeter/Hello answers with its version."""

    def hello(request: bytes, context: grpc.ServicerContext) -> bytes:
        return version.encode() + b":" + request

    handler = grpc.method_handlers_generic_handler("pkg.Greeter", {"Hello": grpc.unary_unary_rpc_method_handler(hello)})
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


@pytest.fixture
def servers() -> Iterator[dict[str, int]]:
    started = {v: grpc_server(v) for v in ("v1", "v2")}
    yield {v: port for v, (_, port) in started.items()}
    for server, _ in started.values():
        server.stop(None)


def test_grpc_routes_by_header_through_two_sidecars(servers: dict[str, int], tmp_path: Path) -> None:
    """x-version: v2 reaches the v2 server, other calls v1, through client and server sidecars."""
    inbound = {v: free_port() for v in servers}
    mesh = mesh_from_yaml(MESH.format(**inbound))
    upstream = free_port()
    client = Proxy(
        id="client.default",
        type="sidecar",
        name="client",
        namespace="default",
        upstreams=(Upstream("greeter", 7070, upstream),),
    )
    procs = [run_envoy(translate(client, mesh), tmp_path, "client")]
    for v, app_port in servers.items():
        proxy = Proxy(
            id=f"greeter-{v}.default",
            type="sidecar",
            name=f"greeter-{v}",
            namespace="default",
            labels={"app": "greeter", "version": v},
            inbound=(InboundPort(7070, "grpc", "GRPC", inbound[v], app_port),),
        )
        procs.append(run_envoy(translate(proxy, mesh), tmp_path, f"greeter-{v}"))
    try:
        wait_listening(upstream, procs[0])
        for v, proc in zip(servers, procs[1:], strict=True):
            wait_listening(inbound[v], proc)
        with grpc.insecure_channel(f"127.0.0.1:{upstream}") as channel:
            hello = channel.unary_unary("/pkg.Greeter/Hello")
            assert hello(b"hi", timeout=10) == b"v1:hi"
            assert hello(b"hi", timeout=10, metadata=[("x-version", "v2")]) == b"v2:hi"
    finally:
        for p in procs:
            stop(p)
