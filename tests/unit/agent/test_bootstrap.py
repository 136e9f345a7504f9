"""Envoy bootstrap: node identity and metadata, control-plane cluster, ADS, stats pruning."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format

from mizzen.agent.bootstrap import STATS_INCLUSIONS, AgentPaths, build_bootstrap
from mizzen.agent.envoy import find_envoy
from mizzen.node import InboundPort, Proxy, Upstream, proxy_from_node

SIDECAR = Proxy(
    id="reviews-v2.default",
    type="sidecar",
    name="reviews-v2",
    namespace="default",
    labels={"app": "reviews", "version": "v2"},
    service_account="bookinfo-reviews",
    http_proxy_port=15101,
    inbound=(InboundPort(9080, "http", "HTTP", 15102, 15103),),
    upstreams=(Upstream("ratings", 9080, 19080),),
    access_log="/tmp/reviews-v2.access.log",
)
GATEWAY = Proxy(
    id="istio-ingressgateway.istio-system",
    type="router",
    name="istio-ingressgateway",
    namespace="istio-system",
    labels={"istio": "ingressgateway"},
    bind_address="127.0.0.2",
)


PATHS = AgentPaths(xds="/run/a/xds.sock", sds="/run/a/sds.sock", spans="/run/a/spans.sock", admin="/run/a/admin.sock")


def boot(proxy: Proxy = SIDECAR, **kw: Any) -> dict[str, Any]:
    return build_bootstrap(proxy, paths=PATHS, **kw)


def test_node_id_and_cluster_in_istio_shape() -> None:
    """The node id is Istio's sidecar~ip~name.ns~ns.svc.cluster.local; cluster is <app>.<ns>."""
    node = boot()["node"]
    assert node["id"] == "sidecar~127.0.0.1~reviews-v2.default~default.svc.cluster.local"
    assert node["cluster"] == "reviews.default"


def test_gateway_node_is_router_named_after_itself() -> None:
    """A gateway is a router node whose cluster falls back to its name (no app label)."""
    node = boot(GATEWAY)["node"]
    assert node["id"].startswith("router~127.0.0.1~istio-ingressgateway.istio-system~")
    assert node["cluster"] == "istio-ingressgateway.istio-system"
    assert node["metadata"]["MIZZEN_BIND"] == "127.0.0.2"
    assert "MIZZEN_HTTP_PROXY_PORT" not in node["metadata"]


def test_metadata_contract_keys() -> None:
    """Metadata carries Istio's keys (no interception, mizzen version) and Mizzen's port facts."""
    meta = boot(version="9.9.9")["node"]["metadata"]
    assert meta["INTERCEPTION_MODE"] == "NONE"
    assert meta["ISTIO_VERSION"] == "mizzen-9.9.9"
    assert meta["LABELS"] == {"app": "reviews", "version": "v2"}
    assert meta["MIZZEN_ADMIN"] == "unix:/run/a/admin.sock"
    assert meta["MIZZEN_ACCESS_LOG"] == "/tmp/reviews-v2.access.log"
    assert meta["MIZZEN_INBOUND"] == [
        {"servicePort": 9080, "name": "http", "protocol": "HTTP", "listenPort": 15102, "appPort": 15103}
    ]


@pytest.mark.parametrize("proxy", [SIDECAR, GATEWAY], ids=["sidecar", "gateway"])
def test_metadata_round_trips_through_envoy_proto(proxy: Proxy) -> None:
    """The control plane decodes exactly the Proxy the agent encoded, after a trip through protobuf."""
    from envoy.config.bootstrap.v3 import bootstrap_pb2
    from envoy.extensions.bootstrap.internal_listener.v3 import internal_listener_pb2
    from envoy.extensions.resource_monitors.downstream_connections.v3 import downstream_connections_pb2
    from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

    # registered for the Any fields
    assert downstream_connections_pb2 and http_protocol_options_pb2 and internal_listener_pb2
    msg = json_format.ParseDict(boot(proxy), bootstrap_pb2.Bootstrap())
    node = json_format.MessageToDict(msg.node, preserving_proto_field_name=True)
    assert proxy_from_node(node["id"], node["metadata"]) == proxy


def _clusters(b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in b["static_resources"]["clusters"]}


def test_static_clusters_point_at_the_agent_sockets() -> None:
    """xds-grpc (ADS, access logs) and sds-grpc are HTTP/2 clusters on the agent's sockets; zipkin its span socket."""
    b = boot()
    clusters = _clusters(b)
    assert set(clusters) == {"xds-grpc", "sds-grpc", "zipkin"}
    for name, path in (("xds-grpc", PATHS.xds), ("sds-grpc", PATHS.sds), ("zipkin", PATHS.spans)):
        addr = clusters[name]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
        assert addr == {"pipe": {"path": path}}
    for name in ("xds-grpc", "sds-grpc"):
        opts = clusters[name]["typed_extension_protocol_options"]
        assert (
            "http2_protocol_options"
            in opts["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]["explicit_http_config"]
        )
    ads = b["dynamic_resources"]["ads_config"]
    assert ads["api_type"] == "DELTA_GRPC" and ads["transport_api_version"] == "V3"  # Istio's default
    # Envoy reopens a broken ADS stream after 0.1 s, backing off to at most 1 s (fast resync).
    retry = {"retry_back_off": {"base_interval": "0.1s", "max_interval": "1s"}}
    assert ads["grpc_services"] == [{"envoy_grpc": {"cluster_name": "xds-grpc", "retry_policy": retry}}]
    assert b["dynamic_resources"]["cds_config"]["ads"] == {}
    assert b["dynamic_resources"]["lds_config"]["ads"] == {}


def test_ads_variant_is_delta_unless_sotw_is_asked_for() -> None:
    """ADS is incremental (DELTA_GRPC, Istio's default) unless State of the World (GRPC) is asked for."""
    assert boot()["dynamic_resources"]["ads_config"]["api_type"] == "DELTA_GRPC"
    assert boot(api_type="GRPC")["dynamic_resources"]["ads_config"]["api_type"] == "GRPC"


def test_bootstrap_holds_no_credential() -> None:
    """Nothing in the bootstrap looks like a credential or a key: no authorization metadata, no PEM."""
    text = json.dumps(boot()).lower()
    assert "authorization" not in text and "bearer" not in text and "private key" not in text


def test_zipkin_batches_each_second_up_to_100_spans() -> None:
    """Envoy's Zipkin runtime keys are set in the static layer (its defaults are 5 spans or 5 s)."""
    static = boot()["layered_runtime"]["layers"][0]["static_layer"]
    assert static["tracing.zipkin.min_flush_spans"] == 100 and static["tracing.zipkin.flush_interval_ms"] == 1000


def test_admin_on_a_private_unix_socket() -> None:
    """Envoy's admin listens only on the agent's UNIX socket, mode 0600 (no TCP port)."""
    assert boot()["admin"]["address"] == {"pipe": {"path": PATHS.admin, "mode": 0o600}}


def test_bootstrap_parses_as_envoy_proto() -> None:
    """The whole bootstrap (pipes, modes) is valid Envoy v3 proto-JSON."""
    from envoy.config.bootstrap.v3 import bootstrap_pb2
    from envoy.extensions.resource_monitors.downstream_connections.v3 import downstream_connections_pb2
    from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2

    assert downstream_connections_pb2 and http_protocol_options_pb2
    msg = json_format.ParseDict(boot(), bootstrap_pb2.Bootstrap())
    assert msg.admin.address.pipe.mode == 0o600


def _kept(name: str) -> bool:
    for pattern in STATS_INCLUSIONS:
        if "prefix" in pattern and name.startswith(pattern["prefix"]):
            return True
        if "safe_regex" in pattern and re.fullmatch(pattern["safe_regex"]["regex"], name):
            return True
        if "suffix" in pattern and name.endswith(pattern["suffix"]):
            return True
    return False


@pytest.mark.parametrize(
    "stat",
    [
        "cluster_manager.cds.update_success",
        "listener_manager.lds.update_rejected",
        "server.state",
        "control_plane.connected_state",
        "cluster.outbound|9080|v1|reviews.default.svc.cluster.local.upstream_rq_2xx",
        "cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_rq_time",
        "cluster.outbound|9080||ratings.default.svc.cluster.local.upstream_cx_active",
        "cluster.outbound|9080||ratings.default.svc.cluster.local.circuit_breakers.default.rq_open",
        "cluster.outbound|9080||ratings.default.svc.cluster.local.outlier_detection.ejections_active",
        "http.outbound_0.0.0.0_9080.downstream_rq_5xx",
        "http.http_proxy.rds.http_proxy.update_success",
        "http.inbound_127.0.0.1_9080.rbac.denied",
        "http.inbound_127.0.0.1_9080.rbac.istio_dry_run_allow_shadow_denied",
        "tcp.rbac.allowed",
        "istio.requests_total",  # the stats access loggers' Istio metrics (mizzen.meshstats)
        "istio.request_duration_milliseconds",
    ],
)
def test_stats_needed_for_inspection_are_kept(stat: str) -> None:
    """Stats that proxy-status, telemetry and the dashboard read pass the inclusion list."""
    assert _kept(stat)


@pytest.mark.parametrize(
    "stat",
    [
        "cluster.outbound|9080||ratings.default.svc.cluster.local.lb_healthy_panic",
        "cluster.outbound|9080||ratings.default.svc.cluster.local.bind_errors",
        "vhost.reviews.vcluster.other.upstream_rq_retry",
        "http.outbound.rq_direct_response",
        "listener.127.0.0.1_15001.http.outbound.downstream_rq_2xx_extra_tag",
        "runtime.load_success",
    ],
)
def test_other_stats_are_pruned(stat: str) -> None:
    """Stats nobody reads are excluded (the point of pruning)."""
    assert not _kept(stat)


def test_bootstrap_is_deterministic_json() -> None:
    """Same input, byte-identical JSON."""
    assert json.dumps(boot(), sort_keys=True) == json.dumps(boot(), sort_keys=True)


@pytest.mark.e2e
@pytest.mark.parametrize("proxy", [SIDECAR, GATEWAY], ids=["sidecar", "gateway"])
def test_real_envoy_validates_bootstrap(proxy: Proxy, tmp_path: Path) -> None:
    """The pinned Envoy accepts the bootstrap in --mode validate."""
    path = tmp_path / "bootstrap.json"
    path.write_text(json.dumps(boot(proxy)))
    out = subprocess.run(
        [str(find_envoy()), "--mode", "validate", "-c", str(path), "-l", "warning"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK" in out.stdout + out.stderr
