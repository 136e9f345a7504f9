"""Credential tokens, their stored records, and what each credential type may do."""

from __future__ import annotations

import pytest

from mizzen.security import credentials as creds
from mizzen.security.errors import IdentityError
from mizzen.security.scope import NodeClaim, entry_problem, node_problem, secret_visible
from mizzen.security.spiffe import SpiffeId


def test_token_round_trip_and_record_holds_no_token() -> None:
    """A minted token verifies against its record; the record (as stored) never contains the secret."""
    token, record = creds.mint("workload", "reviews-v1", "default", "bookinfo-reviews", now=100.0)
    cred_id, secret = creds.parse_token(token)
    assert cred_id == record.id and record.matches(secret) and not record.matches(secret + "x")
    stored = record.to_spec()
    assert secret not in repr(stored) and token not in repr(stored)
    assert creds.Credential.from_spec(record.id, "default", stored) == record


def test_expiry_and_revocation() -> None:
    """A credential past its TTL or revoked reports why; before that it has no problem."""
    _, record = creds.mint("workload", "a", "default", "sa", now=100.0, ttl=10.0)
    assert record.problem(105.0) is None
    assert "expired" in (record.problem(110.0) or "")
    assert "revoked" in (record.revoke().problem(105.0) or "")


def test_malformed_tokens_and_requests() -> None:
    """Tokens in another format and workload credentials without a service account are refused."""
    with pytest.raises(IdentityError):
        creds.parse_token("some-old-token")
    with pytest.raises(IdentityError, match="needs a name, a namespace and a service account"):
        creds.mint("workload", "a", "default", "", now=0.0)


def test_spiffe_id_round_trip() -> None:
    """Istio's SPIFFE form parses back to the same identity; other URIs are refused."""
    sid = SpiffeId("cluster.local", "default", "bookinfo-reviews")
    assert SpiffeId.parse(sid.uri) == sid and sid.uri == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    with pytest.raises(IdentityError):
        SpiffeId.parse("spiffe://cluster.local/default/bookinfo")


def _claim(node_id: str, **over: str) -> NodeClaim:
    fields = {"name": "a", "namespace": "default", "service_account": "sa", "proxy_type": "sidecar", **over}
    return NodeClaim(node_id=node_id, **fields)


A = "sidecar~127.0.0.1~a.default~default.svc.cluster.local"


def test_workload_credential_is_one_node_only() -> None:
    """A workload credential is admitted only as its own sidecar; any other id, namespace, SA or type is refused."""
    _, cred = creds.mint("workload", "a", "default", "sa", now=0.0)
    assert node_problem(cred, _claim(A)) is None
    assert "not 'sidecar~127.0.0.1~b.default" in (node_problem(cred, _claim(A.replace("a.default", "b.default"))) or "")
    assert "NAMESPACE='prod'" in (node_problem(cred, _claim(A, namespace="prod")) or "")
    assert "SERVICE_ACCOUNT='admin'" in (node_problem(cred, _claim(A, service_account="admin")) or "")
    assert node_problem(cred, _claim(A.replace("sidecar", "router"), proxy_type="router")) is not None
    assert "proxy type='router'" in (node_problem(cred, _claim(A, proxy_type="router")) or "")


def test_registration_is_bound_to_the_credential() -> None:
    """Only a workload's or gateway's own name, namespace and service account may be registered."""
    _, cred = creds.mint("workload", "a", "default", "sa", now=0.0)
    _, gateway = creds.mint("gateway", "gw", "istio-system", "gw-sa", now=0.0)
    assert entry_problem(cred, "default", "a", "sa") is None
    assert "not default/b" in (entry_problem(cred, "default", "b", "sa") or "")
    assert "service account 'other'" in (entry_problem(cred, "default", "a", "other") or "")
    assert entry_problem(gateway, "istio-system", "gw", "gw-sa") is None  # an endpoint of its Service
    assert "not istio-system/other" in (entry_problem(gateway, "istio-system", "other", "gw-sa") or "")
    assert "service account 'sa'" in (entry_problem(gateway, "istio-system", "gw", "sa") or "")


def test_secret_visibility() -> None:
    """Sidecars see no ADS secret; gateways see their own namespace's credentialName secrets; admin all."""
    _, sidecar = creds.mint("workload", "a", "istio-system", "sa", now=0.0)
    _, gateway = creds.mint("gateway", "gw", "istio-system", "gw-sa", now=0.0)
    _, admin = creds.mint("admin", "cli", "", "", now=0.0)
    stored = frozenset({("istio-system", "bookinfo-cert"), ("default", "other-cert")})
    assert not secret_visible(sidecar, "kubernetes://bookinfo-cert", stored)
    assert secret_visible(gateway, "kubernetes://bookinfo-cert", stored)
    assert secret_visible(gateway, "kubernetes://bookinfo-cert-cacert", stored)
    assert not secret_visible(gateway, "kubernetes://other-cert", stored)
    assert not secret_visible(gateway, "default", stored)
    assert secret_visible(admin, "kubernetes://other-cert", stored)
    # Gateway API certificateRefs name the namespace: only the gateway's own one is served.
    assert secret_visible(gateway, "kubernetes-gateway://istio-system/bookinfo-cert", stored)
    assert secret_visible(gateway, "kubernetes-gateway://istio-system/bookinfo-cert-cacert", stored)
    assert not secret_visible(gateway, "kubernetes-gateway://default/other-cert", stored)
    assert not secret_visible(sidecar, "kubernetes-gateway://istio-system/bookinfo-cert", stored)


def test_sidecar_sees_only_destination_rule_credentials_of_its_namespace() -> None:
    """A sidecar gets only existing secrets of its namespace that a DestinationRule names as credentialName."""
    _, sidecar = creds.mint("workload", "a", "default", "sa", now=0.0)
    stored = frozenset({("default", "client-cert"), ("default", "gw-cert"), ("other", "client-cert")})
    named = frozenset({("default", "client-cert"), ("other", "client-cert"), ("default", "missing")})
    assert secret_visible(sidecar, "kubernetes://client-cert", stored, named)
    assert secret_visible(sidecar, "kubernetes://client-cert-cacert", stored, named)
    assert not secret_visible(sidecar, "kubernetes://gw-cert", stored, named)
    assert not secret_visible(sidecar, "kubernetes://missing", stored, named)
    assert not secret_visible(sidecar, "kubernetes://client-cert", stored)
    assert not secret_visible(sidecar, "kubernetes-gateway://default/client-cert", stored, named)
    _, elsewhere = creds.mint("workload", "b", "third", "sa", now=0.0)
    assert not secret_visible(elsewhere, "kubernetes://client-cert", stored, named)
