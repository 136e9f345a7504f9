"""RequestAuthentication -> the jwt_authn filter: providers, requirement, key sources, filter order."""

from __future__ import annotations

from security_fixtures import no_cluster, parse_filter, request_authns

from mizzen.translate.security.authz import RbacFilters
from mizzen.translate.security.jwt import NO_KEYS, inbound_http_security_filters, jwt_authn_filter

RA = """
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt, namespace: foo}
spec:
  jwtRules:
  - issuer: "https://zzz.example.com"
    jwks: '{"keys": []}'
  - issuer: "testing@secure.istio.io"
    jwksUri: "http://jwks.foo.svc.cluster.local:8000/jwks.json"
    audiences: [app, web]
    fromHeaders:
    - name: x-jwt
      prefix: "Token "
    fromParams: [token]
    fromCookies: [session]
    forwardOriginalToken: true
    outputPayloadToHeader: x-payload
    outputClaimToHeaders:
    - {header: x-sub, claim: sub}
    timeout: 1m30s
    spaceDelimitedClaims: [roles]
"""


def config(text: str = RA, lookup=no_cluster, **kw: bool) -> dict[str, object]:  # type: ignore[no-untyped-def]
    f = jwt_authn_filter(request_authns(text), lookup, **kw)
    assert f is not None and f["name"] == "envoy.filters.http.jwt_authn"
    parse_filter(f)
    c = f["typed_config"]
    assert isinstance(c, dict)
    return c


def test_providers_sorted_by_issuer_with_istio_names() -> None:
    """Each JWT rule is a provider `origins-<i>` in issuer order; payloads go to metadata `payload`."""
    providers = config()["providers"]
    assert isinstance(providers, dict)
    assert [p["issuer"] for p in providers.values()] == ["https://zzz.example.com", "testing@secure.istio.io"]
    assert list(providers) == ["origins-0", "origins-1"]
    assert all(p["payload_in_metadata"] == "payload" for p in providers.values())


def test_provider_fields() -> None:
    """Every JWTRule field maps to Envoy's provider field; jwksUri is fetched through the mesh cluster."""
    lookup = {("jwks.foo.svc.cluster.local", 8000): "outbound|8000||jwks.foo.svc.cluster.local"}
    p = config(lookup=lambda h, port: lookup.get((h, port)))["providers"]["origins-1"]  # type: ignore[index]
    assert p["audiences"] == ["app", "web"]
    assert p["from_headers"] == [{"name": "x-jwt", "value_prefix": "Token "}]
    assert p["from_params"] == ["token"] and p["from_cookies"] == ["session"]
    assert p["forward"] is True and p["forward_payload_header"] == "x-payload"
    assert p["claim_to_headers"] == [{"header_name": "x-sub", "claim_name": "sub"}]
    assert p["normalize_payload_in_metadata"] == {"space_delimited_claims": ["permission", "roles", "scope"]}
    assert p["remote_jwks"] == {
        "http_uri": {
            "uri": "http://jwks.foo.svc.cluster.local:8000/jwks.json",
            "cluster": "outbound|8000||jwks.foo.svc.cluster.local",
            "timeout": "90s",
        },
        "cache_duration": "300s",
    }
    inline = config()["providers"]["origins-0"]  # type: ignore[index]
    assert inline["local_jwks"] == {"inline_string": '{"keys": []}'}
    assert inline["normalize_payload_in_metadata"] == {"space_delimited_claims": ["permission", "scope"]}


def test_unserved_jwks_uri_names_istios_cluster_and_missing_keys_fail_closed() -> None:
    """Without a mesh cluster the fetch goes to `outbound|<port>||<host>` (and fails: tokens rejected);
    a rule with no key source gets a key set no token verifies against."""
    p = config()["providers"]["origins-1"]  # type: ignore[index]
    assert p["remote_jwks"]["http_uri"]["cluster"] == "outbound|8000||jwks.foo.svc.cluster.local"
    text = RA.replace("    jwks: '{\"keys\": []}'\n", "")
    assert config(text)["providers"]["origins-0"]["local_jwks"] == {"inline_string": NO_KEYS}  # type: ignore[index]


def test_requirement_is_any_provider_or_missing() -> None:
    """One provider: it, or no token; several: any provider, or every token missing (Istio's shape)."""
    two = config()["rules"]
    assert two == [
        {
            "match": {"prefix": "/"},
            "requires": {
                "requires_any": {
                    "requirements": [
                        {"provider_name": "origins-0"},
                        {"provider_name": "origins-1"},
                        {
                            "requires_all": {
                                "requirements": [
                                    {
                                        "requires_any": {
                                            "requirements": [{"provider_name": f"origins-{i}"}, {"allow_missing": {}}]
                                        }
                                    }
                                    for i in (0, 1)
                                ]
                            }
                        },
                    ]
                }
            },
        }
    ]
    one = RA.split('  - issuer: "testing')[0]
    assert config(one)["rules"][0]["requires"] == {  # type: ignore[index]
        "requires_any": {"requirements": [{"provider_name": "origins-0"}, {"allow_missing": {}}]}
    }
    assert config()["bypass_cors_preflight"] is True


def test_gateways_clear_the_route_cache_and_no_policy_means_no_filter() -> None:
    """Gateways re-route on verified claims (clear_route_cache); no RequestAuthentication, no filter."""
    assert all(p["clear_route_cache"] for p in config(clear_route_cache=True)["providers"].values())  # type: ignore[union-attr]
    assert jwt_authn_filter((), no_cluster) is None


def test_filter_order_custom_then_jwt_then_rbac() -> None:
    """CUSTOM RBAC first, then jwt_authn, then AUDIT/DENY/ALLOW: RBAC sees the verified payload."""
    rbac = RbacFilters(custom=({"name": "custom"},), local=({"name": "deny"}, {"name": "allow"}))
    got = inbound_http_security_filters(rbac, {"name": "jwt"})
    assert [f["name"] for f in got] == ["custom", "jwt", "deny", "allow"]
    assert [f["name"] for f in inbound_http_security_filters(rbac, None)] == ["custom", "deny", "allow"]
