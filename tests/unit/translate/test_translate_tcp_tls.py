"""TCP and TLS routes (issue 4 item 2) through explicit upstream listeners."""

from __future__ import annotations

import dataclasses

from translate_fixtures import bookinfo, sidecar

from mizzen.node import Upstream
from mizzen.testing.simulation import simulate
from mizzen.translate import translate

MONGO = """apiVersion: v1
kind: Service
metadata: {name: mongo, namespace: default}
spec:
  selector: {app: mongo}
  ports: [{name: tcp, port: 27017}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: mongo, namespace: default}
spec:
  host: mongo
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
"""
TCP_VS = """apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: mongo, namespace: default}
spec:
  hosts: [mongo]
  tcp:
  - match: [{port: 1111}]
    route: [{destination: {host: mongo, subset: v1}}]
  - match: [{port: 27017, sourceLabels: {app: productpage}}]
    route:
    - {destination: {host: mongo, subset: v1}, weight: 75}
    - {destination: {host: mongo, subset: v2}, weight: 25}
"""
MONGO_CLUSTER = "outbound|27017|{}|mongo.default.svc.cluster.local"


def test_tcp_upstream_default_cluster() -> None:
    """Without a VS a TCP upstream port proxies to the service's cluster."""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("mongo", 27017, 19000),))
    r = simulate(translate(proxy, bookinfo(MONGO)), listener_port=19000)
    assert r.cluster == MONGO_CLUSTER.format("")


def test_tcp_weighted_route_with_port_and_source_labels() -> None:
    """tcp rules: port and sourceLabels decide at generation time; weights give weighted clusters."""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("mongo", 27017, 19000),))
    r = simulate(translate(proxy, bookinfo(MONGO, TCP_VS)), listener_port=19000)
    assert r.weighted_clusters == ((MONGO_CLUSTER.format("v1"), 75), (MONGO_CLUSTER.format("v2"), 25))
    other = dataclasses.replace(sidecar("details-v1", "details"), upstreams=(Upstream("mongo", 27017, 19000),))
    assert simulate(translate(other, bookinfo(MONGO, TCP_VS)), listener_port=19000).cluster == MONGO_CLUSTER.format("")


def test_tls_routes_by_sni() -> None:
    """tls rules choose the destination by SNI on a TLS upstream port; other SNIs use the default chain."""
    tls = """apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: ext, namespace: default}
spec:
  hosts: [a.example.com, b.example.com]
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ext, namespace: default}
spec:
  hosts: [a.example.com]
  tls:
  - match: [{sniHosts: [a.example.com], port: 443}]
    route: [{destination: {host: b.example.com, port: {number: 443}}}]
"""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("a.example.com", 443, 19443),))
    res = translate(proxy, bookinfo(tls))
    assert simulate(res, listener_port=19443, sni="a.example.com").cluster == "outbound|443||b.example.com"
    assert simulate(res, listener_port=19443, sni="z.example.com").cluster == "outbound|443||a.example.com"


def test_grpc_upstream_uses_http_routes() -> None:
    """A gRPC upstream port gets an HCM whose routes follow the service's VS (header routing works)."""
    grpc = """apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 7070}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: default}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-v: {exact: "2"}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - route: [{destination: {host: echo, subset: v1}}]
"""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("echo", 7070, 17070),))
    res = translate(proxy, bookinfo(grpc))
    r = simulate(res, listener_port=17070, host="127.0.0.1:17070", path="/pkg.Echo/Call", headers={"x-v": "2"})
    assert r.cluster == "outbound|7070|v2|echo.default.svc.cluster.local"
    assert r.route_config == "echo.default.svc.cluster.local:7070"


def test_tcp_idle_timeout_from_destination_rule() -> None:
    """DR connectionPool.tcp.idleTimeout becomes the tcp_proxy idle_timeout."""
    pool = MONGO.replace("  subsets:", "  trafficPolicy: {connectionPool: {tcp: {idleTimeout: 30m}}}\n  subsets:")
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("mongo", 27017, 19000),))
    lis = translate(proxy, bookinfo(pool)).listeners["127.0.0.1_19000"]
    assert lis["filter_chains"][0]["filters"][0]["typed_config"]["idle_timeout"] == "1800s"
