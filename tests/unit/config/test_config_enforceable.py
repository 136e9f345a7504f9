"""Security configuration Mizzen cannot enforce gets a coded verdict, never a silent "created"."""

from __future__ import annotations

from mizzen.config.enforceable import custom_action_not_supported, jwt_rule_problems, upstream_tls_problems
from mizzen.config.models.destination_rule import ClientTLSSettings, DestinationRule, Subset, TrafficPolicy
from mizzen.config.models.security import AuthorizationPolicy, ExtensionProvider, JWTRule, RequestAuthentication


def test_custom_action_is_refused() -> None:
    """CUSTOM (ext_authz) is an error at spec.action; other actions pass."""
    (v,) = custom_action_not_supported(AuthorizationPolicy(action="CUSTOM", provider=ExtensionProvider(name="opa")))
    assert (v.code, v.level, v.path) == ("MZ2781", "error", "spec.action") and "'opa'" in v.message
    assert custom_action_not_supported(AuthorizationPolicy(action="DENY")) == []


def test_jwt_rules_need_keys_envoy_can_get() -> None:
    """No jwks/jwksUri is an error; a jwksUri no mesh service serves is a warning; served or inline is fine."""
    spec = RequestAuthentication(
        jwt_rules=(
            JWTRule(issuer="a"),
            JWTRule(issuer="b", jwks_uri="https://keys.example.com/jwks.json"),
            JWTRule(issuer="c", jwks_uri="http://jwks.default.svc.cluster.local:8000/keys"),
            JWTRule(issuer="d", jwks='{"keys": []}'),
        )
    )
    served = {("jwks.default.svc.cluster.local", 8000)}
    got = jwt_rule_problems(spec, lambda h, p: (h, p) in served)
    assert [(v.code, v.level, v.path) for v in got] == [
        ("MZ2782", "error", "spec.jwtRules[0]"),
        ("MZ2783", "warning", "spec.jwtRules[1].jwksUri"),
    ]
    assert "keys.example.com:443" in got[1].message


def test_destination_rule_tls_istio_leaves_plaintext() -> None:
    """credentialName without workloadSelector and MUTUAL without certificates are flagged where written."""
    spec = DestinationRule(
        host="h",
        traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="SIMPLE", credential_name="cred")),
        subsets=(Subset(name="v1", traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="MUTUAL"))),),
    )
    got = upstream_tls_problems(spec)
    assert [(v.code, v.path) for v in got] == [
        ("MZ2784", "spec.trafficPolicy.tls.credentialName"),
        ("MZ2784", "spec.subsets[0].trafficPolicy.tls.mode"),
    ]
    ok = DestinationRule(host="h", traffic_policy=TrafficPolicy(tls=ClientTLSSettings(mode="ISTIO_MUTUAL")))
    assert upstream_tls_problems(ok) == []
