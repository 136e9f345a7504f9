"""Translator output as a whole: Envoy proto validity, determinism, names, clusters and endpoints."""

from __future__ import annotations

import dataclasses
import json

import pytest
from translate_envoy import envoy_validate
from translate_fixtures import bookinfo, gateway_proxy, sidecar
from translate_protos import parse_all

from mizzen.node import InboundPort, Upstream
from mizzen.translate import build_endpoints, translate
from mizzen.translate.model import MeshConfig

REVIEWS = "reviews.default.svc.cluster.local"
ALL = (
    "destination-rule-all.yaml",
    "virtual-service-reviews-test-v2.yaml",
    "virtual-service-ratings-test-delay.yaml",
    "bookinfo-gateway.yaml",
)


def test_every_resource_parses_into_envoy_protos() -> None:
    """Clusters, endpoints, listeners, routes parse with json_format.ParseDict for sidecar and gateway."""
    m = bookinfo(*ALL, mesh=MeshConfig(zipkin_address="127.0.0.1:9411"))
    proxy = dataclasses.replace(sidecar(), access_log="/tmp/access.log")
    assert parse_all(translate(proxy, m)) > 20
    assert parse_all(translate(gateway_proxy(), m)) > 10


def test_output_is_deterministic() -> None:
    """The same inputs give byte-identical JSON."""
    a, b = translate(sidecar(), bookinfo(*ALL)), translate(sidecar(), bookinfo(*ALL))
    assert json.dumps(dataclasses.asdict(a), sort_keys=False) == json.dumps(dataclasses.asdict(b), sort_keys=False)
    assert list(a.clusters) == sorted(a.clusters)


def test_subset_clusters_and_filtered_endpoints() -> None:
    """Each DR subset is its own EDS cluster whose endpoints are only the matching workloads."""
    res = translate(sidecar(), bookinfo("destination-rule-all.yaml"))
    c = res.clusters[f"outbound|9080|v2|{REVIEWS}"]
    assert c["type"] == "EDS" and c["lb_policy"] == "LEAST_REQUEST"
    assert c["metadata"]["filter_metadata"]["istio"] == {
        "config": "/apis/networking.istio.io/v1/namespaces/default/destination-rule/reviews",
        "subset": "v2",
    }
    assert c["circuit_breakers"]["thresholds"][0]["max_connections"] == 4294967295
    ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in res.endpoints[f"outbound|9080|v2|{REVIEWS}"]["endpoints"][0]["lb_endpoints"]
    ]
    assert ports == [20005]
    all_ports = [
        e["endpoint"]["address"]["socket_address"]["port_value"]
        for e in res.endpoints[f"outbound|9080||{REVIEWS}"]["endpoints"][0]["lb_endpoints"]
    ]
    assert sorted(all_ports) == [20004, 20005, 20006]


def test_build_endpoints_matches_translate() -> None:
    """build_endpoints returns exactly translate()'s EDS resources."""
    m = bookinfo("destination-rule-all.yaml")
    assert build_endpoints(sidecar(), m) == dict(translate(sidecar(), m).endpoints)


def test_inbound_listener_and_cluster() -> None:
    """The inbound listener on the proxy IP forwards to inbound|9080|| at the app port."""
    res = translate(sidecar(), bookinfo())
    lis = res.listeners["127.0.0.1_20001"]
    assert lis["address"]["socket_address"]["port_value"] == 20001
    inbound = res.clusters["inbound|9080||"]
    assert inbound["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"] == {
        "socket_address": {"address": "127.0.0.1", "port_value": 30001}
    }


def test_http_proxy_listener_uses_rds_http_proxy() -> None:
    """The outbound HTTP-proxy listener binds 127.0.0.1 and uses RDS http_proxy over ADS, fault before cors,
    set_filter_state (for CONNECT to unknown hosts) just before the router."""
    res = translate(sidecar(), bookinfo())
    hcm = res.listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert hcm["rds"]["route_config_name"] == "http_proxy"
    assert hcm["rds"]["config_source"]["initial_fetch_timeout"] == "0s"
    assert [f["name"] for f in hcm["http_filters"]] == [
        "envoy.filters.http.fault",
        "envoy.filters.http.cors",
        "envoy.filters.http.dynamic_forward_proxy",
        "envoy.filters.http.set_filter_state",  # off but on the catch-all CONNECT route (ALLOW_ANY)
        "envoy.filters.http.header_mutation",  # names this proxy to the server side's metrics
        "envoy.filters.http.router",
    ]


def test_access_log_and_tracing() -> None:
    """access_log path and a zipkin address add Istio's text log and a Zipkin tracer with the sampling."""
    m = bookinfo(mesh=MeshConfig(zipkin_address="127.0.0.1:9411", tracing_sampling=100.0))
    res = translate(dataclasses.replace(sidecar(), access_log="/tmp/a.log"), m)
    hcm = res.listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]["typed_config"]
    (file_log,) = (log for log in hcm["access_log"] if log["name"] == "envoy.access_loggers.file")
    fmt = file_log["typed_config"]["log_format"]["text_format_source"]["inline_string"]
    assert fmt.startswith('[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%"')
    assert hcm["tracing"]["random_sampling"] == {"value": 100.0}
    assert "zipkin" in res.clusters


def test_upstream_listener_for_http_service_has_own_route_config() -> None:
    """An explicit upstream to an HTTP service port gets an HCM with a route config for that service only."""
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("reviews", 9080, 19080),))
    res = translate(proxy, bookinfo("destination-rule-all.yaml", "virtual-service-all-v1.yaml"))
    rc = res.routes[f"{REVIEWS}:9080"]
    assert rc["virtual_hosts"][0]["domains"] == ["*"]
    assert rc["virtual_hosts"][0]["routes"][0]["route"]["cluster"] == f"outbound|9080|v1|{REVIEWS}"
    assert "127.0.0.1_19080" in res.listeners


@pytest.mark.e2e
def test_envoy_accepts_bookinfo_translation() -> None:
    """Envoy 1.40 in --mode validate accepts the sidecar and gateway translation of Bookinfo."""
    m = bookinfo(*ALL, mesh=MeshConfig(zipkin_address="127.0.0.1:9411"))
    proxy = dataclasses.replace(sidecar(), access_log="/tmp/access.log", upstreams=(Upstream("reviews", 9080, 19080),))
    for res in (translate(proxy, m), translate(gateway_proxy(), m)):
        out = envoy_validate(res)
        assert out.returncode == 0, out.stderr[-3000:]


def test_access_log_service_streams_to_the_control_plane() -> None:
    """With the mesh's access-log service on, HCMs and tcp_proxies stream to xds-grpc (the agent's socket, which
    adds the credential: the config holds none), and the outbound listener names the calling proxy in a header
    (for the server side's metrics); route configurations stay free of per-proxy values so proxies of one scope
    can share them."""
    m = bookinfo(mesh=MeshConfig(access_log_service=True))
    proxy = dataclasses.replace(sidecar(), upstreams=(Upstream("mongo", 27017, 19017),))
    res = translate(proxy, m)
    hcm = res.listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]["typed_config"]
    (als,) = (log for log in hcm["access_log"] if log["name"] == "envoy.access_loggers.http_grpc")
    grpc = als["typed_config"]["common_config"]["grpc_service"]
    assert grpc == {"envoy_grpc": {"cluster_name": "xds-grpc"}}
    tcp = res.listeners["127.0.0.1_19017"]["filter_chains"][0]["filters"][0]["typed_config"]
    assert "envoy.access_loggers.tcp_grpc" in [log["name"] for log in tcp["access_log"]]
    assert "access_log_flush_interval" in tcp["access_log_options"]
    filters = hcm["http_filters"]
    assert [f["name"] for f in filters][-2:] == ["envoy.filters.http.header_mutation", "envoy.filters.http.router"]
    header = filters[-2]["typed_config"]["mutations"]["request_mutations"][0]["append"]["header"]
    assert header == {"key": "x-envoy-peer-metadata-id", "value": proxy.node_id}
    assert "request_headers_to_add" not in res.routes["http_proxy"]
    default = translate(proxy, bookinfo()).listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]
    assert [log["name"] for log in default["typed_config"]["access_log"]] == ["envoy.access_loggers.stats"]


def test_spans_carry_no_credential_and_the_agent_socket_replaces_the_zipkin_cluster() -> None:
    """Tracing posts spans without any credential; with the bootstrap's zipkin cluster (the agent's span socket)
    the translator emits no zipkin cluster of its own, else it points one at the collector."""
    own = MeshConfig(zipkin_address="127.0.0.1:15014", zipkin_cluster_static=True)
    res = translate(sidecar(), bookinfo(mesh=own))
    traced = json.dumps(res.listeners["127.0.0.1_15080"]["filter_chains"][0]["filters"][0]["typed_config"]["tracing"])
    assert "authorization" not in traced.lower() and "/api/v2/spans" in traced and '"zipkin"' in traced
    assert "zipkin" not in res.clusters
    direct = translate(sidecar(), bookinfo(mesh=MeshConfig(zipkin_address="zipkin.example.com:9411")))
    assert "zipkin" in direct.clusters


def test_https_inbound_port_is_passed_through_not_parsed_as_http() -> None:
    """An inbound port of protocol HTTPS (TLS the app terminates) is a TCP proxy, as Istio's IsTCP says."""
    proxy = dataclasses.replace(
        sidecar(),
        inbound=(InboundPort(service_port=443, name="https", protocol="HTTPS", listen_port=20443, app_port=30443),),
    )
    chain = translate(proxy, bookinfo()).listeners["127.0.0.1_20443"]["filter_chains"][0]
    assert [f["name"] for f in chain["filters"]] == ["envoy.filters.network.tcp_proxy"]
