"""The sans-IO delta (incremental) ADS stream state machine, driven by a fake delta Envoy in memory."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from mizzen.xds import types
from mizzen.xds.delta import DeltaStream
from mizzen.xds.errors import ProtocolError
from mizzen.xds.protocol import Acked, Action, Connected, DeltaResponse, Ignored, Nacked, resource_version
from mizzen.xds.status import TypeStatus
from mizzen.xds.testing import snapshot
from mizzen.xds.testing_delta import FakeDeltaEnvoy

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE


def replies(actions: list[Action] | list[DeltaResponse]) -> list[DeltaResponse]:
    return [a for a in actions if isinstance(a, DeltaResponse)]


def only(actions: list[Action] | list[DeltaResponse]) -> DeltaResponse:
    found = replies(actions)
    assert len(found) == 1, found
    return found[0]


def synced_pair() -> tuple[DeltaStream, FakeDeltaEnvoy]:
    """A stream with CDS/LDS wildcard and EDS/RDS named, everything applied and ACKed."""
    stream, envoy = DeltaStream(clock=lambda: 100.0), FakeDeltaEnvoy()
    stream.snapshot_updated(snapshot())
    stream.receive(envoy.ack(only(stream.receive(envoy.request(CDS)))))
    stream.receive(envoy.ack(only(stream.receive(envoy.request(EDS, ["a", "b"])))))
    stream.receive(envoy.ack(only(stream.receive(envoy.request(LDS)))))
    stream.receive(envoy.ack(only(stream.receive(envoy.request(RDS, ["r1"])))))
    return stream, envoy


def ack_all(stream: DeltaStream, envoy: FakeDeltaEnvoy, sent: list[DeltaResponse]) -> None:
    for response in sent:
        stream.receive(envoy.ack(response))


def status(stream: DeltaStream, type_url: str) -> str:
    return TypeStatus.of(stream.types[type_url]).status


def test_first_request_reports_node_and_requires_it() -> None:
    """The first request's node is reported once; no node, or no type URL, is a protocol error."""
    stream, envoy = DeltaStream(), FakeDeltaEnvoy(metadata={"NAME": "app"})
    actions = stream.receive(envoy.request(CDS))
    assert [type(a) for a in actions] == [Connected]
    assert stream.node is not None and stream.node.node_id == envoy.node.id and stream.node.metadata == {"NAME": "app"}
    assert not any(isinstance(a, Connected) for a in stream.receive(envoy.request(LDS)))
    with pytest.raises(ProtocolError):
        DeltaStream().receive(discovery_pb2.DeltaDiscoveryRequest(type_url=CDS))
    with pytest.raises(ProtocolError):
        DeltaStream().receive(FakeDeltaEnvoy().request(""))


def test_parked_until_snapshot_then_everything_in_push_order() -> None:
    """Requests before a snapshot get nothing; the first snapshot sends each subscription, versions per resource."""
    stream, envoy = DeltaStream(), FakeDeltaEnvoy()
    assert replies(stream.receive(envoy.request(LDS))) == []
    assert replies(stream.receive(envoy.request(CDS))) == []
    snap = snapshot()
    sent = stream.snapshot_updated(snap)
    assert [r.type_url for r in sent] == [CDS, LDS]
    assert set(sent[0].resources) == {"a", "b"} and set(sent[1].resources) == {"l1"}
    wire = sent[0].to_proto()
    assert wire.system_version_info == snap.version(CDS) and wire.nonce == sent[0].nonce
    assert {r.name: r.version for r in wire.resources} == {
        n: resource_version(b) for n, b in snap.resources(CDS).items()
    }


def test_ack_records_and_sends_nothing_more() -> None:
    """An ACK is recorded (SYNCED at the snapshot version) and answered with nothing."""
    stream, envoy = DeltaStream(), FakeDeltaEnvoy()
    stream.snapshot_updated(snapshot())
    first = only(stream.receive(envoy.request(CDS)))
    assert status(stream, CDS) == "STALE"
    actions = stream.receive(envoy.ack(first))
    assert replies(actions) == [] and Acked(CDS, first.version, first.nonce) in actions
    state = stream.types[CDS]
    assert status(stream, CDS) == "SYNCED" and state.version_acked == snapshot().version(CDS)
    assert dict(state.acked) == dict(snapshot().resources(CDS))


def test_nothing_sent_when_nothing_changed() -> None:
    """Setting an identical snapshot again sends nothing."""
    stream, _ = synced_pair()
    assert stream.snapshot_updated(snapshot()) == []


def test_changed_cluster_sends_only_it_and_its_endpoints() -> None:
    """One changed cluster: CDS carries only it, and EDS resends its (unchanged) endpoints so it warms."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(snapshot({"a": "5s", "b": "1s"}))
    assert [(r.type_url, set(r.resources), r.removed) for r in sent] == [(CDS, {"a"}, ()), (EDS, {"a"}, ())]


def test_changed_endpoints_send_only_them() -> None:
    """An endpoint change sends only the changed ClusterLoadAssignment, never clusters."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(snapshot(ports={"b": 9090}))
    assert [(r.type_url, set(r.resources)) for r in sent] == [(EDS, {"b"})]


def test_removed_cluster_goes_in_removed_resources_after_routes() -> None:
    """Removing a cluster lists it in removed_resources, sent after listeners and routes moved away."""
    stream, envoy = synced_pair()
    sent = stream.snapshot_updated(snapshot({"a": "1s"}, routes={"r1": "a"}))
    assert [(r.type_url, set(r.resources), r.removed) for r in sent] == [(CDS, set(), ("b",)), (EDS, set(), ("b",))]
    ack_all(stream, envoy, sent)
    assert envoy.have[CDS].keys() == {"a"} and status(stream, CDS) == "SYNCED"
    moved = snapshot({"c": "1s"}, routes={"r1": "c"})
    sent = stream.snapshot_updated(moved)
    order = [(r.type_url, set(r.resources), r.removed) for r in sent]
    assert order == [(CDS, {"c"}, ()), (RDS, {"r1"}, ()), (CDS, set(), ("a",)), (EDS, set(), ("a",))]


def test_removed_listener_and_unknown_route_removal() -> None:
    """A removed listener is in removed_resources; route configurations are never removed (Envoy ignores it)."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(snapshot(routes={}, listeners={}))
    assert [(r.type_url, set(r.resources), r.removed) for r in sent] == [(LDS, set(), ("l1",))]


def test_nack_keeps_error_and_never_resends_rejected_version() -> None:
    """A NACK shows ERROR, nothing is resent for the same content, a new change is sent, an ACK clears it."""
    stream, envoy = synced_pair()
    bad = snapshot({"a": "1s", "b": "1s"}, listeners={"l1": (1, "r1")})
    rejected = only(stream.snapshot_updated(bad))
    actions = stream.receive(envoy.nack(rejected, "bad port"))
    assert replies(actions) == [] and any(isinstance(a, Nacked) and a.message == "bad port" for a in actions)
    assert status(stream, LDS) == "ERROR" and stream.types[LDS].last_error == "bad port"
    assert stream.snapshot_updated(bad) == []
    assert replies(stream.receive(envoy.request(LDS))) == []
    fixed = only(stream.snapshot_updated(snapshot()))
    assert set(fixed.resources) == {"l1"}
    stream.receive(envoy.ack(fixed))
    assert status(stream, LDS) == "SYNCED" and stream.types[LDS].last_error == ""


def test_rejected_endpoints_not_forced_again_by_a_cluster_push() -> None:
    """Endpoints a proxy NACKed are not resent when a later cluster change forces endpoints out."""
    stream, envoy = synced_pair()
    stream.receive(envoy.nack(only(stream.snapshot_updated(snapshot(ports={"a": 1}))), "bad endpoint"))
    sent = stream.snapshot_updated(snapshot({"a": "2s", "b": "1s"}, ports={"a": 1}))
    assert [(r.type_url, set(r.resources)) for r in sent] == [(CDS, {"a"})]


def test_sent_and_acked_of_a_named_type_hold_only_the_subscribed_names() -> None:
    """Proxy-status's view of a named type lists, reads and counts only the subscribed names (no copy)."""
    stream, envoy = synced_pair()
    stream.receive(envoy.request(EDS, unsubscribe=["b"]))
    for view in (stream.types[EDS].sent, stream.types[EDS].acked):
        assert list(view) == ["a"] and len(view) == 1 and "b" not in view and view.get("b") is None
        assert view["a"] == snapshot().resources(EDS)["a"]


def test_subscribe_and_unsubscribe_named_resources() -> None:
    """New names are sent; unsubscribing sends nothing; subscribing again sends the resource again."""
    stream, envoy = synced_pair()
    assert replies(stream.receive(envoy.request(EDS, unsubscribe=["b"]))) == []
    assert stream.types[EDS].names == {"a"} and set(stream.types[EDS].sent) == {"a"}
    assert stream.snapshot_updated(snapshot(ports={"b": 9999})) == []
    again = only(stream.receive(envoy.request(EDS, ["b"])))
    assert set(again.resources) == {"b"} and again.removed == ()


def test_subscribing_a_held_name_still_sends_it() -> None:
    """A subscribe for a name the proxy already holds is answered with it (it may have forgotten it)."""
    stream, envoy = synced_pair()
    assert set(only(stream.receive(envoy.request(EDS, ["a"]))).resources) == {"a"}


def test_missing_name_is_reported_once_then_sent_when_it_appears() -> None:
    """A subscribed name that does not exist is listed as removed once, then sent when it appears."""
    stream, envoy = synced_pair()
    missing = only(stream.receive(envoy.request(EDS, ["c"])))
    assert missing.resources == {} and missing.removed == ("c",)
    stream.receive(envoy.ack(missing))
    assert stream.snapshot_updated(snapshot(ports={"b": 9999})) != []  # b changed, c still missing
    assert all("c" not in r.removed for r in stream.snapshot_updated(snapshot(ports={"b": 9998})))
    appeared = stream.snapshot_updated(snapshot({"a": "1s", "b": "1s", "c": "1s"}, ports={"b": 9998}))
    eds = [r for r in appeared if r.type_url == EDS]
    assert len(eds) == 1 and set(eds[0].resources) == {"c"}


def test_route_configuration_missing_is_not_reported() -> None:
    """A missing route configuration gets no removal (Envoy would only log an error)."""
    stream, envoy = synced_pair()
    assert replies(stream.receive(envoy.request(RDS, ["nope"]))) == []


def test_legacy_wildcard_and_star() -> None:
    """An empty first request and "*" are wildcards; unsubscribing "*" leaves only explicit names."""
    stream, envoy = DeltaStream(), FakeDeltaEnvoy()
    stream.snapshot_updated(snapshot())
    assert set(only(stream.receive(envoy.request(CDS))).resources) == {"a", "b"}
    assert set(only(stream.receive(envoy.request(LDS, ["*"]))).resources) == {"l1"}
    assert stream.types[CDS].wildcard and stream.types[LDS].wildcard
    named = only(stream.receive(envoy.request(EDS, ["a"])))
    assert not stream.types[EDS].wildcard and set(named.resources) == {"a"}
    assert replies(stream.receive(envoy.request(EDS))) == []  # later empty requests change nothing
    stream.receive(envoy.request(CDS, ["a"], ["*"]))
    state = stream.types[CDS]
    assert not state.wildcard and state.names == {"a"}
    assert [r.type_url for r in stream.snapshot_updated(snapshot({"a": "1s", "b": "9s"}))] == []
    assert [(r.type_url, set(r.resources)) for r in stream.snapshot_updated(snapshot({"a": "2s", "b": "9s"}))] == [
        (CDS, {"a"}),
        (EDS, {"a"}),
    ]


def test_unsubscribing_a_name_covered_by_the_wildcard_resends_it() -> None:
    """With wildcard plus an explicit name, unsubscribing the name answers with it (still in the wildcard)."""
    stream, envoy = synced_pair()
    ack_all(stream, envoy, replies(stream.receive(envoy.request(CDS, ["a", "zz"]))))
    answer = replies(stream.receive(envoy.request(CDS, unsubscribe=["a", "zz"])))[0]
    assert answer.type_url == CDS and set(answer.resources) == {"a"} and answer.removed == ("zz",)


def test_stale_nonce_still_applies_subscription_changes() -> None:
    """A request with an unknown nonce is reported as ignored but its subscription changes are honoured."""
    stream, envoy = synced_pair()
    request = envoy.request(EDS, ["c"])
    request.response_nonce = "999"
    actions = stream.receive(request)
    assert Ignored(EDS, "999") in actions and "c" in stream.types[EDS].names
    assert only(actions).removed == ("c",)


def test_reconnect_with_initial_versions_sends_only_what_differs() -> None:
    """On a new stream, resources whose reported version matches are not resent; others are sent or removed;
    the endpoints of a cluster resent before EDS was subscribed are sent anyway (Envoy warms that cluster
    until its endpoints arrive, and only then ACKs CDS — a stream could otherwise stay STALE forever)."""
    _, envoy = synced_pair()
    envoy.have[CDS]["gone"] = "0123"
    envoy.have[CDS]["b"] = "stale-version"
    envoy.reconnect()
    stream = DeltaStream()
    stream.snapshot_updated(snapshot())
    cds = only(stream.receive(envoy.resume(CDS)))
    assert set(cds.resources) == {"b"} and cds.removed == ("gone",)
    assert replies(stream.receive(envoy.ack(cds))) == []
    eds = only(stream.receive(envoy.resume(EDS, ["a", "b"])))
    assert set(eds.resources) == {"b"} and eds.removed == ()  # b's cluster changed: it warms on these
    stream.receive(envoy.ack(eds))
    assert set(stream.types[EDS].acked) == {"a", "b"}


def test_reconnect_before_the_snapshot_is_resolved_when_it_arrives() -> None:
    """Initial versions sent before any snapshot are compared with the first snapshot."""
    _, envoy = synced_pair()
    envoy.reconnect()
    stream = DeltaStream()
    assert replies(stream.receive(envoy.resume(LDS))) == []
    (lds,) = stream.snapshot_updated(snapshot())
    assert lds.type_url == LDS and lds.resources == {} and lds.removed == ()


def test_nonces_are_unique_and_recorded_before_returning() -> None:
    """Each response gets a nonce not used before on the stream, on the wire and recorded as sent for its type."""
    stream, envoy = DeltaStream(), FakeDeltaEnvoy()
    stream.receive(envoy.request(CDS))
    stream.receive(envoy.request(LDS))
    sent = stream.snapshot_updated(snapshot())
    for clusters in ({"a": "3s", "b": "2s"}, {"a": "2s", "b": "2s"}):  # then back: a body sent before
        for r in sent[-2:]:
            stream.receive(envoy.ack(r))
        sent += stream.snapshot_updated(snapshot(clusters))
    nonces = [r.nonce for r in sent]
    assert len(sent) >= 4 and len(set(nonces)) == len(nonces)
    assert all(r.to_proto().nonce == r.nonce for r in sent)
    last = {r.type_url: r.nonce for r in sent}
    assert all(stream.types[type_url].nonce_sent == nonce for type_url, nonce in last.items())


def test_ack_of_older_response_keeps_status_stale() -> None:
    """ACKing an older response while a newer one is unanswered stays STALE, then SYNCED on the newer ACK."""
    stream, envoy = synced_pair()
    first = only(stream.snapshot_updated(snapshot(ports={"a": 1})))
    second = only(stream.snapshot_updated(snapshot(ports={"a": 2})))
    stream.receive(envoy.ack(first))
    assert status(stream, EDS) == "STALE"
    stream.receive(envoy.ack(second))
    assert status(stream, EDS) == "SYNCED" and envoy.have[EDS]["a"] == resource_version(second.resources["a"])


def test_status_fields_match_sotw_rules() -> None:
    """proxy-status fields come from the same state: NOT SENT, STALE, SYNCED, ERROR, subscribed names."""
    stream, envoy = DeltaStream(clock=lambda: 7.0), FakeDeltaEnvoy()
    stream.receive(envoy.request(RDS, ["r1"]))
    assert status(stream, RDS) == "NOT SENT"
    stream.snapshot_updated(snapshot())
    row = TypeStatus.of(stream.types[RDS])
    assert row.status == "STALE" and row.subscribed == ("r1",) and row.last_sent_time == 7.0
    stream.receive(envoy.ack(stream.snapshot_updated(snapshot(routes={"r1": "b"}))[0]))
    assert status(stream, RDS) == "SYNCED"
    stream.receive(envoy.nack(stream.snapshot_updated(snapshot(routes={"r1": "a"}, clusters={"a": "3s"}))[-1]))
    row = TypeStatus.of(stream.types[RDS])
    assert row.status == "ERROR" and row.last_error == "rejected" and row.last_error_time == 7.0


def test_unanswered_responses_are_bounded_and_a_late_ack_still_counts() -> None:
    """A client that never answers does not make the stream keep every response; its latest ACK still counts."""
    stream, envoy = synced_pair()
    sent = [only(stream.snapshot_updated(snapshot(ports={"a": 9000 + i}))) for i in range(100)]
    assert len(stream.types[EDS].pending) <= 32
    stream.receive(envoy.ack(sent[-1]))
    assert status(stream, EDS) == "SYNCED" and stream.types[EDS].pending == {}
