"""Istio's principal and connection_security_policy labels on both sides of a hop, from ALS entries."""

from __future__ import annotations

from telemetry_fixtures import GATEWAY, PP_ADDR, PRODUCTPAGE, REVIEWS, REVIEWS_V1, V1_ADDR, V3_ADDR

from mizzen.telemetry.entries import http_entry, tcp_entry
from mizzen.telemetry.metrics import Telemetry
from mizzen.translate.telemetry import UPSTREAM_LOCAL_SAN_TAG, UPSTREAM_PEER_SAN_TAG

OUT_V3 = f"outbound|9080|v3|{REVIEWS}"
PP_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
REVIEWS_ID = "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
GATEWAY_ID = "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account"
MTLS = {UPSTREAM_PEER_SAN_TAG: REVIEWS_ID, UPSTREAM_LOCAL_SAN_TAG: PP_ID}


def _labels(telemetry: Telemetry, family: str = "requests") -> list[dict[str, str]]:
    fam = getattr(telemetry, family)
    return [dict(zip(fam.label_names, values, strict=True)) for values in fam.counters]


def test_client_side_principals_come_from_the_upstream_certificates(telemetry: Telemetry) -> None:
    """reporter=source: destination_principal is the server certificate's SAN, source_principal the
    client's own, and connection_security_policy stays unknown as in Istio."""
    facts = telemetry.record_http(http_entry("outbound", cluster=OUT_V3, upstream=V3_ADDR, tags=MTLS), PRODUCTPAGE)
    assert (facts.reporter, facts.source.principal, facts.destination.principal) == ("source", PP_ID, REVIEWS_ID)
    assert facts.security_policy == "unknown"
    (labels,) = _labels(telemetry)
    assert (labels["source_principal"], labels["destination_principal"]) == (PP_ID, REVIEWS_ID)
    assert labels["connection_security_policy"] == "unknown"


def test_plaintext_upstream_names_no_principal_even_when_the_registry_knows_one(telemetry: Telemetry) -> None:
    """Without upstream TLS (no SAN tags) both principals are unknown, though the endpoint's registered
    service account is bookinfo-reviews: only a verified certificate names an identity."""
    facts = telemetry.record_http(http_entry("outbound", cluster=OUT_V3, upstream=V3_ADDR), PRODUCTPAGE)
    assert facts.destination.workload == "reviews-v3"
    assert (facts.source.principal, facts.destination.principal) == ("unknown", "unknown")


def test_empty_or_dash_san_tags_are_unknown(telemetry: Telemetry) -> None:
    """An empty or ``-`` formatter value (no certificate, or one without a URI SAN) is unknown."""
    tags = {UPSTREAM_PEER_SAN_TAG: "", UPSTREAM_LOCAL_SAN_TAG: "-"}
    facts = telemetry.record_http(http_entry("outbound", cluster=OUT_V3, upstream=V3_ADDR, tags=tags), PRODUCTPAGE)
    assert (facts.source.principal, facts.destination.principal) == ("unknown", "unknown")


def test_the_first_of_several_uri_sans_is_the_principal(telemetry: Telemetry) -> None:
    """Envoy joins several URI SANs with commas; Istio takes the first."""
    tags = {UPSTREAM_PEER_SAN_TAG: f"{REVIEWS_ID},spiffe://other/ns/x/sa/y"}
    facts = telemetry.record_http(http_entry("outbound", cluster=OUT_V3, upstream=V3_ADDR, tags=tags), PRODUCTPAGE)
    assert facts.destination.principal == REVIEWS_ID


def test_an_unregistered_upstream_still_gets_its_verified_principal(telemetry: Telemetry) -> None:
    """An upstream the registry does not list keeps workload unknown but the certificate's principal."""
    facts = telemetry.record_http(
        http_entry("outbound", cluster=OUT_V3, upstream=("127.0.0.9", 1), tags=MTLS), PRODUCTPAGE
    )
    assert (facts.destination.workload, facts.destination.principal) == ("unknown", REVIEWS_ID)


def test_gateway_entries_are_client_side_too(telemetry: Telemetry) -> None:
    """The ingress gateway reports as source with its own and the upstream's principals."""
    pp = "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    tags = {UPSTREAM_PEER_SAN_TAG: pp, UPSTREAM_LOCAL_SAN_TAG: GATEWAY_ID}
    facts = telemetry.record_http(
        http_entry(
            "gateway", cluster="outbound|9080||productpage.default.svc.cluster.local", upstream=PP_ADDR, tags=tags
        ),
        GATEWAY,
    )
    assert (facts.reporter, facts.source.principal, facts.destination.principal) == ("source", GATEWAY_ID, pp)
    assert facts.security_policy == "unknown"


def test_server_side_principals_and_policy_come_from_the_downstream_certificates(telemetry: Telemetry) -> None:
    """reporter=destination: the entry's own TLS properties give both principals and mutual_tls; a
    stray SAN tag on an inbound entry changes nothing."""
    telemetry.observe_node(PRODUCTPAGE)
    entry = http_entry("inbound", local=V1_ADDR, peer=PRODUCTPAGE, tags={UPSTREAM_PEER_SAN_TAG: "spiffe://x/ns/y/sa/z"})
    tls = entry.common_properties.tls_properties
    tls.peer_certificate_properties.subject_alt_name.add().uri = PP_ID
    tls.local_certificate_properties.subject_alt_name.add().uri = REVIEWS_ID
    facts = telemetry.record_http(entry, REVIEWS_V1)
    assert (facts.reporter, facts.source.principal, facts.destination.principal) == ("destination", PP_ID, REVIEWS_ID)
    assert facts.security_policy == "mutual_tls"


def test_tcp_series_carry_the_client_side_principals(telemetry: Telemetry) -> None:
    """istio_tcp_* series from the client side carry the upstream principals on open and close alike."""
    cluster = f"outbound|9080|v1|{REVIEWS}"
    for kind in ("TcpUpstreamConnected", "TcpConnectionEnd"):
        telemetry.record_tcp(
            tcp_entry("outbound", cluster=cluster, upstream=V1_ADDR, kind=kind, tags=MTLS), PRODUCTPAGE
        )
    for family in ("tcp_opened", "tcp_closed"):
        (labels,) = _labels(telemetry, family)
        assert (labels["source_principal"], labels["destination_principal"]) == (PP_ID, REVIEWS_ID), family
        assert labels["connection_security_policy"] == "unknown"
