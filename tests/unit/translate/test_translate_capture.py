"""Transparent-capture sidecars (INTERCEPTION_MODE REDIRECT): Istio's virtual listeners, only for them."""

from __future__ import annotations

import dataclasses

import pytest
from translate_envoy import envoy_validate
from translate_fixtures import bookinfo, sidecar

from mizzen.node import Proxy, node_metadata, proxy_from_node
from mizzen.translate import translate
from mizzen.translate.model import MeshConfig

ALL = ("destination-rule-all.yaml", "virtual-service-reviews-test-v2.yaml")


def _capture() -> Proxy:
    return dataclasses.replace(sidecar(), interception="REDIRECT", http_proxy_port=None)


def test_a_capture_sidecar_has_istios_virtual_listeners_and_no_bound_inbound_port() -> None:
    """virtualOutbound (original dst, 15001), one unbound 0.0.0.0_<port> per service port, virtualInbound (15006)."""
    res = translate(_capture(), bookinfo(*ALL))
    out = res.listeners["virtualOutbound"]
    assert out["use_original_dst"] is True and out["address"]["socket_address"]["port_value"] == 15001
    assert res.listeners["0.0.0.0_9080"]["bind_to_port"] is False
    inbound = res.listeners["virtualInbound"]
    assert inbound["address"]["socket_address"]["port_value"] == 15006
    assert {c["filter_chain_match"]["destination_port"] for c in inbound["filter_chains"]} == {
        15006,  # virtualInbound-blackhole
        *(p.listen_port for p in sidecar().inbound),
    }
    assert not [n for n in res.listeners if n.startswith("127.0.0.1_")]
    assert res.clusters["PassthroughOriginalDst"]["type"] == "ORIGINAL_DST"


def test_registry_only_blackholes_unknown_destinations() -> None:
    """Under REGISTRY_ONLY the catch-all chain of virtualOutbound goes to BlackHoleCluster."""
    res = translate(_capture(), bookinfo(*ALL, mesh=MeshConfig(outbound_traffic_policy="REGISTRY_ONLY")))
    chains = {c["name"]: c for c in res.listeners["virtualOutbound"]["filter_chains"]}
    assert chains["virtualOutbound-catchall-tcp"]["filters"][0]["typed_config"]["cluster"] == "BlackHoleCluster"
    allow_any = {
        c["name"]: c for c in translate(_capture(), bookinfo(*ALL)).listeners["virtualOutbound"]["filter_chains"]
    }
    assert (
        allow_any["virtualOutbound-catchall-tcp"]["filters"][0]["typed_config"]["cluster"] == "PassthroughOriginalDst"
    )


def test_a_connection_dialled_at_a_capture_port_itself_is_blackholed() -> None:
    """As Istio's virtualOutbound-blackhole/virtualInbound-blackhole: the capture port as original destination
    (dialled directly, not redirected) goes to BlackHoleCluster instead of looping back into the listener."""
    proxy = dataclasses.replace(_capture(), capture_outbound_port=21001, capture_inbound_port=21006)
    res = translate(proxy, bookinfo(*ALL))
    for listener, name, port in (
        ("virtualOutbound", "virtualOutbound-blackhole", 21001),
        ("virtualInbound", "virtualInbound-blackhole", 21006),
    ):
        chain = next(c for c in res.listeners[listener]["filter_chains"] if c["name"] == name)
        assert chain["filter_chain_match"] == {"destination_port": port}
        assert chain["filters"][0]["typed_config"]["cluster"] == "BlackHoleCluster"


def test_an_http_proxy_sidecar_gets_none_of_it() -> None:
    """Without REDIRECT, no virtual listener and no capture cluster appears."""
    res = translate(sidecar(), bookinfo(*ALL))
    assert not {"virtualOutbound", "virtualInbound"} & set(res.listeners)
    assert "PassthroughOriginalDst" not in res.clusters


def test_the_mode_travels_in_the_node_metadata() -> None:
    """INTERCEPTION_MODE REDIRECT in the agent's metadata decodes to a capture proxy; anything else is NONE."""
    proxy = _capture()
    meta = node_metadata(proxy, admin="", version="0")
    assert proxy_from_node(proxy.node_id, meta).interception == "REDIRECT"
    assert proxy_from_node(sidecar().node_id, {**meta, "INTERCEPTION_MODE": "TPROXY"}).interception == "NONE"


@pytest.mark.e2e
def test_real_envoy_accepts_a_capture_sidecars_config() -> None:
    """envoy --mode validate accepts the capture sidecar's whole translation."""
    out = envoy_validate(translate(_capture(), bookinfo(*ALL)))
    assert out.returncode == 0, out.stderr[-2000:]


def test_allocated_capture_ports_and_the_app_address_travel_and_are_used() -> None:
    """`mizzen run --capture`'s per-workload capture ports and app address round-trip through the node metadata
    and become virtualOutbound's/virtualInbound's ports and the inbound clusters' endpoint."""
    proxy = dataclasses.replace(
        _capture(), capture_outbound_port=21001, capture_inbound_port=21006, app_address="10.250.0.2"
    )
    decoded = proxy_from_node(proxy.node_id, node_metadata(proxy, admin="", version="0"))
    assert decoded == proxy
    res = translate(decoded, bookinfo(*ALL))
    assert res.listeners["virtualOutbound"]["address"]["socket_address"]["port_value"] == 21001
    assert res.listeners["virtualInbound"]["address"]["socket_address"]["port_value"] == 21006
    inbound = [c for n, c in res.clusters.items() if n.startswith("inbound|")]
    assert inbound
    for cluster in inbound:
        endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
        assert endpoint["address"]["socket_address"]["address"] == "10.250.0.2"


def test_without_capture_ports_in_the_metadata_istios_15001_and_15006_apply() -> None:
    """An older agent's REDIRECT metadata (no MIZZEN_CAPTURE_PORTS) decodes to Istio's ports and 127.0.0.1."""
    meta = node_metadata(_capture(), admin="", version="0")
    meta.pop("MIZZEN_CAPTURE_PORTS")
    decoded = proxy_from_node(sidecar().node_id, meta)
    assert (decoded.capture_outbound_port, decoded.capture_inbound_port, decoded.app_address) == (
        15001,
        15006,
        "127.0.0.1",
    )


def test_capture_and_http_proxy_sidecars_do_not_share_resources() -> None:
    """A capture sidecar's special clusters differ, so its sharing key differs from an HTTP-proxy sidecar's."""
    from mizzen.translate.sharing import sharing_key

    mesh = bookinfo(*ALL)
    assert sharing_key(_capture(), mesh) != sharing_key(dataclasses.replace(sidecar(), http_proxy_port=None), mesh)
