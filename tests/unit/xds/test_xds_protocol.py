"""Hand-built DiscoveryResponse wire format, node decoding, sync status and metrics text."""

from __future__ import annotations

from envoy.config.core.v3 import base_pb2

from mizzen.xds import types
from mizzen.xds.metrics import XdsMetrics
from mizzen.xds.protocol import DeltaResponse, Nonces, Response, node_info
from mizzen.xds.status import sync_status
from mizzen.xds.stream import TypeState
from mizzen.xds.testing import snapshot


def test_serialized_response_parses_as_discovery_response() -> None:
    """Response.serialize() is a valid DiscoveryResponse with resources sorted by name."""
    resources = snapshot().resources(types.CLUSTER)
    msg = Response(types.CLUSTER, "v1", "7", resources).to_proto()
    assert (msg.version_info, msg.type_url, msg.nonce) == ("v1", types.CLUSTER, "7")
    assert [r.SerializeToString(deterministic=True) for r in msg.resources] == [resources["a"], resources["b"]]


def test_empty_response_is_valid() -> None:
    """A response with no resources (delete everything) still carries type and nonce."""
    msg = Response(types.LISTENER, "v", "1", {}).to_proto()
    assert len(msg.resources) == 0 and msg.nonce == "1"


def test_streams_given_the_same_change_are_written_the_same_bytes() -> None:
    """Two streams answered with the same resources share one wire object, and its nonce is the response's."""
    resources = snapshot().resources(types.CLUSTER)
    one, two = Nonces(), Nonces()
    first = Response.make(types.CLUSTER, "v-shared", resources, one)
    second = Response.make(types.CLUSTER, "v-shared", dict(resources), two)
    assert first.serialize() is second.serialize() and first.nonce == second.nonce
    assert first.to_proto().nonce == first.nonce
    delta_one = DeltaResponse.make(types.CLUSTER, "v-shared", resources, ["gone"], one)
    delta_two = DeltaResponse.make(types.CLUSTER, "v-shared", resources, ["gone"], two)
    assert delta_one.serialize() is delta_two.serialize()
    assert delta_one.to_proto().nonce == delta_one.nonce and list(delta_one.to_proto().removed_resources) == ["gone"]


def test_a_body_sent_before_on_a_stream_gets_a_nonce_of_its_own() -> None:
    """Sending a stream a body it may have had (a revert) must not reuse a nonce: the stream's own one wins."""
    nonces = Nonces()
    old = Response.make(types.CLUSTER, "v-old", snapshot().resources(types.CLUSTER), nonces)
    new = Response.make(types.CLUSTER, "v-new", snapshot(ports={"a": 3}).resources(types.CLUSTER), nonces)
    again = Response.make(types.CLUSTER, "v-old", snapshot().resources(types.CLUSTER), nonces)
    assert len({old.nonce, new.nonce, again.nonce}) == 3
    msg = again.to_proto()
    assert msg.nonce == again.nonce and msg.version_info == "v-old" and len(msg.resources) == 2


def test_nonces_never_repeat_on_a_stream() -> None:
    """Shared nonces only increase, own nonces count up, and the two kinds never collide."""
    nonces = Nonces()
    seen = [nonces.choose(5), nonces.choose(5), nonces.choose(3), nonces.choose(9), nonces.own(), nonces.own()]
    assert seen[1] is None and seen[2] is None
    given = [n for n in seen if n is not None]
    assert len(set(given)) == len(given) == 4


def test_node_info_reads_version_and_metadata() -> None:
    """The build version becomes 'major.minor.patch' and metadata a plain dict."""
    node = base_pb2.Node(id="n", cluster="c", user_agent_name="envoy")
    node.user_agent_build_version.version.major_number = 1
    node.user_agent_build_version.version.minor_number = 40
    node.metadata.update({"LABELS": {"app": "x"}, "PORT": 5})
    info = node_info(node)
    assert (info.node_id, info.cluster, info.envoy_version) == ("n", "c", "1.40.0")
    assert info.metadata == {"LABELS": {"app": "x"}, "PORT": 5.0}


def test_sync_status_follows_istioctl() -> None:
    """ERROR beats everything, then NOT SENT, SYNCED when acked == sent, else STALE."""
    state = TypeState(types.CLUSTER)
    assert sync_status(state) == "NOT SENT"
    state.nonce_sent = "2"
    assert sync_status(state) == "STALE"
    state.nonce_acked = "2"
    assert sync_status(state) == "SYNCED"
    state.last_error = "bad"
    assert sync_status(state) == "ERROR"


def test_metrics_text_is_prometheus() -> None:
    """Counters are labelled by short type name and the latency histogram is cumulative."""
    m = XdsMetrics()
    m.pushes[types.CLUSTER] += 2
    m.nacks[types.LISTENER] += 1
    m.observe_latency(0.003)
    m.observe_latency(0.2)
    text = m.render()
    assert 'mizzen_xds_pushes_total{type="CDS"} 2' in text
    assert 'mizzen_xds_nacks_total{type="LDS"} 1' in text
    assert 'mizzen_xds_push_latency_seconds_bucket{le="0.005"} 1' in text
    assert 'mizzen_xds_push_latency_seconds_bucket{le="0.25"} 2' in text
    assert 'mizzen_xds_push_latency_seconds_bucket{le="+Inf"} 2' in text
    assert "mizzen_xds_push_latency_seconds_count 2" in text
