"""The sans-IO ADS stream state machine, driven by a fake Envoy in memory."""

from __future__ import annotations

import pytest
from envoy.service.discovery.v3 import discovery_pb2

from mizzen.xds import types
from mizzen.xds.errors import ProtocolError
from mizzen.xds.protocol import Acked, Action, Connected, Ignored, Nacked, Response
from mizzen.xds.snapshot import EMPTY_VERSION, Snapshot
from mizzen.xds.stream import Stream
from mizzen.xds.testing import FakeEnvoy, snapshot

CDS, EDS, LDS, RDS = types.CLUSTER, types.ENDPOINT, types.LISTENER, types.ROUTE


def responses(actions: list[Action] | list[Response]) -> list[Response]:
    return [a for a in actions if isinstance(a, Response)]


def only(actions: list[Action] | list[Response]) -> Response:
    found = responses(actions)
    assert len(found) == 1, found
    return found[0]


def synced_pair() -> tuple[Stream, FakeEnvoy]:
    """A stream with CDS/EDS/LDS/RDS subscribed and everything ACKed, like a warmed-up Envoy."""
    stream, envoy = Stream(clock=lambda: 100.0), FakeEnvoy()
    stream.receive(envoy.request(CDS))
    stream.snapshot_updated(snapshot())
    stream.receive(envoy.ack(stream_last(stream, CDS), names=[]))
    stream.receive(envoy.request(EDS, ["a", "b"]))
    stream.receive(envoy.ack(stream_last(stream, EDS)))
    stream.receive(envoy.request(LDS))
    stream.receive(envoy.ack(stream_last(stream, LDS)))
    stream.receive(envoy.request(RDS, ["r1"]))
    stream.receive(envoy.ack(stream_last(stream, RDS)))
    return stream, envoy


def stream_last(stream: Stream, type_url: str) -> Response:
    """A Response object mirroring what the stream last sent for a type (for ACKs in setup)."""
    state = stream.types[type_url]
    return Response(type_url, state.version_sent, state.nonce_sent, dict(state.sent))


def test_first_request_reports_node_and_requires_it() -> None:
    """The first request's node is kept and reported once; a first request without a node is a protocol error."""
    stream, envoy = Stream(), FakeEnvoy(metadata={"NAME": "app"})
    actions = stream.receive(envoy.request(CDS))
    assert [type(a) for a in actions] == [Connected]
    node = stream.node
    assert node is not None and node.node_id == envoy.node.id and node.envoy_version == "1.40.0"
    assert node.metadata == {"NAME": "app"}
    assert not any(isinstance(a, Connected) for a in stream.receive(envoy.request(LDS)))
    with pytest.raises(ProtocolError):
        Stream().receive(discovery_pb2.DiscoveryRequest(type_url=CDS))


def test_request_without_type_url_is_a_protocol_error() -> None:
    """An aggregated stream needs a type URL on every request."""
    with pytest.raises(ProtocolError):
        Stream().receive(FakeEnvoy().request(""))


def test_parked_until_snapshot_then_full_state() -> None:
    """Requests before any snapshot get nothing; the first snapshot answers every subscription in push order."""
    stream, envoy = Stream(), FakeEnvoy()
    assert responses(stream.receive(envoy.request(LDS))) == []
    assert responses(stream.receive(envoy.request(CDS))) == []
    sent = stream.snapshot_updated(snapshot())
    assert [r.type_url for r in sent] == [CDS, LDS]
    assert set(sent[0].resources) == {"a", "b"} and set(sent[1].resources) == {"l1"}


def test_ack_records_and_sends_nothing_more() -> None:
    """An ACK of the current version is recorded and answered with nothing."""
    stream, envoy = Stream(), FakeEnvoy()
    stream.receive(envoy.request(CDS))
    cds = only(stream.snapshot_updated(snapshot()))
    actions = stream.receive(envoy.ack(cds))
    assert actions == [Acked(CDS, cds.version, cds.nonce)]
    state = stream.types[CDS]
    assert state.nonce_acked == state.nonce_sent == cds.nonce and state.version_acked == cds.version


def test_nothing_sent_when_nothing_changed() -> None:
    """Setting an equal snapshot (or one changing only unsubscribed names) sends no response."""
    stream, _ = synced_pair()
    assert stream.snapshot_updated(snapshot()) == []
    assert stream.snapshot_updated(snapshot(routes={"r1": "a", "unrequested": "b"})) == []


def test_nack_keeps_error_and_never_resends_rejected_version() -> None:
    """A NACK records the error, sends nothing, and the rejected version is not resent by later updates."""
    stream, envoy = synced_pair()
    bad = snapshot(listeners={"l1": (15001, "r1"), "l2": (15001, "r1")})
    lds = only(stream.snapshot_updated(bad))
    actions = stream.receive(envoy.nack(lds, "duplicate address"))
    assert [type(a) for a in actions] == [Nacked]
    state = stream.types[LDS]
    assert state.last_error == "duplicate address" and state.last_error_time == 100.0
    assert state.version_acked != lds.version and state.acked != state.sent
    assert stream.snapshot_updated(bad) == []
    fixed = only(stream.snapshot_updated(snapshot(listeners={"l1": (15001, "r1"), "l2": (15002, "r1")})))
    assert fixed.type_url == LDS and fixed.version != lds.version
    stream.receive(envoy.ack(fixed))
    assert stream.types[LDS].last_error == ""


def test_stale_nonce_is_ignored() -> None:
    """A request answering a superseded response is dropped without any state change or response."""
    stream, envoy = synced_pair()
    old = stream_last(stream, CDS)
    first = stream.snapshot_updated(snapshot({"a": "2s", "b": "1s"}))[0]
    assert first.type_url == CDS and first.nonce != old.nonce
    stale = envoy.ack(old)
    actions = stream.receive(stale)
    assert actions == [Ignored(CDS, old.nonce)]
    assert stream.types[CDS].nonce_acked == old.nonce


def test_stale_nack_is_ignored() -> None:
    """A NACK of a superseded response neither records an error nor answers."""
    stream, envoy = synced_pair()
    one = responses(stream.snapshot_updated(snapshot({"a": "2s", "b": "1s"})))[0]
    stream.snapshot_updated(snapshot({"a": "3s", "b": "1s"}))
    assert stream.receive(envoy.nack(one, "bad")) == [Ignored(CDS, one.nonce)]
    assert stream.types[CDS].last_error == ""


def test_reconnect_with_old_version_and_nonce_gets_full_state() -> None:
    """A new stream whose first requests carry the previous stream's version and nonce is answered in full."""
    old, _ = synced_pair()
    version, nonce = old.types[CDS].version_sent, old.types[CDS].nonce_sent
    stream = Stream()
    stream.snapshot_updated(snapshot())
    fresh = FakeEnvoy()
    cds = only(stream.receive(fresh.request(CDS, nonce=nonce, version=version)))
    assert cds.version == version and set(cds.resources) == {"a", "b"}
    eds = only(
        stream.receive(
            fresh.request(EDS, ["a", "b"], nonce=old.types[EDS].nonce_sent, version=old.types[EDS].version_sent)
        )
    )
    assert set(eds.resources) == {"a", "b"}


def test_initial_request_with_empty_nonce_on_same_stream_gets_answered() -> None:
    """A request with no nonce is an initial request and is answered even when nothing changed."""
    stream, envoy = synced_pair()
    again = only(stream.receive(envoy.request(LDS, nonce="")))
    assert again.type_url == LDS and set(again.resources) == {"l1"}


def test_named_subscription_gets_only_requested_names() -> None:
    """RDS/EDS responses carry only the requested names that exist."""
    stream, envoy = Stream(), FakeEnvoy()
    stream.receive(envoy.request(CDS))
    stream.snapshot_updated(snapshot())
    eds = only(stream.receive(envoy.request(EDS, ["a", "zzz"])))
    assert set(eds.resources) == {"a"}


def test_added_names_are_sent_even_if_unchanged() -> None:
    """Adding a name to an RDS subscription sends it; the unchanged, already-sent name is not repeated."""
    stream, envoy = synced_pair()
    stream.snapshot_updated(snapshot(routes={"r1": "a", "r2": "b"}))
    rds = only(stream.receive(envoy.ack(stream_last(stream, RDS), names=["r1", "r2"])))
    assert set(rds.resources) == {"r2"}


def test_removed_then_readded_name_is_sent_again() -> None:
    """An unsubscribed name is forgotten, so subscribing it again resends it."""
    stream, envoy = synced_pair()
    assert responses(stream.receive(envoy.ack(stream_last(stream, EDS), names=["a"]))) == []
    again = only(stream.receive(envoy.ack(stream_last(stream, EDS), names=["a", "b"])))
    assert set(again.resources) == {"b"}


def test_unsubscribe_all_gets_no_response() -> None:
    """Once names were requested, an empty list unsubscribes everything (not a wildcard) and is not answered."""
    stream, envoy = synced_pair()
    assert responses(stream.receive(envoy.ack(stream_last(stream, RDS), names=[]))) == []
    state = stream.types[RDS]
    assert not state.wildcard and state.names == set() and state.sent == {}
    assert stream.snapshot_updated(snapshot(routes={"r1": "b"})) == []


def test_legacy_wildcard_and_star() -> None:
    """A type first requested without names is a wildcard; '*' is a wildcard too."""
    stream, envoy = Stream(), FakeEnvoy()
    stream.snapshot_updated(snapshot(routes={"r1": "a", "r2": "b"}))
    assert set(only(stream.receive(envoy.request(RDS))).resources) == {"r1", "r2"}
    other = Stream()
    other.snapshot_updated(snapshot(routes={"r1": "a", "r2": "b"}))
    assert set(only(other.receive(FakeEnvoy().request(RDS, ["*"]))).resources) == {"r1", "r2"}


def test_missing_requested_name_is_sent_when_it_appears() -> None:
    """A requested-but-missing route configuration is pushed as soon as a snapshot has it."""
    stream, envoy = synced_pair()
    assert responses(stream.receive(envoy.ack(stream_last(stream, RDS), names=["r1", "later"]))) == []
    rds = only(stream.snapshot_updated(snapshot(routes={"r1": "a", "later": "b"})))
    assert set(rds.resources) == {"later"}


def test_changed_named_resource_sends_only_it() -> None:
    """An EDS change for one cluster sends that cluster's assignment only, and never clusters."""
    stream, _ = synced_pair()
    eds = only(stream.snapshot_updated(snapshot(ports={"b": 9090})))
    assert eds.type_url == EDS and set(eds.resources) == {"b"}


def test_eds_resent_after_cds_change() -> None:
    """A CDS push is followed by EDS for every subscribed cluster even though endpoints are unchanged."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(snapshot({"a": "5s", "b": "1s"}))
    assert [r.type_url for r in sent] == [CDS, EDS]
    assert set(sent[1].resources) == {"a", "b"}


def test_eds_sent_after_initial_cds_request_when_already_subscribed() -> None:
    """After a reconnect-style CDS request, subscribed endpoints follow the cluster response."""
    stream, envoy = synced_pair()
    sent = responses(stream.receive(envoy.request(CDS, nonce="")))
    assert [r.type_url for r in sent] == [CDS, EDS]


def test_push_order_is_cds_eds_lds_rds() -> None:
    """A snapshot changing every type is pushed clusters, endpoints, listeners, routes."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(
        snapshot({"a": "2s", "b": "2s"}, ports={"a": 1}, routes={"r1": "b"}, listeners={"l1": (15002, "r1")})
    )
    assert [r.type_url for r in sent] == [CDS, EDS, LDS, RDS]


def test_nonces_are_unique_and_recorded_before_sending() -> None:
    """Every response has a nonce not used before on the stream, on the wire and stored as nonce_sent."""
    stream, _ = synced_pair()
    sent = stream.snapshot_updated(snapshot({"a": "2s", "b": "2s"}, routes={"r1": "b"}))
    for r in sent:
        assert stream.types[r.type_url].nonce_sent == r.nonce
    sent += stream.snapshot_updated(snapshot())
    sent += stream.snapshot_updated(snapshot({"a": "2s", "b": "2s"}, routes={"r1": "b"}))  # bodies sent before
    nonces = [r.nonce for r in sent]
    assert len(sent) >= 6 and len(set(nonces)) == len(nonces)
    assert all(r.to_proto().nonce == r.nonce for r in sent)


def test_no_duplicate_names_in_a_response() -> None:
    """A subscription listing a name twice still yields each resource once on the wire."""
    stream, envoy = Stream(), FakeEnvoy()
    stream.snapshot_updated(snapshot())
    stream.receive(envoy.request(CDS))
    eds = only(stream.receive(envoy.request(EDS, ["a", "a", "b"])))
    names = [r.type_url for r in eds.to_proto().resources]
    assert len(names) == 2


def test_nack_with_added_names_sends_only_the_new_names() -> None:
    """Names newly requested in a NACK are still delivered, without resending the rejected resources."""
    stream, envoy = synced_pair()
    bad = only(stream.snapshot_updated(snapshot(routes={"r1": "zzz-bad", "r2": "b"})))
    assert set(bad.resources) == {"r1"}
    envoy.names[RDS] = ["r1", "r2"]
    new = only(stream.receive(envoy.nack(bad, "unknown cluster")))
    assert set(new.resources) == {"r2"}


def test_wildcard_full_state_includes_unchanged_resources() -> None:
    """A CDS change sends every cluster (SotW), not just the changed one."""
    stream, _ = synced_pair()
    cds = stream.snapshot_updated(snapshot({"a": "1s", "b": "9s"}))[0]
    assert set(cds.resources) == {"a", "b"}


def test_removed_cluster_disappears_from_full_state() -> None:
    """Dropping a cluster from the snapshot sends a CDS response without it (Envoy deletes it)."""
    stream, _ = synced_pair()
    cds = stream.snapshot_updated(snapshot({"a": "1s"}))[0]
    assert cds.type_url == CDS and set(cds.resources) == {"a"}


def test_rejected_endpoints_not_forced_again_by_cluster_push() -> None:
    """After an EDS NACK, a CDS change does not drag the rejected, unchanged endpoints along."""
    stream, envoy = synced_pair()
    eds = only(stream.snapshot_updated(snapshot(ports={"a": 1})))
    stream.receive(envoy.nack(eds, "bad endpoint"))
    sent = stream.snapshot_updated(snapshot({"a": "4s", "b": "1s"}, ports={"a": 1}))
    assert [r.type_url for r in sent] == [CDS]


def test_type_missing_from_snapshot_is_served_empty() -> None:
    """A wildcard type the snapshot lacks is answered with an empty response (the proxy has none)."""
    stream, envoy = Stream(), FakeEnvoy()
    stream.snapshot_updated(Snapshot())
    lds = only(stream.receive(envoy.request(LDS)))
    assert lds.resources == {} and lds.version == EMPTY_VERSION


def test_stale_request_does_not_change_subscription() -> None:
    """A stale request's resource names are ignored along with it."""
    stream, envoy = synced_pair()
    old = stream_last(stream, EDS)
    stream.snapshot_updated(snapshot(ports={"a": 2}))
    assert responses(stream.receive(envoy.ack(old, names=["a"]))) == []
    assert stream.types[EDS].names == {"a", "b"}


def test_status_fields_track_sent_and_acked_versions() -> None:
    """Version and nonce sent/acked, last sent time and error time follow the exchange."""
    stream, envoy = synced_pair()
    state = stream.types[RDS]
    assert state.version_acked == state.version_sent and state.last_sent_time == 100.0
    rds = only(stream.snapshot_updated(snapshot(routes={"r1": "b"})))
    assert state.version_sent == rds.version != state.version_acked
    stream.receive(envoy.ack(rds))
    assert state.version_acked == rds.version and state.nonce_acked == rds.nonce
